# frozen_string_literal: true

# Tells an interviewer when their interview starts: once per interview, however often asked.
class InterviewReminder
  def self.deliver(interview_id, starts_at:, interviewer:)
    WeCom.deliver_later(:text, "Your interview ##{interview_id} starts at #{starts_at}",
                        to: interviewer, idempotency_key: "interview-#{interview_id}-reminder")
  end
end
