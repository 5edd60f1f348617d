# frozen_string_literal: true

module WeCom
  # Receives what WeCom sends to a callback URL: the URL check, then messages and events, each
  # signed and AES-encrypted. The native core checks the timestamp and the signature (in constant
  # time) before it parses anything but the envelope, decrypts, checks the receive id, and parses
  # the XML with a real parser that refuses DTDs and entities.
  #
  #   cb = WeCom::Callback.new(:hr)                  # the app's "receive messages" settings
  #   cb = WeCom::Callback.new(:contacts)            # an endpoint registered with c.callback
  #   cb = WeCom::Callback.new(token: "...", encoding_aes_key: "...", receive_id: "ww...")
  #
  #   cb.verify_url(request.query_parameters)        # GET: the echostr plaintext to answer with
  #   msg = cb.parse(request.query_parameters, request.body)   # POST: a WeCom::Callback::Message
  #   cb.reply(msg, text: "Commands: today, next")   # the encrypted reply XML (or answer "" for none)
  #
  # Every refusal is a WeCom::CallbackError whose #response_status is what to answer.
  class Callback
    # How far a callback's timestamp may be from now, either way (seconds).
    REPLAY_WINDOW = 300

    # The largest body WeCom sends (1 MB): a larger one is refused without being read further.
    MAX_BODY = Native::Callback::MAX_BODY

    # The kinds of passive reply #reply builds.
    REPLIES = %i[text image voice video news update_button template_card].freeze

    attr_reader :name, :receive_id, :replay_window

    # `name`: an endpoint registered with c.callback, else an app (its callback_token and
    # callback_encoding_aes_key; nil: the unnamed app or default_app). Keywords override.
    # The receive id is the corp id for an in-house app's callbacks.
    def initialize(name = nil, token: nil, encoding_aes_key: nil, receive_id: nil,
                   replay_window: REPLAY_WINDOW, configuration: WeCom.configuration)
      @name = name
      settings = endpoint_settings(name, configuration, explicit: token && encoding_aes_key && receive_id)
      token ||= settings[:token]
      encoding_aes_key ||= settings[:encoding_aes_key]
      @receive_id = receive_id || settings[:receive_id]
      missing = { token: token, encoding_aes_key: encoding_aes_key, receive_id: @receive_id }
                .select { |_, value| Messages::Check.blank?(value) }.keys
      raise ConfigurationError, not_set(missing) unless missing.empty?

      @replay_window = Settings.seconds(replay_window) or
        raise ArgumentError, "replay_window #{Settings.not_seconds(replay_window)}"
      @native = Native::Callback.new(text(:token, token), text(:encoding_aes_key, encoding_aes_key),
                                     text(:receive_id, @receive_id))
    end

    # WeCom's URL check (a GET with msg_signature, timestamp, nonce and echostr): the decrypted
    # echostr, which the endpoint answers with as text/plain.
    def verify_url(params)
      @native.verify_url(param(params, "msg_signature"), param(params, "timestamp"), param(params, "nonce"),
                         param(params, "echostr"), @replay_window)
    end

    # A POSTed callback: the query parameters and the raw body (a String, or an IO such as
    # rack.input, read up to MAX_BODY + 1 bytes). Returns a WeCom::Callback::Message.
    def parse(params, body)
      fields = @native.open(param(params, "msg_signature"), param(params, "timestamp"), param(params, "nonce"),
                            read_body(body), @replay_window)
      Message.of(fields)
    end

    # The encrypted passive reply to `message`, as the XML to answer with: one of
    #   text: "..."                    image: media_id          voice: media_id
    #   video: { media_id:, title:, description: }
    #   news: [{ title:, description:, url:, picurl: }, ...]   (1 to 8 articles)
    #   update_button: "Accepted"      (for a template_card_event: the button's new text)
    #   template_card: { card_type: ..., ... }   (a template_card_event: the replacement card,
    #                                            in message/send's shape)
    def reply(message, **content)
      unless Message === message
        raise ArgumentError, "reply takes the WeCom::Callback::Message being answered, got #{Messages::Check.class_of(message)}"
      end

      @native.seal(Reply.build(message, content))
    end

    # The callback's name and receive id; the token and the EncodingAESKey are redacted.
    # @return [String]
    def inspect
      "#<#{self.class.name} name=#{@name.inspect} receive_id=#{@receive_id.inspect} token=[REDACTED] " \
        "encoding_aes_key=[REDACTED] replay_window=#{@replay_window}>"
    end
    alias to_s inspect

    private

    # The token, key and receive id of `name`: a c.callback endpoint, else an app's settings.
    def endpoint_settings(name, configuration, explicit:)
      return {} if explicit && name.nil?

      if !name.nil? && (settings = configuration.callback_settings(name))
        return { token: settings[:token], encoding_aes_key: settings[:encoding_aes_key],
                 receive_id: settings[:receive_id] || configuration.resolve(:corp_id) }
      end

      app = configuration.app_for(name)
      { token: configuration.resolve(:callback_token, app: app),
        encoding_aes_key: configuration.resolve(:callback_encoding_aes_key, app: app),
        receive_id: configuration.resolve(:corp_id, app: app) }
    end

    def not_set(missing)
      where = @name.nil? ? "" : " for #{@name.inspect}"
      "WeCom callback settings missing#{where}: #{missing.join(', ')} (set c.app NAME, callback_token: ..., " \
        "callback_encoding_aes_key: ..., or c.callback NAME, token: ..., encoding_aes_key: ...; the receive id " \
        "defaults to corp_id)"
    end

    def text(name, value)
      return value.to_s if String === value || Symbol === value

      raise ArgumentError, "#{name} must be a String, got #{Messages::Check.class_of(value)}"
    end

    # One query parameter, by String or Symbol key (Rack gives String keys); nil when absent.
    def param(params, key)
      # The common case first: a Hash of Strings, as Rack and Rails give it.
      if Hash === params && String === (value = params[key])
        return value
      end
      unless Messages::Check.responds?(params, :[])
        raise ArgumentError, "params must be the request's query parameters (a Hash), got #{Messages::Check.class_of(params)}"
      end

      value = params[key]
      value = params[key.to_sym] if value.nil? && Hash === params
      value = value.first if Array === value
      value.nil? ? nil : text(key, value)
    end

    def read_body(body)
      return body if String === body

      if Messages::Check.responds?(body, :read)
        data = body.read(MAX_BODY + 1) || +""
        body.rewind if Messages::Check.responds?(body, :rewind)
        return data
      end

      raise ArgumentError, "body must be the raw request body (a String or an IO), got #{Messages::Check.class_of(body)}"
    end
  end
end

require_relative "callback/message"
require_relative "callback/reply"
require_relative "callback/claims"
require_relative "callback/lease_keeper"
require_relative "callback/handler"
require_relative "callback/endpoint"
