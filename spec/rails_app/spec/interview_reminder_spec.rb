# frozen_string_literal: true

# The app's own spec, using wecom's test-mode helpers (the Rails test environment records sends).
require_relative "../config/environment"
require "wecom/testing/rspec"

RSpec.describe InterviewReminder do
  it "tells the interviewer once, however often it is asked" do
    expect do
      InterviewReminder.deliver(42, starts_at: "15:00", interviewer: "zhangsan")
      InterviewReminder.deliver(42, starts_at: "15:00", interviewer: "zhangsan")
    end.to have_sent_wecom_message(:text).to("zhangsan").with_content(/starts at 15:00/).once

    expect(WeCom::Testing.deliveries.first).to have_attributes(idempotency_key: "interview-42-reminder", later: true)
  end

  it "reminds each interview's interviewer" do
    expect { InterviewReminder.deliver(43, starts_at: "16:00", interviewer: "lisi") }
      .to have_sent_wecom_message(:text).to("lisi").with_content("#43")
    expect { InterviewReminder.deliver(44, starts_at: "17:00", interviewer: "lisi") }
      .not_to have_sent_wecom_message.to("zhangsan")
  end
end
