# frozen_string_literal: true

require "stringio"

# WeCom.deliver_later and WeCom::DeliveryJob, run as a worker runs them (ActiveJob::Base.execute)
# against the emulator, with the delivery log on the real PostgreSQL.
RSpec.describe "WeCom.deliver_later and WeCom::DeliveryJob" do
  before(:all) { DeliveryLog.prepare! }

  let(:queue) { DeliveryLog::Queue.new }
  let(:send_path) { "/cgi-bin/message/send" }
  let(:delivery_log) { true }

  before do
    WeCom::DeliveryJob.queue_adapter = queue
    base_url = emulator.base_url
    log = delivery_log
    WeCom.configure do |c|
      c.corp_id = credentials[:corp_id]
      c.secret = credentials[:secret]
      c.agent_id = credentials[:agent_id]
      c.base_url = base_url
      c.timeout = 0.5
      c.max_retries = 0
      c.delivery_log = log
    end
    WeCom::Delivery.delete_all
  end

  # The one element of a list (ActiveSupport 7 calls it #sole).
  def only(list)
    expect(list.size).to eq(1), "expected exactly one, got #{list.to_a.inspect}"
    list.first
  end

  def contents
    emulator.messages.map { |message| message.dig("text", "content") }
  end

  def discards
    events = []
    subscriber = ActiveSupport::Notifications.subscribe("discard.wecom") { |*, payload| events << payload }
    yield
    events
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  it "enqueues a WeCom::DeliveryJob that sends and logs the delivery as sent, with WeCom's msgid" do
    job = WeCom.deliver_later(:text, "Interview at 15:00", to: %w[zhangsan lisi], idempotency_key: "interview-42")
    expect(job).to be_a(WeCom::DeliveryJob)
    expect(queue.entries.size).to eq(1)
    expect(emulator.messages).to be_empty # nothing is sent before a worker runs the job

    queue.run_all
    expect(contents).to eq(["Interview at 15:00"])
    delivery = WeCom::Delivery.find_by!(idempotency_key: "interview-42")
    expect(delivery).to have_attributes(status: "sent", msgtype: "text", attempts: 1, errcode: 0, job_id: job.job_id,
                                        delivery_unknown: false)
    expect(delivery.msgid).to be_a(String).and(satisfy { |msgid| msgid.length > 10 })
    expect(delivery.recipients).to eq("users" => %w[zhangsan lisi], "parties" => [], "tags" => [], "all" => false)
    expect(delivery.sent_at).to be_within(5).of(Time.now)
    expect(emulator.messages.last).to include("enable_duplicate_check" => 1, "duplicate_check_interval" => 14_400)
  end

  it "takes to_email:/to_mobile:, checked when enqueued and resolved by the worker; the log keeps both" do
    expect { WeCom.deliver_later(:text, "hi", to_email: "not-an-address") }
      .to raise_error(ArgumentError, /to_email must hold addresses like name@example.com/)
    expect(queue.entries).to be_empty
    WeCom.deliver_later(:text, "Interview at 15:00", to_email: "zhangsan@corp.example.com", to_mobile: "13700000000",
                                                     idempotency_key: "interview-43")
    expect(emulator.requests).to be_empty # nothing looked up before a worker runs the job
    queue.run_all
    expect(emulator.messages.map { |m| [m.dig("text", "content"), m["touser"]] }).to eq([["Interview at 15:00", "zhangsan"]])
    delivery = WeCom::Delivery.find_by!(idempotency_key: "interview-43")
    expect(delivery).to have_attributes(status: "sent")
    expect(delivery.recipients).to eq("users" => [], "parties" => [], "tags" => [], "all" => false,
                                      "emails" => ["zhangsan@corp.example.com"], "mobiles" => ["13700000000"])
    expect(delivery.invalid_recipients).to include("unresolved" => ["13700000000"])
  end

  it "passes wait:, wait_until:, queue: and priority: to ActiveJob and takes every send_* type" do
    WeCom.deliver_later(:textcard, title: "Interview", description: "15:00, room 3", url: "https://example.com/i/42",
                                   to: "zhangsan", wait: 300, queue: "notifications", priority: 5)
    entry = queue.entries.last
    expect(entry.wait).to be_within(5).of(300)
    expect(entry.data).to include("queue_name" => "notifications", "priority" => 5)
    queue.run_all
    expect(emulator.messages.last).to include("msgtype" => "textcard", "touser" => "zhangsan")
    expect(WeCom::Delivery.last).to have_attributes(status: "sent", idempotency_key: nil, msgtype: "textcard")

    WeCom.deliver_later(:text, "Tomorrow", to: "zhangsan", wait_until: Time.now + 3600)
    expect(queue.entries.last.wait).to be_within(5).of(3600)
  end

  it "raises on bad input before anything is queued" do
    expect { WeCom.deliver_later(:text, "x" * 2049, to: "zhangsan") }
      .to raise_error(ArgumentError, /content is 2049 bytes; WeCom allows at most 2048/)
    expect { WeCom.deliver_later(:text, "hi") }.to raise_error(ArgumentError, /recipient/)
    expect { WeCom.deliver_later(:postcard, "hi", to: "u") }.to raise_error(ArgumentError, /type must be one of/)
    expect { WeCom.deliver_later(:text, "hi", to: "u", idempotency_key: "") }
      .to raise_error(ArgumentError, /idempotency_key must be a non-empty String/)
    expect { WeCom.deliver_later(:text, "hi", to: "u", app: :nope) }
      .to raise_error(WeCom::ConfigurationError, /app :nope is not registered/)
    expect(queue.entries).to be_empty
  end

  it "refuses in the caller a :message or template card body that has no JSON form, queueing nothing" do
    deep = 40.times.reduce("x") { |inner, _| { "a" => inner } }
    [[{ "content" => Time.now }, /text\["content"\] holds a Time, which has no JSON form/],
     [{ "content" => "hi", "n" => Float::NAN }, /text\["n"\] must be a finite number/],
     [{ "content" => "hi", "n" => 2**70 }, /text\["n"\] is an integer too large for JSON/],
     [{ "content" => "hi", "deep" => deep }, /nested more than 32 levels/],
     [{ "content" => "\xff\xfe".b }, /text\["content"\] must be valid UTF-8/]].each do |body, message|
      expect { WeCom.deliver_later(:message, :text, body, to: "zhangsan") }.to raise_error(ArgumentError, message)
    end
    card = { card_type: "text_notice", main_title: { title: "Interview", at: Time.now },
             card_action: { type: 1, url: "https://hr.example.com" } }
    expect { WeCom.deliver_later(:template_card, card, to: "zhangsan") }
      .to raise_error(ArgumentError, /template_card\["main_title"\]\["at"\] holds a Time/)
    expect(queue.entries).to be_empty
  end

  it "refuses bytes or an IO for a file, which cannot travel as a job argument, queueing nothing" do
    path = tmp_file("offer.pdf", "%PDF-1.4 #{'x' * 500}")
    expect { WeCom.deliver_later(:file, File.binread(path), filename: "offer.pdf", to: "zhangsan") }
      .to raise_error(ArgumentError, /job arguments travel as JSON.*pass a path or a media_id/)
    File.open(path, "rb") do |io|
      expect { WeCom.deliver_later(:file, io, to: "zhangsan") }.to raise_error(ArgumentError, /travel as JSON/)
    end
    expect { WeCom.deliver_later(:image, StringIO.new("x" * 100), filename: "a.png", to: "zhangsan") }
      .to raise_error(ArgumentError, /travel as JSON/)
    expect(queue.entries).to be_empty

    WeCom.deliver_later(:file, Pathname(path), to: "zhangsan") # a path, as a String in the job
    queue.run_all
    expect(only(emulator.uploads)).to include(filename: "offer.pdf")
  end

  it "delivers a key once when it is enqueued twice" do
    2.times { WeCom.deliver_later(:text, "Interview at 15:00", to: "zhangsan", idempotency_key: "interview-42") }
    WeCom.deliver_later(:text, "Interview at 16:00", to: "zhangsan", idempotency_key: "interview-43")
    queue.run_all
    expect(contents).to eq(["Interview at 15:00", "Interview at 16:00"])
    expect(WeCom::Delivery.pluck(:idempotency_key, :status, :attempts))
      .to contain_exactly(["interview-42", "sent", 1], ["interview-43", "sent", 1])
  end

  it "retries after a timeout without delivering twice: WeCom's duplicate check drops the repeat" do
    WeCom::Client.new.access_token
    emulator.delay_next(1.0, path: send_path)
    WeCom.deliver_later(:text, "Interview at 15:00", to: "zhangsan", idempotency_key: "interview-42")

    queue.run_next # times out: the message reached WeCom, its answer did not come back
    expect(contents).to eq(["Interview at 15:00"])
    delivery = only(WeCom::Delivery.all)
    expect(delivery).to have_attributes(status: "pending", attempts: 1, delivery_unknown: true,
                                        error_class: "WeCom::TimeoutError", locked_until: nil)
    retry_entry = only(queue.entries)
    expect(retry_entry.wait).to be_between(1, 5) # the backoff: 3 s, plus jitter

    queue.run_next
    expect(contents).to eq(["Interview at 15:00"]) # dropped as a duplicate, answered with the first msgid
    expect(delivery.reload).to have_attributes(status: "sent", attempts: 2, error_class: nil)
    expect(emulator.requests.count { |r| r[:path] == send_path }).to eq(2)
  end

  it "uploads a file once: a retry sends the same media_id, so the duplicate check still holds" do
    path = tmp_file("offer.pdf", "%PDF-1.4 #{'x' * 500}")
    WeCom::Client.new.access_token
    emulator.delay_next(1.0, path: send_path)
    WeCom.deliver_later(:file, path, to: "zhangsan", idempotency_key: "offer-42")
    queue.run_next # uploads, sends, and times out waiting for the answer
    media_id = only(emulator.uploads)[:media_id]
    expect(only(queue.entries).data["arguments"]).to include(media_id)

    queue.run_next
    expect(only(emulator.uploads)[:media_id]).to eq(media_id)
    expect(only(emulator.messages)).to include("file" => { "media_id" => media_id })
    expect(only(WeCom::Delivery.all)).to have_attributes(status: "sent", attempts: 2)
  end

  it "honours retry_after: WeCom's frequency limit (45009) retries after 60 s" do
    emulator.fail_next(45_009, path: send_path)
    WeCom.deliver_later(:text, "hi", to: "zhangsan", idempotency_key: "k-45009")
    queue.run_next
    expect(only(queue.entries).wait).to be_between(59, 70)
    expect(only(WeCom::Delivery.all)).to have_attributes(status: "pending", errcode: 45_009,
                                                    error_class: "WeCom::RateLimitError")
    queue.run_next
    expect(only(WeCom::Delivery.all).status).to eq("sent")
  end

  it "discards a permanent error with the error recorded and reported" do
    emulator.fail_next(81_013, path: send_path)
    events = discards do
      WeCom.deliver_later(:text, "hi", to: "nobody", idempotency_key: "k-81013")
      queue.run_next
    end
    expect(queue.entries).to be_empty # not retried
    expect(only(WeCom::Delivery.all)).to have_attributes(status: "failed", errcode: 81_013, error_class: "WeCom::APIError",
                                                    attempts: 1)
    expect(only(WeCom::Delivery.all).error_message).to include("81013")
    expect(only(WeCom::Delivery.all).failed_at).to be_within(5).of(Time.now)
    expect(only(events)).to include(msgtype: "text", idempotency_key: "k-81013", attempts: 1)
    expect(only(events)[:error]).to be_a(WeCom::APIError)

    WeCom.deliver_later(:text, "hi", to: "nobody", idempotency_key: "k-81013")
    queue.run_all
    expect(emulator.messages).to be_empty # a failed key is never tried again
  end

  it "gives up after max_attempts and records the last error" do
    emulator.fail_next(-1, times: 3, path: send_path)
    previous = WeCom::DeliveryJob.max_attempts
    WeCom::DeliveryJob.max_attempts = 3
    events = discards do
      WeCom.deliver_later(:text, "hi", to: "zhangsan", idempotency_key: "k-busy")
      queue.run_next
      queue.run_next
      queue.run_next
    end
    expect(queue.entries).to be_empty
    expect(only(WeCom::Delivery.all)).to have_attributes(status: "failed", errcode: -1, attempts: 3)
    expect(only(events)[:attempts]).to eq(3)
  ensure
    WeCom::DeliveryJob.max_attempts = previous
  end

  it "waits as the backoff says when the error does not say" do
    previous = WeCom::DeliveryJob.backoff
    WeCom::DeliveryJob.backoff = ->(executions) { 100 * executions }
    emulator.fail_next(-1, times: 2, path: send_path)
    WeCom.deliver_later(:text, "hi", to: "zhangsan")
    queue.run_next
    expect(only(queue.entries).wait).to be_between(99, 116)
    queue.run_next
    expect(only(queue.entries).wait).to be_between(199, 231)
  ensure
    WeCom::DeliveryJob.backoff = previous
  end

  it "reports a discarded job to Rails.error where Rails has it (Rails 7+)" do
    reported = []
    errors = Object.new
    errors.define_singleton_method(:report) { |error, **options| reported << [error, options] }
    stub_const("Rails", Module.new).define_singleton_method(:error) { errors }
    emulator.fail_next(40_003, path: send_path)
    WeCom.deliver_later(:text, "hi", to: "bad id", idempotency_key: "k-report")
    queue.run_all
    error, options = only(reported)
    expect(error.errcode).to eq(40_003)
    expect(options).to include(handled: true)
    expect(options[:context]).to include(idempotency_key: "k-report", attempts: 1)
  end

  it "sends any type by name with WeCom::Client#deliver" do
    client = WeCom::Client.new
    client.deliver(:markdown, "**3** interviews", to: "zhangsan")
    client.deliver(:message, :text, { content: "raw" }, to: "lisi")
    expect(emulator.messages.map { |m| [m["msgtype"], m["touser"]] }).to eq([%w[markdown zhangsan], %w[text lisi]])
    expect { client.deliver(:postcard, "x", to: "u") }.to raise_error(ArgumentError, /type must be one of/)
  end

  it "waits while another job holds the key, then finds it delivered" do
    WeCom.deliver_later(:text, "hi", to: "zhangsan", idempotency_key: "k-busy")
    job_id = queue.entries.first.data["job_id"]
    held = WeCom::Delivery.create!(idempotency_key: "k-busy", job_id: "other", msgtype: "text", recipients: {},
                                   attempts: 1, locked_until: Time.now + 40, first_attempted_at: Time.now)
    queue.run_next
    expect(emulator.messages).to be_empty
    expect(only(queue.entries).wait).to be_between(2.9, 3.5) # the backoff, shorter than the lease
    expect(only(queue.entries).data["job_id"]).to eq(job_id)

    held.update!(status: "sent", msgid: "from-the-other-job", locked_until: nil)
    queue.run_next
    expect(emulator.messages).to be_empty
    expect(held.reload).to have_attributes(status: "sent", msgid: "from-the-other-job", attempts: 1)
  end

  it "takes over a key whose holder died once its lease ran out" do
    WeCom::Delivery.create!(idempotency_key: "k-dead", job_id: "dead", msgtype: "text", recipients: {}, attempts: 1,
                            locked_until: Time.now - 1, first_attempted_at: Time.now - 301)
    WeCom.deliver_later(:text, "hi", to: "zhangsan", idempotency_key: "k-dead")
    queue.run_all
    expect(contents).to eq(["hi"])
    expect(only(WeCom::Delivery.all)).to have_attributes(status: "sent", attempts: 2)
  end

  it "fails, without sending, a lost answer that WeCom's duplicate check no longer covers" do
    WeCom::Delivery.create!(idempotency_key: "k-old", job_id: "old", msgtype: "text", recipients: {}, attempts: 1,
                            delivery_unknown: true, first_attempted_at: Time.now - (4 * 3600) + 60)
    events = discards do
      WeCom.deliver_later(:text, "hi", to: "zhangsan", idempotency_key: "k-old")
      queue.run_all
    end
    expect(emulator.messages).to be_empty
    expect(only(WeCom::Delivery.all)).to have_attributes(status: "failed", error_class: "WeCom::DeliveryUnknownError",
                                                    delivery_unknown: true)
    expect(only(events)[:error]).to be_a(WeCom::DeliveryUnknownError).and(be_delivery_unknown)
  end

  it "records the recipients WeCom reported invalid" do
    directory = start_emulator(**credentials, users: %w[zhangsan])
    WeCom.configure { |c| c.base_url = directory.base_url }
    WeCom.deliver_later(:text, "hi", to: %w[zhangsan ghost], idempotency_key: "k-invalid")
    queue.run_all
    expect(only(WeCom::Delivery.all).invalid_recipients)
      .to eq("users" => ["ghost"], "parties" => [], "tags" => [], "unlicensed_users" => [])
  end

  it "sends as the app given, and WeCom::DeliveryJob can be used directly" do
    hr = start_emulator(corp_id: credentials[:corp_id], secret: "hr-secret", agent_id: 1_000_005)
    WeCom.configure { |c| c.app :hr, secret: "hr-secret", agent_id: 1_000_005, base_url: hr.base_url }
    WeCom::DeliveryJob.perform_later(:markdown, "**3** interviews today", to: "zhangsan", app: :hr,
                                                                          idempotency_key: "digest-1")
    queue.run_all
    expect(only(hr.messages)).to include("msgtype" => "markdown", "agentid" => 1_000_005)
    expect(emulator.messages).to be_empty
    expect(only(WeCom::Delivery.all)).to have_attributes(app: "hr", status: "sent")
  end

  context "without the delivery log" do
    let(:delivery_log) { false }

    it "still delivers a key once within the duplicate-check window, and logs nothing" do
      2.times { WeCom.deliver_later(:text, "Interview at 15:00", to: "zhangsan", idempotency_key: "interview-42") }
      queue.run_all
      expect(contents).to eq(["Interview at 15:00"])
      expect(emulator.requests.count { |r| r[:path] == send_path }).to eq(2)
      expect(WeCom::Delivery.count).to eq(0)
    end

    it "discards a permanent error and reports it" do
      emulator.fail_next(40_003, path: send_path)
      events = discards do
        WeCom.deliver_later(:text, "hi", to: "bad id")
        queue.run_all
      end
      expect(only(events)[:error].errcode).to eq(40_003)
    end
  end

  context "in test mode" do
    before { WeCom.delivery_method = :test }
    after { WeCom.delivery_method = :live }

    it "records instead of enqueueing, once per idempotency key" do
      recorded = WeCom.deliver_later(:text, "Interview at 15:00", to: "zhangsan", idempotency_key: "interview-42")
      again = WeCom.deliver_later(:text, "Interview at 15:00", to: "zhangsan", idempotency_key: "interview-42")
      WeCom.deliver_later(:text, "Interview at 16:00", to: "zhangsan", wait: 60)
      expect(again).to eq(recorded)
      expect(queue.entries).to be_empty
      expect(emulator.messages).to be_empty
      expect(WeCom::Testing.deliveries.map { |d| [d.text, d.idempotency_key, d.later] })
        .to eq([["Interview at 15:00", "interview-42", true], ["Interview at 16:00", nil, true]])
    ensure
      WeCom::Testing.clear!
    end
  end
end
