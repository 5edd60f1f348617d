# frozen_string_literal: true

# What the callback benchmark (bench/callbacks.rb) shares with its worker processes
# (bench/callback_worker.rb): the endpoint's keys, the implementations, the reply's text.
# Loads no implementation: each worker requires only its own.
module Bench
  module Callbacks
    TOKEN = "QDG6eK"
    ENCODING_AES_KEY = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
    RECEIVE_ID = "wx5823bf96d3bd56c7"
    AGENT_ID = "1000002"
    KEYS = { token: TOKEN, encoding_aes_key: ENCODING_AES_KEY, receive_id: RECEIVE_ID }.freeze

    # Each name is bench/clients/callback_NAME.rb; setup is run in the worker before it loads
    # (plain_ruby_nokogiri: the same code with ActiveSupport's Nokogiri XML backend).
    IMPLEMENTATIONS = {
      "wecom" => { file: "callback_wecom", class: "Wecom" },
      "plain_ruby" => { file: "callback_plain_ruby", class: "PlainRuby" },
      "plain_ruby_nokogiri" => { file: "callback_plain_ruby", class: "PlainRuby", xml_backend: "Nokogiri" },
    }.freeze

    # Callbacks handled before the timed part, in the worker (first calls, lazy loading).
    WARMUP = 200

    # The text the handler answers every callback with.
    def self.reply_text(from_user) = "收到，#{from_user}: we will get back to you"
  end
end
