# frozen_string_literal: true

require "active_job"

module WeCom
  # The ActiveJob behind WeCom.deliver_later; usable directly with the same arguments:
  #
  #   WeCom::DeliveryJob.perform_later(:text, "Interview at 15:00", to: "zhangsan", app: :hr,
  #                                    idempotency_key: "interview-42-reminder")
  #
  # It sends through WeCom::Client.new(app).deliver(type, *arguments, **options).
  #
  # Failures: a retryable WeCom error (network, timeout, rate limit, WeCom busy) is retried up to
  # max_attempts runs in all, after the error's retry_after when WeCom gave one (45009: 60 s),
  # else after `backoff` (3 s, 18 s, 83 s, 258 s...) plus up to 15% jitter. Anything else (bad
  # recipients, bad content, bad credentials), and the last retryable failure, discards the job:
  # the delivery log row becomes failed with the error, and a "discard.wecom" event reports it
  # (logged by WeCom::LogSubscriber, and sent to Rails.error where Rails has it).
  #
  # With an idempotency_key the message goes out at most once per key; see WeCom.deliver_later.
  class DeliveryJob < ActiveJob::Base
    queue_as :default

    # Runs in all, the first included, before a retryable failure is final.
    class_attribute :max_attempts, default: 8
    # Seconds to wait before run number executions + 1, when the error does not say.
    class_attribute :backoff, default: ->(executions) { (executions**4) + 2 }

    rescue_from(Error, ArgumentError) { |error| failed(error) }

    # Sends as WeCom::Client#deliver(type, *arguments, **options) for `app`; with an
    # idempotency key, at most once per key (see WeCom.deliver_later).
    # @return [WeCom::Result, nil]
    def perform(type, *arguments, app: nil, idempotency_key: nil, **options)
      @delivery = nil
      options = Client.idempotent(options) if idempotency_key
      client = Client.new(app)
      message = Client.check(type, *arguments, **options)
      window = message.duplicate_check
      @event = { app: client.app, msgtype: message.msgtype, idempotency_key: idempotency_key, job_id: job_id }

      if WeCom.configuration.delivery_log
        @delivery = Delivery.claim!(idempotency_key: idempotency_key, job_id: job_id, app: client.app&.to_s,
                                    msgtype: message.msgtype,
                                    recipients: logged_recipients(message))
        return @delivery unless @delivery.pending? # sent or failed by an earlier job of this key

        if @delivery.unsafe_to_retry?(window.to_i, Delivery.lease)
          raise DeliveryUnknownError, "an earlier attempt may have reached WeCom (its answer was lost) and WeCom's " \
                                      "duplicate check (#{window.to_i} s) no longer covers it: not sending again"
        end
      end

      arguments = upload_once(client, type, arguments, options, app: app, idempotency_key: idempotency_key)
      result = client.deliver(type, *arguments, **options)
      @delivery&.sent!(result)
      result
    end

    private

    # A file to send is uploaded once, and a retry sends the same media_id: another upload would
    # change the message, and WeCom's duplicate check would no longer recognise a repeat.
    def upload_once(client, type, arguments, options, **job_options)
      filename = options.delete(:filename)
      return arguments unless Client::MEDIA_TYPES.include?(type.to_s) && (filename || Media.file?(arguments.first))

      media_id = client.upload_media(arguments.first, type: type.to_sym, filename: filename)
      arguments = [media_id, *arguments.drop(1)]
      # What retry_job serialises; flagged so that the Hash comes back as keyword arguments.
      self.arguments = [type, *arguments, Hash.ruby2_keywords_hash(job_options.compact.merge(options))]
      arguments
    end

    # The recipients the delivery log keeps: to_email:/to_mobile: as given too, when there are some.
    def logged_recipients(message)
      recipients = message.to_h.slice(:users, :parties, :tags, :all)
      message.addressed? ? recipients.merge(emails: message.emails, mobiles: message.mobiles) : recipients
    end

    def failed(error)
      if error.is_a?(Error) && error.retryable? && executions < max_attempts
        @delivery&.attempt_failed!(error)
        retry_job(wait: retry_wait(error), error: error)
      else
        @delivery&.failed!(error)
        report(error)
      end
    end

    def retry_wait(error)
      seconds = error.retry_after || backoff.call(executions)
      # The other job usually finishes long before its lease runs out: look again soon.
      seconds = [seconds, backoff.call(executions)].min if error.is_a?(DeliveryInProgress)
      # Jobs that failed together should not all come back together.
      seconds * (1 + (0.15 * rand))
    end

    def report(error)
      payload = (@event || { job_id: job_id }).merge(error: error, attempts: executions,
                                                      delivery_id: @delivery&.id)
      ActiveSupport::Notifications.instrument("discard.wecom", payload)
      Rails.error.report(error, handled: true, context: payload.except(:error)) if defined?(Rails) && Rails.respond_to?(:error)
    end
  end
end
