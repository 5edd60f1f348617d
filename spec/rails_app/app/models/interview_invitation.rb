# frozen_string_literal: true

# Asks an interviewer to accept an interview, with an interactive template card: their click on
# "Accept" comes back to the app's WeCom callback endpoint (app/wecom/hr_handler.rb).
class InterviewInvitation
  def self.deliver(interview_id, starts_at:, interviewer:)
    card = { card_type: "button_interaction", task_id: task_id(interview_id),
             main_title: { title: "Interview ##{interview_id} at #{starts_at}" },
             button_list: [{ text: "Accept", key: "accept" }, { text: "Decline", key: "decline", style: 2 }] }
    WeCom.deliver_later(:template_card, card, to: interviewer, idempotency_key: "interview-#{interview_id}-invitation")
  end

  def self.task_id(interview_id)
    "interview-#{interview_id}"
  end
end
