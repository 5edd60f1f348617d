# frozen_string_literal: true

module WeCom
  class << self
    # Sends from a background job (WeCom::DeliveryJob, on the app's ActiveJob adapter):
    #
    #   WeCom.deliver_later(:text, "Interview at 15:00", to: "zhangsan", app: :hr,
    #                       idempotency_key: "interview-42-reminder", wait: 5.minutes)
    #
    # type and the other arguments are those of WeCom::Client#deliver (send_text's, for :text);
    # they are checked now, so bad input raises ArgumentError here and nothing is queued. wait:,
    # wait_until:, queue: and priority: go to ActiveJob. Returns the enqueued job; in test mode
    # (WeCom.delivery_method = :test) nothing is queued and the recorded
    # WeCom::Testing::Delivery is returned.
    #
    # idempotency_key: at most one message per key. The job sends with WeCom's duplicate check
    # (14400 s unless duplicate_check: says otherwise), so WeCom drops a repeat of the same
    # message within that window: a job enqueued twice or retried after a lost answer. With the
    # delivery log (c.delivery_log = true) the guarantee has no time limit: a key already sent or
    # failed is never sent again, two jobs never send one key at once, and an attempt whose
    # answer was lost is retried only while the duplicate check still covers it (else the
    # delivery fails with WeCom::DeliveryUnknownError rather than risk a second copy).
    def deliver_later(type, *arguments, app: nil, idempotency_key: nil, wait: nil, wait_until: nil, queue: nil,
                      priority: nil, **options)
      idempotency_key = Messages::Check.utf8(idempotency_key, "idempotency_key") if String === idempotency_key
      unless nil.equal?(idempotency_key) || (String === idempotency_key && !idempotency_key.strip.empty? &&
                                             idempotency_key.bytesize <= 255)
        raise ArgumentError, "idempotency_key must be a non-empty String of at most 255 bytes, " \
                             "got #{Messages::Check.shown(idempotency_key)}"
      end

      arguments = later_file(type, arguments, options)
      options = Client.idempotent(options) if idempotency_key
      message = Client.check(type, *arguments, **options)
      app = configuration.app_for(app)
      delivery.deliver_later(app: app, message: message, idempotency_key: idempotency_key) do
        require "wecom/delivery_job"
        job = DeliveryJob.set({ wait: wait, wait_until: wait_until, queue: queue, priority: priority }.compact)
                         .perform_later(type, *arguments, **{ app: app, idempotency_key: idempotency_key }.compact, **options)
        raise Error, "WeCom::DeliveryJob was not enqueued (a before_enqueue callback aborted it)" unless job

        job
      end
    end

    private

    # The file of a media type as the job will take it: job arguments travel as JSON, so a file
    # goes as its path (read by the worker) or a media_id, never as bytes or an IO.
    def later_file(type, arguments, options)
      return arguments unless Client::MEDIA_TYPES.include?(Client.type_name(type))

      source = arguments.first
      source = source.to_s if Pathname === source
      if options.key?(:filename) || (!(String === source) && Media.file?(source))
        raise ArgumentError, "deliver_later(:#{Client.type_name(type)}) cannot queue bytes (filename:) or an IO: " \
                             "job arguments travel as JSON: pass a path or a media_id (from upload_media) instead, " \
                             "and the worker uploads the path"
      end
      [source, *arguments.drop(1)]
    end
  end
end
