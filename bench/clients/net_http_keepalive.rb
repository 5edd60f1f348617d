# frozen_string_literal: true

require "net/http"
require "json"
require "uri"

module Bench
  module Clients
    # A careful hand-written client: one Net::HTTP connection per thread, opened once and kept
    # alive; the token cached behind a Mutex; errcode checked.
    class NetHttpKeepalive
      def initialize(base_url:, corp_id:, secret:, agent_id:)
        @uri = URI(base_url)
        @corp_id = corp_id
        @secret = secret
        @agent_id = agent_id
        @token_lock = Mutex.new
        @connection_key = :"bench_net_http_#{object_id}"
      end

      def access_token
        @token_lock.synchronize do
          @access_token ||= begin
            query = URI.encode_www_form(corpid: @corp_id, corpsecret: @secret)
            call(Net::HTTP::Get.new("/cgi-bin/gettoken?#{query}")).fetch("access_token")
          end
        end
      end

      def send_text(content, to)
        request = Net::HTTP::Post.new("/cgi-bin/message/send?access_token=#{access_token}",
                                      "Content-Type" => "application/json")
        request.body = JSON.generate(touser: to, msgtype: "text", agentid: @agent_id, text: { content: content })
        call(request)
      end

      private

      def call(request)
        response = connection.request(request)
        raise "HTTP #{response.code} from #{request.path}" unless response.is_a?(Net::HTTPSuccess)

        body = JSON.parse(response.body)
        raise "WeCom errcode #{body['errcode']}: #{body['errmsg']}" unless body["errcode"] == 0

        body
      end

      # This thread's connection, started on first use and kept alive.
      def connection
        Thread.current[@connection_key] ||= Net::HTTP.start(@uri.host, @uri.port, keep_alive_timeout: 30)
      end
    end
  end
end
