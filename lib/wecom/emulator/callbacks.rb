# frozen_string_literal: true

require "net/http"
require "securerandom"
require "uri"

module WeCom
  class Emulator
    # WeCom's side of callbacks: the emulator calls your callback URL as WeCom would — signed
    # and encrypted with the URL's token and EncodingAESKey, waiting 5 s for an answer and
    # trying 3 more times — so an endpoint can be tested end to end over real HTTP.
    module Callbacks
      # WeCom's URL check: a GET with a signed, encrypted echostr. True when the app answered
      # 200 with the plaintext; otherwise raises WeCom::Error saying what it answered.
      def verify_callback_url(url, token:, encoding_aes_key:, receive_id: corp_id, timestamp: Time.now)
        keys = Native::Callback.new(token, encoding_aes_key, receive_id)
        echo = SecureRandom.random_number(10**19).to_s
        signature, timestamp, nonce, echostr = keys.sign_url_check(echo, timestamp.to_i.to_s)
        uri = callback_uri(url, msg_signature: signature, timestamp: timestamp, nonce: nonce, echostr: echostr)
        response = Net::HTTP.get_response(uri)
        return true if response.code == "200" && response.body == echo

        raise Error, "the URL check of #{url} failed: it answered #{response.code} #{response.body.to_s[0, 200].inspect}"
      end

      # Delivers `message` (WeCom's fields, such as { MsgType: "text", Content: "help",
      # FromUserName: "zhangsan" }; ToUserName, AgentID, CreateTime and, for messages, MsgId are
      # filled in) to `url` as WeCom does. Waits `timeout` seconds for an answer and tries again,
      # `retries` times, after no answer or one that is not 200, as WeCom does (5 s, 3 times).
      # Returns the decrypted reply (a Hash of String keys) or nil for an empty answer; raises
      # WeCom::Error when no attempt was answered 200. Every attempt is in #callback_attempts.
      def deliver_callback(url, message, token:, encoding_aes_key:, receive_id: corp_id, timeout: 5, retries: 3,
                           timestamp: Time.now)
        keys = Native::Callback.new(token, encoding_aes_key, receive_id)
        fields = callback_fields(message, receive_id, timestamp)
        failures = []
        (retries + 1).times do
          signature, stamp, nonce, body = keys.sign_message(fields, timestamp.to_i.to_s)
          uri = callback_uri(url, msg_signature: signature, timestamp: stamp, nonce: nonce)
          response = post_callback(uri, body, timeout)
          record_callback_attempt(url, fields, response)
          return keys.open_reply(response.body.to_s) if response.is_a?(Net::HTTPOK)

          failures << (response.is_a?(Net::HTTPResponse) ? response.code : response.to_s)
        end
        raise Error, "WeCom gave up delivering the callback to #{url} after #{failures.size} attempts " \
                     "(#{failures.join(', ')})"
      end

      # The delivery attempts of #deliver_callback (the newest #max_records): Hashes with :url,
      # :message (the fields sent) and :status (the HTTP status, or :timeout / :refused).
      def callback_attempts
        @callback_lock.synchronize { @callback_attempts.dup }
      end

      private

      def callback_fields(message, receive_id, timestamp)
        unless Hash === message
          raise ArgumentError, "message must be a Hash of WeCom's fields, got #{Messages::Check.class_of(message)}"
        end

        fields = stringify(message)
        fields["ToUserName"] ||= receive_id
        fields["AgentID"] ||= agent_id.to_s
        fields["CreateTime"] ||= timestamp.to_i.to_s
        fields["MsgId"] ||= SecureRandom.random_number(10**18).to_s unless fields["MsgType"] == "event"
        fields
      end

      def stringify(value)
        case value
        when Hash then value.to_h { |key, item| [key.to_s, stringify(item)] }
        when Array then value.map { |item| stringify(item) }
        else value.to_s
        end
      end

      def callback_uri(url, **query)
        uri = URI(url)
        uri.query = [uri.query, URI.encode_www_form(query)].compact.join("&")
        uri
      end

      def post_callback(uri, body, timeout)
        Net::HTTP.start(uri.host, uri.port, open_timeout: timeout, read_timeout: timeout) do |http|
          http.post(uri.request_uri, body, "Content-Type" => "text/xml")
        end
      rescue Net::ReadTimeout, Net::OpenTimeout, Net::WriteTimeout
        :timeout
      rescue SystemCallError, IOError
        :refused
      end

      def record_callback_attempt(url, fields, response)
        status = response.is_a?(Net::HTTPResponse) ? Integer(response.code) : response
        @callback_lock.synchronize do
          @callback_attempt_count += 1
          @callback_attempts << { url: url, message: fields, status: status }
          @callback_attempts.shift(@callback_attempts.size - max_records) if @callback_attempts.size > max_records
        end
      end
    end

    include Callbacks
  end
end
