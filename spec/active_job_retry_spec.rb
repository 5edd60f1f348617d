# frozen_string_literal: true

require "active_job"
require "logger"

# README's "Your own job" example, run as written: its retry_on waits with ActiveJob's current
# algorithm name (Rails 7.1+ renamed :exponentially_longer, and Rails 7.2 no longer knows the old
# name), retries a WeCom rate limit, and sends once WeCom lets it through.
RSpec.describe "README's own job with retry_on" do
  readme = File.read(File.expand_path("../README.md", __dir__))
  source = readme[/^```ruby\n(class InterviewReminderJob < ApplicationJob\n.*?)^```$/m, 1]
  rails_7_1 = Gem::Version.new(ActiveJob::VERSION::STRING) >= Gem::Version.new("7.1")

  ReadmeInterview = Struct.new(:candidate_name, :starts_at, :interviewer)
  ReadmeInterviewer = Struct.new(:wecom_userid)

  # ActiveJob serialises the arguments of a retried job; an app's model has a GlobalID, this Struct
  # a serializer.
  class ReadmeInterviewSerializer < ActiveJob::Serializers::ObjectSerializer
    def serialize?(argument) = argument.is_a?(ReadmeInterview)

    def serialize(interview)
      super("name" => interview.candidate_name, "at" => interview.starts_at.iso8601,
            "userid" => interview.interviewer.wecom_userid)
    end

    def deserialize(hash)
      ReadmeInterview.new(hash["name"], Time.iso8601(hash["at"]), ReadmeInterviewer.new(hash["userid"]))
    end
  end

  before(:all) do
    raise "README.md has no InterviewReminderJob example" unless source

    ActiveJob::Serializers.add_serializers(ReadmeInterviewSerializer)
    # Rails 6.1 knows only the old name: the README says so, and this is what it tells them to write.
    code = rails_7_1 ? source : source.sub("wait: :polynomially_longer", "wait: :exponentially_longer")
    Object.const_set(:ApplicationJob, Class.new(ActiveJob::Base)) unless defined?(::ApplicationJob)
    Object.class_eval(code, "README.md")
    ActiveJob::Base.logger = Logger.new(nil)
  end

  before do
    base_url = emulator.base_url
    WeCom.configure do |c|
      c.corp_id = credentials[:corp_id]
      c.secret = credentials[:secret]
      c.agent_id = credentials[:agent_id]
      c.base_url = base_url
      c.max_retries = 0 # the job's retry_on retries, not the client
    end
    InterviewReminderJob.queue_adapter = queue
  end

  # A worker's queue (spec/support/delivery_log.rb): jobs as ActiveJob serialises them.
  let(:queue) { DeliveryLog::Queue.new }
  let(:interview) { ReadmeInterview.new("Li Lei", Time.utc(2026, 12, 2, 15, 30), ReadmeInterviewer.new("zhangsan")) }

  it "uses the wait algorithm this Rails knows" do
    expect(source).to include("wait: :polynomially_longer")
    expect(InterviewReminderJob.rescue_handlers.map(&:first)).to include("WeCom::NetworkError", "WeCom::RateLimitError")
  end

  it "retries a rate-limited send about 3 s later, then WeCom gets the message once" do
    emulator.fail_next(45_009, path: "/cgi-bin/message/send")
    now = Time.now.to_f
    InterviewReminderJob.perform_now(interview)
    expect(queue.entries.size).to eq(1)
    # executions**4 + 2 for the first retry: 3 s, plus up to 15% jitter.
    expect(queue.entries.first.at - now).to be_between(2.5, 3.6)
    expect(emulator.messages).to be_empty

    queue.run_next
    expect(emulator.messages.map { |m| [m["touser"], m.dig("text", "content")] })
      .to eq([["zhangsan", "Your interview with Li Lei starts at 15:30"]])
    expect(queue.entries).to be_empty
  end

  it "discards an authentication error instead of retrying it" do
    WeCom.configure { |c| c.secret = "not-the-secret" }
    expect { InterviewReminderJob.perform_now(interview) }.not_to raise_error
    expect(queue.entries).to be_empty
    expect(emulator.messages).to be_empty
  end
end
