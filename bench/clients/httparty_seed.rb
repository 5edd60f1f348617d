# frozen_string_literal: true

require "httparty"
require "json"

module Bench
  module Clients
    # The code popular blog posts show: the token cached on the instance, and one HTTParty.post
    # (a new connection) per message.
    class HttpartySeed
      def initialize(base_url:, corp_id:, secret:, agent_id:)
        @base_url = base_url
        @corp_id = corp_id
        @secret = secret
        @agent_id = agent_id
      end

      def access_token
        @access_token ||= begin
          response = HTTParty.get("#{@base_url}/cgi-bin/gettoken?corpid=#{@corp_id}&corpsecret=#{@secret}")
          response.parsed_response["access_token"] or raise "Failed to get access token"
        end
      end

      def send_text(content, to)
        payload = { touser: to, msgtype: "text", agentid: @agent_id, text: { content: content } }
        response = HTTParty.post("#{@base_url}/cgi-bin/message/send?access_token=#{access_token}",
                                 body: payload.to_json, headers: { "Content-Type" => "application/json" })
        raise "Failed" if response.parsed_response["errcode"] != 0

        response.parsed_response
      end
    end
  end
end
