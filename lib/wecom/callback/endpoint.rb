# frozen_string_literal: true

require "digest"
require "uri"

module WeCom
  class Callback
    # A Rack app for one callback URL: mount it in Rails (or any Rack server).
    #
    #   mount WeCom::Callback::Endpoint.new(:hr, InterviewBot), at: "/wecom/hr"
    #
    # GET answers WeCom's URL check. POST verifies, decrypts and parses, takes the message's
    # claim "being handled" in the token store, runs the matching rule and answers with its
    # encrypted reply, or an empty 200; only when the handler succeeded is the message marked
    # handled, so that WeCom's retries (to any process or host sharing the store) run it once. A
    # rule with `later: true` is enqueued as WeCom::CallbackJob and answered at once.
    #
    # Refusals: missing parameters 400, bad signature / stale timestamp / wrong receive id 403,
    # a body over 1 MB 413 (by its Content-Length, without reading it), undecryptable or
    # malformed XML 400; the handler does not run, nothing is claimed, and the log line names
    # the reason (never the token or the key). A handler that raises (or replies with content
    # that is not valid) leaves the message unmarked, so that WeCom's next retry runs it again,
    # is reported (the log, Rails.error on Rails 7+, the event's :error) and is answered 500.
    #
    # The claim "being handled" is a LEASE-second lease renewed while the handler runs (by a
    # WeCom::Callback::LeaseKeeper): a process killed mid-handler lets it lapse within LEASE
    # seconds, and WeCom's retry, to another process, runs the handler.
    #
    # WeCom retries a delivery it got no answer to within 5 s. A retry of a message whose
    # handler has finished is answered with an empty 200 (the first answer's reply went down
    # with the connection WeCom gave up on). A retry that arrives while the first delivery is
    # still being handled, in this process or another, waits for it (at most #in_progress_wait
    # seconds, below WeCom's 5 s): when it succeeded, an empty 200; when it failed, the retry
    # runs the handler itself; when it is still running, a 503 so that WeCom asks again later.
    #
    # One "callback.wecom" event per request: endpoint, kind (:url_check or :message),
    # msg_type, event, duplicate (true for a retry of a message already handled or being
    # handled), status, duration (milliseconds) and, when refused or failed, error.
    class Endpoint
      # How long a handled message stays claimed: far beyond WeCom's three retries, and at least
      # twice the replay window (a replayed callback is refused as stale after that).
      CLAIM_TTL = 3600
      # How long the claim "being handled" lasts unless renewed: a retry takes over this soon after
      # the process handling the message dies (SIGKILL, the OOM killer).
      LEASE = 3
      # How often that claim is renewed while the handler runs (only handlers that run this long
      # cost a store call for it).
      LEASE_RENEWAL = 1
      # How long it lasts in a store that cannot renew (one written in Ruby without #renew).
      RUNNING_TTL = 60
      # How long a retry waits for a delivery of the same message that is still being handled.
      IN_PROGRESS_WAIT = 4
      # How often it looks.
      POLL = 0.05

      attr_reader :handler, :in_progress_wait

      # `callback`: a WeCom::Callback, or the name to make one with on the first request (so that
      # config/routes.rb loads where the callback settings are absent, as in an image build's
      # assets:precompile). `claims`: where deliveries are claimed (default: the token store of
      # the callback's app, see WeCom::Callback::Claims).
      def initialize(callback, handler, claims: nil, in_progress_wait: IN_PROGRESS_WAIT)
        @callback = callback if Callback === callback
        @name = Callback === callback ? callback.name : callback
        unless Class === handler && handler <= Handler
          raise ArgumentError, "handler must be a WeCom::Callback::Handler subclass, got #{Messages::Check.shown(handler)}"
        end
        if handler.name.nil? && handler.rules.any?(&:later)
          raise ArgumentError, "a handler with later: true rules must be a named class (WeCom::CallbackJob finds it " \
                               "by name)"
        end

        @handler = handler
        @in_progress_wait = Settings.seconds(in_progress_wait) or
          raise ArgumentError, "in_progress_wait #{Settings.not_seconds(in_progress_wait)}"
        @claims = claims
        @setup = Mutex.new
      end

      # The WeCom::Callback this endpoint answers for (made from its name on first use).
      def callback
        @callback || @setup.synchronize { @callback ||= Callback.new(@name) }
      end

      # The Rack interface: a GET or HEAD is WeCom's URL check, a POST a callback; anything
      # else is answered 405.
      # @param env [Hash] the Rack environment
      # @return [Array(Integer, Hash, Array<String>)] the Rack response
      def call(env)
        case env["REQUEST_METHOD"]
        when "GET", "HEAD" then observe(:url_check) { verify_url(env) }
        when "POST" then observe(:message) { |payload| receive(env, payload) }
        else text(405, "GET or POST only\n", "allow" => "GET, POST")
        end
      end

      # The callback (or its name) and the handler class.
      # @return [String]
      def inspect
        "#<#{self.class.name} #{(@callback || @name).inspect} handler=#{@handler}>"
      end

      private

      def claims
        return @claims if @claims

        endpoint = callback # outside the lock, which making it takes too
        @setup.synchronize { @claims ||= Claims.for(endpoint) }
      end

      # A handled message stays claimed at least twice the replay window: a replay is refused
      # as stale after that.
      def claim_ttl
        [CLAIM_TTL, (2 * callback.replay_window) + 60].max
      end

      def verify_url(env)
        text(200, callback.verify_url(query(env)))
      end

      def receive(env, payload)
        body = read_body(env)
        message = callback.parse(query(env), body)
        payload.merge!(msg_type: message.msg_type, event: message.event)
        handle(message, payload)
      end

      # The body, refused by its Content-Length before a byte of it is read when too large.
      def read_body(env)
        length = env["CONTENT_LENGTH"].to_s
        unless length.empty?
          bytes = Integer(length, 10, exception: false)
          raise CallbackMalformed, "the Content-Length #{length[0, 20].inspect} is not a number" unless bytes
          raise CallbackTooLarge, too_large(bytes) if bytes > MAX_BODY
        end

        input = env["rack.input"] or return +""
        input.rewind if input.respond_to?(:rewind) # a middleware may have read it
        body = input.read(MAX_BODY + 1) || +""
        raise CallbackTooLarge, too_large("over #{MAX_BODY}") if body.bytesize > MAX_BODY

        body
      end

      def too_large(bytes)
        "the body is #{bytes} bytes; a WeCom callback is at most #{MAX_BODY} bytes"
      end

      def handle(message, payload)
        rule = @handler.rule_for(message)
        return empty unless rule # nothing runs, so nothing is claimed

        key = claim_key(message)
        running_key = "#{key}:running"
        running = await_turn(running_key)
        unless running
          payload[:duplicate] = true
          log(:warn, "#{described(message)} is still being handled after #{@in_progress_wait}s: answered 503, " \
                     "so that WeCom asks again")
          return text(503, "still being handled\n", "retry-after" => "5")
        end

        begin
          while_running(running_key, running) do
            if handled?(key)
              payload[:duplicate] = true
              log(:info, "#{described(message)} was already handled: a retry, answered with an empty 200")
              next empty
            end
            run(rule, message, payload).tap { |response| mark_handled(key, message) if response[0] == 200 }
          end
        ensure
          release(running_key, running)
        end
      rescue Error => e
        payload[:error] = e
        log(:error, "the token store failed (#{e.class}: #{e.message}): answered 503 without running the handler, " \
                    "so that WeCom asks again")
        text(503, "the token store is unavailable\n", "retry-after" => "5")
      end

      # The message's identity across WeCom's retries, per app (two apps' menus may share a key):
      # the receive id, then a digest (a bounded key that holds no userid or URL).
      def claim_key(message)
        "wecom-callback:#{callback.receive_id}:#{Digest::SHA256.hexdigest("#{message['AgentID']}|#{message.dedupe_key}")}"
      end

      # The claim "being handled" of a message: taken at once, or once the delivery holding it
      # is over (nil when it is still held after in_progress_wait seconds). A short lease where
      # the store can renew it (see #while_running), else RUNNING_TTL.
      def await_turn(key)
        ttl = renewing? ? LEASE : RUNNING_TTL
        deadline = monotonic + @in_progress_wait
        loop do
          owner = claims.claim(key, ttl)
          return owner if owner
          return nil if monotonic >= deadline

          sleep POLL
        end
      end

      # Runs the block with the claim "being handled" renewed every LEASE_RENEWAL seconds, so that
      # when this process dies mid-handler a retry takes over within LEASE seconds.
      def while_running(key, owner, &block)
        return yield unless renewing?

        lease_keeper.hold(key, owner, &block)
      end

      # Asked once: the claims (and their store) are fixed once made.
      def renewing?
        return @renewing unless @renewing.nil?

        @renewing = (claims.respond_to?(:renews?) && claims.renews?) ? true : false
      end

      def lease_keeper
        @lease_keeper || @setup.synchronize do
          @lease_keeper ||= LeaseKeeper.new(claims, ttl: LEASE, every: LEASE_RENEWAL) do |_key, error|
            log(:warn, "the claim of a message being handled could not be renewed " \
                       "(#{error ? "#{error.class}: #{error.message}" : 'it had lapsed'}); a retry may run its handler again")
          end
        end
      end

      # Whether a delivery of this message has been handled. Asked under the claim "being
      # handled", so no one marks it meanwhile: a claim taken and given back at once.
      def handled?(key)
        probe = claims.claim(key, LEASE)
        return true unless probe

        release(key, probe)
        false
      end

      # Marks the message handled, once its handler succeeded: a process killed before this
      # leaves nothing behind, and WeCom's retry runs the handler again.
      def mark_handled(key, message)
        return if claims.claim(key, claim_ttl)

        log(:warn, "#{described(message)} was marked handled by another delivery meanwhile (its claim had lapsed)")
      rescue Error => e
        log(:error, "could not mark #{described(message)} handled (#{e.class}: #{e.message}); WeCom's retry may " \
                    "run its handler again")
      end

      def run(rule, message, payload)
        return later(message) if rule.later

        content = @handler.run(rule, message, callback)
        content ? [200, { "content-type" => "application/xml" }, [callback.reply(message, **content)]] : empty
      rescue StandardError => e
        payload[:error] = e
        report(e, message)
        text(500, "the handler failed; WeCom's retry runs it again\n")
      end

      def later(message)
        name = @handler.name or
          raise ArgumentError, "#{@handler.inspect} has later: true rules but no name (WeCom::CallbackJob finds it by name)"

        CallbackJob.perform_later(name, message.to_h, @name&.to_s)
        empty
      end

      # Gives up a claim; a store that fails here is logged (the claim then lapses by its ttl).
      def release(key, owner)
        claims.release(key, owner)
      rescue Error => e
        log(:error, "could not release a claim (#{e.class}: #{e.message}); it lapses by itself")
      end

      def empty
        [200, { "content-type" => "text/plain" }, []]
      end

      def text(status, body, headers = {})
        [status, { "content-type" => "text/plain" }.merge(headers), [body]]
      end

      def refused(error)
        log(:warn, "refused with #{error.response_status} (#{error.class.name.split('::').last}): #{error.message}")
        text(error.response_status, "#{error.message}\n")
      end

      def report(error, message)
        log(:error, "handler #{@handler} raised #{error.class}: #{error.message} (#{described(message)}); " \
                    "answered 500 and did not mark it handled, so WeCom's retry runs it again")
        return unless defined?(::Rails) && ::Rails.respond_to?(:error) && ::Rails.error.respond_to?(:report)

        ::Rails.error.report(error, handled: true,
                                    context: { endpoint: @name, msg_type: message.msg_type, event: message.event })
      end

      def described(message)
        what = message.event ? "event #{message.event}" : "#{message.msg_type || 'untyped'} message"
        "#{what} from #{message.from_user.inspect}"
      end

      # Runs the block (which answers the request) inside a "callback.wecom" event; a refusal
      # is answered with its status. The block may add to the payload.
      def observe(kind)
        payload = { endpoint: @name, kind: kind, msg_type: nil, event: nil, duplicate: false }
        started = monotonic
        instrument(payload) do
          response = begin
            yield payload
          rescue CallbackError => e
            payload[:error] = e
            refused(e)
          end
          payload[:status] = response[0]
          response
        ensure
          payload[:duration] = (monotonic - started) * 1000.0
        end
      end

      def instrument(payload, &block)
        return yield unless Instrumentation.enabled?

        ActiveSupport::Notifications.instrument("callback.wecom", payload, &block)
      end

      def log(level, line)
        WeCom.logger&.public_send(level, "WeCom callback #{(@name || 'endpoint')}: #{line}")
      end

      def query(env)
        URI.decode_www_form(env["QUERY_STRING"].to_s).to_h
      rescue ArgumentError
        raise CallbackParameterMissing, "the query string is not valid form encoding"
      end

      def monotonic
        Process.clock_gettime(Process::CLOCK_MONOTONIC)
      end
    end
  end
end
