# frozen_string_literal: true

require "wecom"

module Bench
  module Callbacks
    # This gem: WeCom::Callback#parse (a WeCom::Callback::Message) and #reply.
    class Wecom
      def initialize(token:, encoding_aes_key:, receive_id:)
        @callback = WeCom::Callback.new(token: token, encoding_aes_key: encoding_aes_key, receive_id: receive_id)
      end

      def handle(params, body)
        message = @callback.parse(params, body)
        [message, @callback.reply(message, text: Callbacks.reply_text(message.from_user))]
      end

      def fields(message) = message.to_h
    end
  end
end
