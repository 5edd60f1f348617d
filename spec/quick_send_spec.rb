# frozen_string_literal: true

require "active_support"
require "active_support/notifications"

# send_text and send_markdown read plain arguments natively (ext/wecom/src/quick_send.rs) and
# leave anything unusual to the Ruby path. Both paths must send the same JSON and raise the same
# errors; these examples send each case both ways (the Ruby path by turning the native one off)
# and compare what the emulator received. With a "deliver.wecom" subscriber — every Rails app has
# one, the log subscriber — the native path still sends, inside the event.
RSpec.describe "the native send path of send_text and send_markdown" do
  # Subscribers other specs left behind (a LogSubscriber) would send everything the Ruby way.
  around do |example|
    notifier = ActiveSupport::Notifications.notifier
    ActiveSupport::Notifications.notifier = ActiveSupport::Notifications::Fanout.new
    example.run
  ensure
    ActiveSupport::Notifications.notifier = notifier
  end

  # What WeCom received, without the content (which differs per send).
  def received
    emulator.messages.last.except("text", "markdown")
  end

  def via_ruby_path
    allow(client).to receive(:quick_send).and_return(nil)
    yield
  ensure
    RSpec::Mocks.space.proxy_for(client).reset
  end

  # The native send methods a block called (a TracePoint on C calls).
  def native_calls
    calls = []
    sends = %i[send_quick send_prepared deliver_message]
    trace = TracePoint.new(:c_call) do |tp|
      calls << tp.method_id if tp.defined_class == WeCom::Native::Client && sends.include?(tp.method_id)
    end
    trace.enable { yield }
    calls
  end

  # Sends `content` with `options` by both paths; returns [quick result, Ruby result].
  def both_ways(type, options, content: "Interview at 15:00")
    quick = client.public_send(:"send_#{type}", "#{content} (1)", **options)
    quick_json = received
    slow = via_ruby_path { client.public_send(:"send_#{type}", "#{content} (2)", **options) }
    expect(received).to eq(quick_json)
    expect(emulator.messages.last(2).map { |m| m[type.to_s] })
      .to eq([1, 2].map { |i| { "content" => "#{content} (#{i})".dup.force_encoding(Encoding::UTF_8) } })
    [quick, slow]
  end

  COMMON = [
    { to: "zhangsan" },
    { to: %w[zhangsan lisi zhangsan] },
    { to: :all },
    { to: "@all", party: 2 },
    { to: %w[a @all] },
    { party: [2, 3, 2], tag: "7" },
    { to: "zhangsan", tag: [1], safe: true, id_trans: 1, duplicate_check: true },
    { to: "zhangsan", safe: false, id_trans: nil, duplicate_check: 600 },
    { to: "zhangsan", duplicate_check: false },
    { to: [], party: ["2"] },
  ].freeze

  COMMON.each do |options|
    it "sends #{options.inspect} natively, as the Ruby path does" do
      allow(WeCom::AppMessage).to receive(:new).and_call_original
      quick, = both_ways(:text, options)
      expect(WeCom::AppMessage).to have_received(:new).once # by the Ruby path only
      expect(quick).to be_a(WeCom::Result).and be_frozen
      expect(quick.msgid).to be_a(String)
      expect(quick.msgids).to be_frozen
    end
  end

  # Valid, but not plain: the Ruby path normalises these, and sends what it always sent.
  UNUSUAL = [
    { to: "zhangsan|lisi" },
    { to: " zhangsan " },
    { to: :zhangsan },
    { to: [["zhangsan"], nil, "lisi"] },
    { to: "zhangsan", duplicate_check: 600.0 },
    { to: "zhangsan", party: 2**70 },
  ].freeze

  UNUSUAL.each do |options|
    it "sends #{options.inspect} as the Ruby path does" do
      both_ways(:markdown, options)
    end
  end

  it "returns the same Result both ways, invalid recipients included" do
    quick, slow = both_ways(:text, { to: %w[zhangsan nobody-here] })
    expect(quick.to_h.except(:msgid, :msgids)).to eq(slow.to_h.except(:msgid, :msgids))
    expect(quick.invalid_users).to eq(slow.invalid_users)
  end

  it "sends content in US-ASCII or BINARY (valid UTF-8) as the Ruby path does" do
    both_ways(:text, { to: "zhangsan" }, content: (+"plain").force_encoding(Encoding::US_ASCII))
    both_ways(:text, { to: "zhangsan" }, content: (+"面试 15:00").force_encoding(Encoding::BINARY))
  end

  it "sends content of exactly 2048 bytes, and refuses 2049 as the Ruby path does" do
    client.send_text("é" * 1024, to: "zhangsan")
    expect(emulator.messages.last["text"]["content"].bytesize).to eq(2048)
    expect { client.send_text("#{'é' * 1024}x", to: "zhangsan") }
      .to raise_error(ArgumentError, "content is 2049 bytes; WeCom allows at most 2048 bytes " \
                                     "(nothing was sent; shorten it or split it into several messages)")
  end

  # Each wrong send: it must raise what the Ruby path raises for it.
  WRONG = [
    ["", { to: "zhangsan" }],
    [" \t\n", { to: "zhangsan" }],
    [nil, { to: "zhangsan" }],
    [:hello, { to: "zhangsan", unknown: 1 }],
    ["hi", { to: "zhangsan", unknown: 1 }],
    ["hi", {}],
    ["hi", { to: [] }],
    ["hi", { to: "   " }],
    ["hi", { to: 1.5 }],
    ["hi", { to: "zhangsan", duplicate_check: 0 }],
    ["hi", { to: "zhangsan", duplicate_check: 14_401 }],
    ["hi", { to: "zhangsan", duplicate_check: "60" }],
    ["hi", { to: "\xff".b }],
    ["\xff".b, { to: "zhangsan" }],
    [123, { to: "zhangsan" }],
  ].freeze

  WRONG.each do |content, options|
    it "raises for send_text(#{content.inspect}, #{options.inspect}) what the Ruby path raises" do
      %i[send_text send_markdown].each do |method|
        expected = begin
          via_ruby_path { client.public_send(method, content, **options) }
          raise "the Ruby path accepted it"
        rescue ArgumentError => e
          e.message
        end
        expect(expected).not_to be_empty
        expect { client.public_send(method, content, **options) }.to raise_error(ArgumentError) { |e| expect(e.message).to eq(expected) }
      end
      expect(emulator.messages).to be_empty
    end
  end

  it "refuses a blank content with the field's name, as before" do
    expect { client.send_text(" ", to: "zhangsan") }.to raise_error(ArgumentError, "content must not be empty")
    expect { client.send_text("hi", to: "a|") }.not_to raise_error
    expect { client.send_text("hi", to: "|") }
      .to raise_error(ArgumentError, "no recipients: give to: (user ids or :all), party: or tag:")
  end

  it "records in test mode instead of sending, as before" do
    emulator
    WeCom.delivery_method = :test
    client.send_text("hi", to: "zhangsan")
    expect(WeCom::Testing.deliveries.last.to).to eq(["zhangsan"])
    expect(emulator.messages).to be_empty
  ensure
    WeCom.delivery_method = :live
    WeCom::Testing.clear!
  end

  it "publishes deliver.wecom to a subscriber, with the payload it always had" do
    events = []
    subscriber = ActiveSupport::Notifications.subscribe("deliver.wecom") { |*, payload| events << payload }
    result = client.send_text("hi", to: %w[a b], party: 2)
    expect(events).to eq([{ app: nil, msgtype: "text", users: 2, parties: 1, tags: 0, all: false, msgid: result.msgid }])
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  it "sends natively with a subscriber too, inside the event, with the payload the Ruby path gives" do
    events = []
    subscriber = ActiveSupport::Notifications.subscribe("deliver.wecom") { |*, payload| events << payload.except(:msgid) }
    (COMMON + UNUSUAL).each do |options|
      quick_calls = native_calls { client.send_markdown("quick", **options) }
      slow_calls = native_calls { via_ruby_path { client.send_markdown("slow", **options) } }
      expect(slow_calls).to include(:deliver_message)
      expect(quick_calls).to eq(UNUSUAL.include?(options) ? slow_calls : [:send_prepared])
      expect(events.pop).to eq(events.pop), options.inspect
    end
    expect(native_calls { client.send_text("hi", to: "zhangsan") }).to eq([:send_prepared])
    expect { client.send_text("hi", to: "zhangsan", unknown: 1) }.to raise_error(ArgumentError, /unknown/)
    expect(events.size).to eq(1) # the bad send published nothing
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  it "raises when a QuickMessage is sent twice (a message goes out once)" do
    quick = WeCom::Native::QuickMessage.read("text", "once", { to: "zhangsan" })
    expect(quick.counts).to eq([1, 0, 0, false])
    native = client.instance_variable_get(:@native)
    expect(native.send_prepared(quick)).to be_a(WeCom::Result)
    expect { native.send_prepared(quick) }.to raise_error(ArgumentError, /already sent/)
    expect(quick.counts).to be_nil
    expect(WeCom::Native::QuickMessage.read("news", "x", {})).to be_nil
    expect(WeCom::Native::QuickMessage.read("text", "", { to: "zhangsan" })).to be_nil
  end
end
