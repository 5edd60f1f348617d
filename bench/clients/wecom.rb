# frozen_string_literal: true

require "wecom"

module Bench
  module Clients
    # This gem: keep-alive connection pool and token cache in the Rust core, GVL released while
    # waiting. Its best way to send many messages is send_batch.
    class Wecom
      def initialize(base_url:, corp_id:, secret:, agent_id:)
        @client = WeCom::Client.new(corp_id: corp_id, secret: secret, agent_id: agent_id, base_url: base_url)
      end

      def access_token
        @client.access_token
      end

      # Raises a WeCom::Error on failure.
      def send_text(content, to)
        @client.send_text(content, to: to)
      end

      def send_batch(contents, to, concurrency:)
        messages = contents.map { |content| { type: :text, content: content, to: to } }
        results = @client.send_batch(messages, concurrency: concurrency)
        failed = results.grep(Exception)
        raise failed.first, "#{failed.size} of #{results.size} messages failed: #{failed.first.message}" if failed.any?

        results
      end
    end
  end
end
