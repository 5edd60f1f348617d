# frozen_string_literal: true

require "active_record"

module WeCom
  # The delivery log: one row of wecom_deliveries per message WeCom::DeliveryJob delivers (with
  # WeCom.configure { |c| c.delivery_log = true }; `rails generate wecom:install --delivery-log`
  # writes the migration). It answers "was the interviewer told?":
  #
  #   WeCom::Delivery.find_by(idempotency_key: "interview-42-reminder")&.sent?
  #   WeCom::Delivery.failed.where("created_at > ?", 1.day.ago)
  #
  # status is pending (queued, or between attempts), sent (msgid set) or failed (errcode,
  # error_class and error_message say why). Rows are never deleted by wecom.
  class Delivery < ActiveRecord::Base
    self.table_name = "wecom_deliveries"

    # A delivery's status: pending (claimed or retrying), sent, or failed for good.
    STATUSES = %w[pending sent failed].freeze

    # How long one job may hold a delivery before another job may take it over (a job killed
    # mid-send never releases it). Longer than any send with its retries takes.
    class_attribute :lease, default: 300

    validates :status, inclusion: { in: STATUSES }
    validates :msgtype, presence: true

    STATUSES.each do |status|
      scope status, -> { where(status: status) }
      define_method(:"#{status}?") { self.status == status }
    end

    class << self
      # The row of a delivery (found by its idempotency key, else by the job's id; created if
      # missing), taken for one attempt: attempts counts it, first_attempted_at is set once, and
      # no other job may take it for `lease` seconds. A delivery already sent or failed is
      # returned as it is (there is nothing to do); one held by another job raises
      # DeliveryInProgress.
      def claim!(idempotency_key:, job_id:, **attributes)
        delivery = find_or_create(idempotency_key, job_id, attributes)
        return delivery unless delivery.pending?

        now = Time.current
        taken = where(id: delivery.id, status: "pending")
                .where("locked_until IS NULL OR locked_until <= ?", now)
                .update_all(["attempts = attempts + 1, locked_until = ?, updated_at = ?, " \
                             "first_attempted_at = COALESCE(first_attempted_at, ?)", now + lease, now, now])
        delivery.reload
        if taken.zero? && delivery.pending?
          wait = delivery.locked_until ? (delivery.locked_until - now).ceil.clamp(1, lease) : 1
          raise DeliveryInProgress.new("WeCom delivery #{delivery.id} (#{delivery.idempotency_key.inspect}) is being " \
                                       "sent by another job; trying again in #{wait} s", retry_after: wait)
        end
        delivery
      end

      private

      def find_or_create(idempotency_key, job_id, attributes)
        if idempotency_key
          # The unique index decides between two jobs creating the same key at once.
          create_or_find_by!(idempotency_key: idempotency_key) { |row| row.assign_attributes(attributes.merge(job_id: job_id)) }
        else
          find_by(job_id: job_id, idempotency_key: nil) || create!(attributes.merge(job_id: job_id))
        end
      end
    end

    # Whether a new attempt must not be made: an earlier one may have reached WeCom and WeCom's
    # duplicate check (`window` seconds from the first attempt, less `margin` for this attempt
    # to arrive) would no longer drop a second copy.
    def unsafe_to_retry?(window, margin)
      delivery_unknown && first_attempted_at && Time.current + margin > first_attempted_at + window
    end

    # The attempt delivered: WeCom's msgid and the recipients it could not reach.
    def sent!(result)
      invalid = { users: result.invalid_users, parties: result.invalid_parties, tags: result.invalid_tags,
                  unlicensed_users: result.unlicensed_users }
      # to_email:/to_mobile: addresses that belong to nobody.
      invalid[:unresolved] = result.unresolved unless result.unresolved.empty?
      update!(status: "sent", msgid: result.msgid, errcode: 0, error_class: nil, error_message: nil, sent_at: Time.current,
              locked_until: nil, invalid_recipients: invalid)
    end

    # The attempt failed; another may follow.
    def attempt_failed!(error)
      update!(failure(error))
    end

    # No attempt follows: the delivery failed for good.
    def failed!(error)
      update!(failure(error).merge(status: "failed", failed_at: Time.current))
    end

    private

    def failure(error)
      unknown = delivery_unknown || (error.respond_to?(:delivery_unknown?) && error.delivery_unknown?)
      { errcode: error.respond_to?(:errcode) ? error.errcode : nil, error_class: error.class.name,
        error_message: error.message, delivery_unknown: unknown ? true : false, locked_until: nil }
    end
  end
end
