# frozen_string_literal: true

require "uri"

module WeCom
  class Callback
    # A Rack app for one callback URL: mount it in Rails (or any Rack server).
    #
    #   mount WeCom::Callback::Endpoint.new(:hr, InterviewBot), at: "/wecom/hr"
    #
    # GET answers WeCom's URL check. POST verifies, decrypts and parses, claims the message in
    # the token store so that WeCom's retries (to any process or host sharing the store) run
    # the handler once, runs the matching rule and answers with its encrypted reply, or an empty
    # 200. A rule with `later: true` is enqueued as WeCom::CallbackJob and answered at once.
    #
    # Refusals: missing parameters 400, bad signature / stale timestamp / wrong receive id 403,
    # a body over 1 MB 413 (not read further), undecryptable or malformed XML 400; the handler
    # does not run, nothing is claimed, and the log line names the reason. A handler that raises
    # gives up its claim (WeCom's next retry runs it again), is reported, and is answered 500.
    class Endpoint
      # How long a handled message stays claimed: far beyond WeCom's three retries.
      CLAIM_TTL = 3600

      attr_reader :callback, :handler

      # `callback`: a WeCom::Callback, or the name to make one with. `claims`: where deliveries
      # are claimed (default: the token store of the callback's app, see WeCom::Callback::Claims).
      def initialize(callback, handler, claims: nil)
        @callback = Callback === callback ? callback : Callback.new(callback)
        unless Class === handler && handler <= Handler
          raise ArgumentError, "handler must be a WeCom::Callback::Handler subclass, got #{Messages::Check.shown(handler)}"
        end

        @handler = handler
        @claims = claims || Claims.for(@callback)
      end

      def call(env)
        case env["REQUEST_METHOD"]
        when "GET", "HEAD" then verify_url(env)
        when "POST" then receive(env)
        else [405, { "content-type" => "text/plain", "allow" => "GET, POST" }, ["GET or POST only\n"]]
        end
      end

      def inspect
        "#<#{self.class.name} #{@callback.inspect} handler=#{@handler}>"
      end

      private

      def verify_url(env)
        params = query(env)
        answer = instrument({ msg_type: nil, event: "verify_url", duplicate: false }) { @callback.verify_url(params) }
        [200, { "content-type" => "text/plain" }, [answer]]
      rescue CallbackError => e
        refused(e)
      end

      def receive(env)
        length = env["CONTENT_LENGTH"].to_i
        if length > MAX_BODY
          raise CallbackTooLarge, "the body is #{length} bytes; a WeCom callback is at most #{MAX_BODY} bytes"
        end

        params = query(env)
        input = env["rack.input"]
        body = input ? input.read(MAX_BODY + 1).to_s : +""
        payload = {}
        instrument(payload) do
          message = @callback.parse(params, body)
          payload.merge!(msg_type: message.msg_type, event: message.event)
          handle(message, payload)
        end
      rescue CallbackError => e
        refused(e)
      end

      def handle(message, payload)
        rule = @handler.rule_for(message)
        payload[:duplicate] = false
        return empty unless rule

        key = "wecom-callback:#{@callback.receive_id}:#{message.dedupe_key}"
        unless (owner = @claims.claim(key, CLAIM_TTL))
          payload[:duplicate] = true
          return empty
        end

        begin
          return later(rule, message) if rule.later

          content = @handler.run(rule, message, @callback)
        rescue StandardError => e
          @claims.release(key, owner)
          payload[:error] = e
          report(e, message)
          return [500, { "content-type" => "text/plain" }, ["handler failed\n"]]
        end
        content ? [200, { "content-type" => "application/xml" }, [@callback.reply(message, **content)]] : empty
      end

      def later(_rule, message)
        CallbackJob.perform_later(@handler.name, message.to_h, @callback.name&.to_s)
        empty
      end

      def empty
        [200, { "content-type" => "text/plain" }, []]
      end

      def refused(error)
        log(:warn, "refused (#{error.class.name.split('::').last}): #{error.message}")
        [error.response_status, { "content-type" => "text/plain" }, ["#{error.message}\n"]]
      end

      def report(error, message)
        log(:error, "handler #{@handler} raised #{error.class}: #{error.message} (msg_type #{message.msg_type}, " \
                    "event #{message.event.inspect}); the claim was released, so WeCom's retry runs it again")
        return unless defined?(Rails) && Rails.respond_to?(:error) && Rails.error.respond_to?(:report)

        Rails.error.report(error, handled: true,
                                  context: { endpoint: @callback.name, msg_type: message.msg_type, event: message.event })
      end

      # Runs the block inside a "callback.wecom" event; the block may add to `payload`.
      def instrument(payload)
        payload[:endpoint] = @callback.name
        return yield unless Instrumentation.enabled?

        ActiveSupport::Notifications.instrument("callback.wecom", payload) { yield }
      end

      def log(level, line)
        WeCom.logger&.public_send(level, "WeCom callback #{@callback.name.inspect}: #{line}")
      end

      def query(env)
        URI.decode_www_form(env["QUERY_STRING"].to_s).to_h
      rescue ArgumentError
        raise CallbackParameterMissing, "the query string is not valid form encoding"
      end
    end
  end
end
