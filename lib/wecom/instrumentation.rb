# frozen_string_literal: true

module WeCom
  class << self
    # Where wecom/log_subscriber writes (in Rails, Rails.logger). nil: no log lines.
    attr_accessor :logger
  end

  # ActiveSupport::Notifications events, published when ActiveSupport is loaded (as in every
  # Rails app) — for logs, APM and metrics:
  #
  #   "deliver.wecom"        one per send_*: app, msgtype, users, parties, tags, all, msgid (or
  #                          the :exception ActiveSupport adds)
  #   "deliver_batch.wecom"  one per send_batch: app, messages, failed
  #   "request.wecom"        one per HTTP request to WeCom, retries and token fetches included,
  #                          published when the call is over: app, path, attempt (0 first, then
  #                          1, 2...), status, errcode, failure (:network or :timeout when no
  #                          answer came), duration (milliseconds)
  #   "robot.wecom"          one per group robot message: robot (its name), msgtype
  #   "upload.wecom"         one per upload_media: app or robot, type, size, media_id
  #   "chat.wecom"           one per app group chat call: app, action (create, update, get, send)
  #   "discard.wecom"        WeCom::DeliveryJob gave up on a message: app, msgtype,
  #                          idempotency_key, job_id, attempts, delivery_id, error
  #   "directory.wecom"      one per directory call: app, action (userid_by_email, user,
  #                          each_user_id, user_for_code, ...), found (for the lookups)
  #   "jsapi_ticket.wecom", "agent_ticket.wecom", "js_sdk_signature.wecom": app (and ticket)
  #
  # Payloads never hold a secret, a token or message content.
  module Instrumentation
    module_function

    def enabled?
      defined?(ActiveSupport::Notifications) ? true : false
    end

    # True when no one listens for the event `name` nor for "request.wecom": a send then needs
    # no payload and no event (checked per send, so it costs a lookup, not a Hash).
    def quiet?(name)
      return true unless defined?(ActiveSupport::Notifications)

      notifier = ActiveSupport::Notifications.notifier
      !notifier.listening?(name) && !notifier.listening?("request.wecom")
    end

    # Runs the block (one native call) inside the event `name`, then publishes the HTTP requests
    # it made as "request.wecom" events — every one of them, when someone listens for them.
    def instrument(name, payload)
      return yield unless enabled?

      requests = ActiveSupport::Notifications.notifier.listening?("request.wecom")
      Native.record_request_events if requests
      ActiveSupport::Notifications.instrument(name, payload) do
        yield payload
      ensure
        publish_requests(payload[:app]) if requests
      end
    end

    # The native core works around some problems and reports them here, once per process (a
    # token store that cannot be written: sends go on with a token of this process's own).
    def warn(message)
      line = "WeCom: #{message}"
      WeCom.logger ? WeCom.logger.warn(line) : Kernel.warn(line)
    end

    # Publishes a request.wecom event for each HTTP request the native core made for the call
    # that just ended (it records them while ActiveSupport::Notifications has subscribers).
    # @param app [Symbol, nil]
    # @return [void]
    def publish_requests(app)
      instrumenter = ActiveSupport::Notifications.instrumenter
      Native.take_request_events.each do |event|
        # The request is over: its own duration travels in the payload, in milliseconds.
        payload = event.merge(app: app, duration: event[:duration] * 1000.0)
        instrumenter.start("request.wecom", payload)
        instrumenter.finish("request.wecom", payload)
      end
    end
  end
end
