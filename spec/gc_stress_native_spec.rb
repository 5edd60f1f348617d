# frozen_string_literal: true

require "securerandom"
require "stringio"

# Every method the extension defines (WeCom::Native and its classes), called once with the
# smallest data that reaches its Ruby-value handling. The examples tagged gc_stress run again
# under GC.stress in bin/test (WECOM_GC_STRESS=1): every allocation then runs a full GC, so a
# Ruby value the Rust side holds without keeping it alive is freed at once and the call crashes.
# Only the call runs under it (`calm` ends it before the expectation).
#
# "covers every native method" checks, with a TracePoint on C calls, that each entry reaches
# the native method it is named after, and that no native method is without an entry.
RSpec.describe "Every native method, small and under GC.stress" do
  token = "gcStressToken"
  aes_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
  receive_id = "corp"
  # A path no client calls: faults set on it never fire.
  unused_path = "/cgi-bin/gc-stress-unused"

  # The parts each call uses, made once outside GC.stress (before(:all) runs outside `around`).
  parts = Struct.new(:emulator, :native_emulator, :client, :native_client, :callback, :wecom_side, :webhook,
                     :task_id, :message, :callback_params, :callback_body, :reply_xml)

  before(:all) do
    emulator = WeCom::Emulator.start(corp_id: receive_id)
    client = WeCom::Client.new(corp_id: receive_id, secret: emulator.secret, agent_id: emulator.agent_id,
                               base_url: emulator.base_url)
    task_id = "gc-#{SecureRandom.hex(4)}"
    client.send_template_card({ card_type: "button_interaction", task_id: task_id,
                                main_title: { title: "Interview" }, button_list: [{ text: "Accept", key: "accept" }] },
                              to: "zhangsan")
    callback = WeCom::Callback.new(token: token, encoding_aes_key: aes_key, receive_id: receive_id)
    wecom_side = WeCom::Native::Callback.new(token, aes_key, receive_id)
    signature, timestamp, nonce, body = wecom_side.sign_message(
      { "ToUserName" => receive_id, "FromUserName" => "zhangsan", "CreateTime" => Time.now.to_i.to_s,
        "MsgType" => "text", "Content" => "hi", "MsgId" => "1", "AgentID" => "1000002" }, Time.now.to_i.to_s
    )
    params = { "msg_signature" => signature, "timestamp" => timestamp, "nonce" => nonce }
    message = callback.parse(params, body)
    @parts = parts.new(emulator, emulator.instance_variable_get(:@native), client, client.send(:native), callback,
                       wecom_side, WeCom::Webhook.new(key: emulator.robot_url("gc-robot")), task_id, message, params,
                       body, callback.reply(message, text: "ok"))
  end

  after(:all) { @parts.emulator.stop }

  # The call's value, with GC.stress turned off for the rest of the example: the native call runs
  # under it, RSpec's matchers (thousands of allocations, a full GC each) do not.
  def calm(value)
    GC.stress = false
    value
  end

  # Native method → a call that reaches it (through the public Ruby API where there is one) and
  # checks what came back.
  calls = {
    "WeCom::Native.ca_file_problem" => ->(x) { expect(calm(WeCom::Native.ca_file_problem("/no/such.pem"))).to be_a(String) },
    "WeCom::Native.check_json" => ->(x) { expect(calm(WeCom::Native.check_json({ "content" => "hi" }, "text"))).to be_nil },
    "WeCom::Native.js_sdk_sign" => lambda do |x|
      expect(calm(WeCom::JsSdk.sign(ticket: "t", nonce_str: "n", timestamp: 1, url: "https://a.example/"))).to match(/\A\h{40}\z/)
    end,
    "WeCom::Native.panic_for_test" => lambda do |x|
      error = begin
        WeCom::Native.panic_for_test("ruby")
      rescue WeCom::Error => e
        e
      end
      expect(calm(error)).to be_a(WeCom::Error).and(have_attributes(message: /internal error/i))
    end,
    "WeCom::Native.record_request_events" => lambda do |x|
      WeCom::Native.record_request_events # until the next take
      # The native send itself: the Ruby layer's instrumentation would take the events first.
      x.native_client.send_message(WeCom::Client.check(:text, "recorded", to: "zhangsan"))
      expect(calm(WeCom::Native.take_request_events.map { |event| event[:path] })).to include("/cgi-bin/message/send")
    end,
    "WeCom::Native.take_request_events" => lambda do |x|
      WeCom::Native.record_request_events
      x.native_client.send_message(WeCom::Client.check(:markdown, "**events**", to: "zhangsan"))
      event = calm(WeCom::Native.take_request_events.last)
      expect(event).to include(path: "/cgi-bin/message/send", attempt: 0, errcode: 0)
    end,
    "WeCom::Native::Callback.new" => lambda do |x|
      expect(calm(WeCom::Callback.new(token: token, encoding_aes_key: aes_key, receive_id: receive_id))).to be_a(WeCom::Callback)
    end,
    "WeCom::Native::Callback#open" => ->(x) { expect(calm(x.callback.parse(x.callback_params, x.callback_body).content)).to eq("hi") },
    "WeCom::Native::Callback#open_reply" => ->(x) { expect(calm(x.wecom_side.open_reply(x.reply_xml)["Content"])).to eq("ok") },
    "WeCom::Native::Callback#seal" => ->(x) { expect(calm(x.callback.reply(x.message, text: "sealed"))).to include("<Encrypt>") },
    "WeCom::Native::Callback#sign_message" => lambda do |x|
      expect(calm(x.wecom_side.sign_message({ "ToUserName" => receive_id, "MsgType" => "text" }, "1").size)).to eq(4)
    end,
    "WeCom::Native::Callback#sign_url_check" => ->(x) { expect(calm(x.wecom_side.sign_url_check("echo", Time.now.to_i.to_s).size)).to eq(4) },
    "WeCom::Native::Callback#verify_url" => lambda do |x|
      signature, timestamp, nonce, echostr = x.wecom_side.sign_url_check("echo", Time.now.to_i.to_s)
      params = { "msg_signature" => signature, "timestamp" => timestamp, "nonce" => nonce, "echostr" => echostr }
      expect(calm(x.callback.verify_url(params))).to eq("echo")
    end,
    "WeCom::Native::Claims.new" => ->(x) { expect(calm(WeCom::Callback::Claims.new)).to be_a(WeCom::Callback::Claims) },
    "WeCom::Native::Claims#claim" => ->(x) { expect(calm(WeCom::Callback::Claims.new.claim("k", 5))).to be_a(String) },
    "WeCom::Native::Claims#release" => lambda do |x|
      claims = WeCom::Callback::Claims.new
      claims.release("k", claims.claim("k", 5))
      expect(calm(claims.claim("k", 5))).to be_a(String)
    end,
    "WeCom::Native::Claims#renew" => lambda do |x|
      claims = WeCom::Callback::Claims.new
      expect(calm(claims.renew("k", claims.claim("k", 5), 5))).to be(true)
    end,
    "WeCom::Native::Claims#renews?" => ->(x) { expect(calm(WeCom::Callback::Claims.new.renews?)).to be(true) },
    "WeCom::Native::Client.new" => ->(x) { expect(calm(x.emulator.client.corp_id)).to eq(receive_id) },
    "WeCom::Native::Client#access_token" => ->(x) { expect(calm(x.client.access_token)).to be_a(String) },
    "WeCom::Native::Client#agent_id" => ->(x) { expect(calm(x.native_client.agent_id)).to eq(x.emulator.agent_id) },
    "WeCom::Native::Client#base_url" => ->(x) { expect(calm(x.native_client.base_url)).to eq(x.emulator.base_url) },
    "WeCom::Native::Client#corp_id" => ->(x) { expect(calm(x.native_client.corp_id)).to eq(receive_id) },
    "WeCom::Native::Client#call" => lambda do |x|
      chat = x.client.create_chat(name: "GC", owner: "zhangsan", users: %w[zhangsan lisi])
      expect(calm(x.client.chat(chat).users)).to eq(%w[zhangsan lisi])
    end,
    "WeCom::Native::Client#deliver_message" => lambda do |x|
      expect(calm(x.client.send_news([{ title: "t", url: "https://a.example/" }], to: "zhangsan").msgid)).to be_a(String)
    end,
    "WeCom::Native::Client#send_message" => lambda do |x|
      expect(calm(x.native_client.send_message(WeCom::Client.check(:text, "hi", to: "zhangsan"))[:msgids].size)).to eq(1)
    end,
    # Directly: Client#send_text takes this path only while nothing subscribes to its events.
    "WeCom::Native::Client#send_quick" => lambda do |x|
      expect(calm(x.native_client.send_quick("text", "quick", { to: %w[zhangsan lisi] }).msgid)).to be_a(String)
    end,
    "WeCom::Native::Client#send_prepared" => lambda do |x|
      quick = WeCom::Native::QuickMessage.read("text", "prepared", { to: %w[zhangsan lisi] })
      expect(calm(x.native_client.send_prepared(quick).msgid)).to be_a(String)
    end,
    "WeCom::Native::QuickMessage.read" => lambda do |x|
      expect(calm(WeCom::Native::QuickMessage.read("markdown", "**q**", { to: "zhangsan", party: [2] }))).to be_a(WeCom::Native::QuickMessage)
    end,
    "WeCom::Native::QuickMessage#counts" => lambda do |x|
      expect(calm(WeCom::Native::QuickMessage.read("text", "q", { to: %w[a b], tag: "7" }).counts)).to eq([2, 0, 1, false])
    end,
    "WeCom::Native::Client#send_batch" => lambda do |x|
      results = x.client.send_batch([{ type: :text, content: "a", to: "zhangsan" }, { type: :markdown, content: "**b**", to: "lisi" }])
      expect(calm(results.map(&:class))).to eq([WeCom::Result, WeCom::Result])
    end,
    "WeCom::Native::Client#recall" => ->(x) { expect(calm(x.client.recall(x.client.send_text("oops", to: "zhangsan").msgid))).to be(true) },
    "WeCom::Native::Client#userid_by" => lambda do |x|
      expect(calm(x.client.userid_by_mobile(x.emulator.member("zhangsan")[:mobile]))).to eq("zhangsan")
    end,
    "WeCom::Native::Client#upload_media" => lambda do |x|
      expect(calm(x.client.upload_media(StringIO.new("a small file"), type: :file, filename: "a.txt"))).to be_a(String)
    end,
    "WeCom::Native::Client#ticket" => ->(x) { expect(calm(x.client.jsapi_ticket)).to be_a(String) },
    "WeCom::Native::Client#ticket_expires_in" => ->(x) { expect(calm(x.client.jsapi_ticket_expires_in)).to be_a(Numeric).or(be_nil) },
    "WeCom::Native::Client#invalidate_ticket" => lambda do |x|
      expect(calm(x.client.invalidate_agent_ticket(x.client.agent_ticket))).not_to be_a(Exception)
    end,
    "WeCom::Native::Client#js_sdk_signature" => lambda do |x|
      expect(calm(x.client.js_sdk_signature(url: "https://a.example/page#x"))).to include(:signature)
    end,
    "WeCom::Native::Client#token_expires_in" => ->(x) { expect(calm(x.client.token_expires_in)).to be_a(Numeric).or(be_nil) },
    "WeCom::Native::Webhook.new" => ->(x) { expect(calm(WeCom::Webhook.new(key: "k", base_url: x.emulator.base_url))).to be_a(WeCom::Webhook) },
    "WeCom::Native::Webhook#send_message" => ->(x) { expect(calm(x.webhook.send_markdown("**hi**"))).to be(true) },
    "WeCom::Native::Webhook#upload_media" => ->(x) { expect(calm(x.webhook.upload_media(StringIO.new("a small file"), filename: "f.txt"))).to be_a(String) },
    "WeCom::Native::Emulator.start" => ->(x) { WeCom::Emulator.run(max_records: 1) { |emu| expect(calm(emu.port)).to be_positive } },
    "WeCom::Native::Emulator#stop" => ->(x) { expect(calm(WeCom::Emulator.start.stop)).to be_nil },
    "WeCom::Native::Emulator#age_response_codes" => ->(x) { expect(calm(x.emulator.age_response_codes(1))).to be_nil },
    "WeCom::Native::Emulator#base_url" => ->(x) { expect(calm(x.emulator.base_url)).to start_with("http://127.0.0.1:") },
    "WeCom::Native::Emulator#port" => ->(x) { expect(calm(x.emulator.port)).to be_positive },
    "WeCom::Native::Emulator#cards" => ->(x) { expect(calm(x.emulator.cards)).not_to be_empty },
    "WeCom::Native::Emulator#card_updates" => ->(x) { expect(calm(x.emulator.card_updates)).to be_an(Array) },
    "WeCom::Native::Emulator#chats" => ->(x) { expect(calm(x.emulator.chats)).to be_an(Array) },
    "WeCom::Native::Emulator#chat_messages" => ->(x) { expect(calm(x.emulator.chat_messages)).to be_an(Array) },
    "WeCom::Native::Emulator#click" => lambda do |x|
      agent_id, event = x.native_emulator.click(x.task_id, "zhangsan", "accept", [])
      expect(calm([agent_id, event["EventKey"]])).to eq([x.emulator.agent_id, "accept"])
    end,
    "WeCom::Native::Emulator#clear" => ->(x) { expect(calm(WeCom::Emulator.run { |emu| emu.clear! })).to be_nil },
    "WeCom::Native::Emulator#counts" => ->(x) { expect(calm(x.emulator.counts)).to include(:messages) },
    "WeCom::Native::Emulator#received_since" => ->(x) { expect(calm(x.emulator.received_since({}))).to include(:counts, :messages) },
    "WeCom::Native::Emulator#max_records" => ->(x) { expect(calm(x.emulator.max_records)).to eq(WeCom::Emulator::DEFAULT_MAX_RECORDS) },
    "WeCom::Native::Emulator#messages" => ->(x) { expect(calm(x.emulator.messages)).not_to be_empty },
    "WeCom::Native::Emulator#requests" => ->(x) { expect(calm(x.emulator.requests)).not_to be_empty },
    "WeCom::Native::Emulator#uploads" => ->(x) { expect(calm(x.emulator.uploads)).to be_an(Array) },
    "WeCom::Native::Emulator#robot_messages" => ->(x) { expect(calm(x.emulator.robot_messages)).to be_an(Array) },
    "WeCom::Native::Emulator#recalled" => ->(x) { expect(calm(x.emulator.recalled)).to be_an(Array) },
    "WeCom::Native::Emulator#sign_in_as" => ->(x) { expect(calm(x.emulator.sign_in_as("zhangsan"))).to be_nil },
    "WeCom::Native::Emulator#sign_in_outsider" => ->(x) { expect(calm(x.emulator.sign_in_outsider(openid: "o1", external_userid: "wm1"))).to be_nil },
    "WeCom::Native::Emulator#sign_in_codes" => ->(x) { expect(calm(x.emulator.sign_in_codes)).to be >= 0 },
    "WeCom::Native::Emulator#age_sign_in_codes" => ->(x) { expect(calm(x.emulator.age_sign_in_codes(1))).to be_nil },
    "WeCom::Native::Emulator#member" => ->(x) { expect(calm(x.emulator.member("zhangsan"))).to include(userid: "zhangsan") },
    "WeCom::Native::Emulator#directory_calls" => ->(x) { expect(calm(x.emulator.directory_calls)).to be >= 0 },
    "WeCom::Native::Emulator#token_requests" => ->(x) { expect(calm(x.emulator.token_requests)).to be >= 0 },
    "WeCom::Native::Emulator#max_in_flight" => ->(x) { expect(calm(x.emulator.max_in_flight)).to be >= 0 },
    "WeCom::Native::Emulator#ticket_requests" => ->(x) { expect(calm(x.emulator.ticket_calls)).to include(:jsapi, :agent) },
    "WeCom::Native::Emulator#ticket_ttl=" => ->(x) { expect(calm(x.emulator.ticket_ttl = 7200)).to eq(7200) },
    "WeCom::Native::Emulator#js_sdk_checks" => ->(x) { expect(calm(x.emulator.js_sdk_checks)).to be_an(Array) },
    "WeCom::Native::Emulator#latency=" => ->(x) { expect(calm(x.emulator.latency = 0)).to eq(0) },
    "WeCom::Native::Emulator#expire_tokens" => ->(x) { expect(calm(x.emulator.expire_tokens!)).not_to be_a(Exception) },
    "WeCom::Native::Emulator#expire_tickets" => ->(x) { expect(calm(x.emulator.expire_tickets!)).not_to be_a(Exception) },
    "WeCom::Native::Emulator#fail_next" => ->(x) { expect(calm(x.emulator.fail_next(45009, path: unused_path))).not_to be_a(Exception) },
    "WeCom::Native::Emulator#fail_next_http" => ->(x) { expect(calm(x.emulator.fail_next_http(502, path: unused_path))).not_to be_a(Exception) },
    "WeCom::Native::Emulator#drop_next" => ->(x) { expect(calm(x.emulator.drop_next(path: unused_path))).not_to be_a(Exception) },
    "WeCom::Native::Emulator#delay_next" => ->(x) { expect(calm(x.emulator.delay_next(0.01, path: unused_path))).not_to be_a(Exception) },
  }

  # Larger values through the conversions every entry above reaches with small ones: each JSON
  # kind nested in a message body, a callback's nested selected items, a recursive Hash refused.
  larger = {
    "a message body holding every JSON kind, nested" => lambda do |x|
      body = { card_type: :text_notice, main_title: { title: "Hi" }, ratio: 1.5, count: 3, none: nil,
               flags: [true, false], tags: %i[a b], nested: [[1, "x"], { deep: "y", "键" => "值" }] }
      x.native_client.send_message(WeCom::Client.check(:template_card, body, to: "zhangsan"))
      expect(calm(x.emulator.messages.last["template_card"])).to eq(
        "card_type" => "text_notice", "main_title" => { "title" => "Hi" }, "ratio" => 1.5, "count" => 3, "none" => nil,
        "flags" => [true, false], "tags" => %w[a b], "nested" => [[1, "x"], { "deep" => "y", "键" => "值" }]
      )
    end,
    "a template_card_event with its selected items" => lambda do |x|
      items = [{ "QuestionKey" => "q1", "OptionIds" => { "OptionId" => %w[a b] } },
               { "QuestionKey" => "q2", "OptionIds" => { "OptionId" => "c" } }]
      signature, timestamp, nonce, body = x.wecom_side.sign_message(
        { "ToUserName" => receive_id, "FromUserName" => "zhangsan", "CreateTime" => Time.now.to_i.to_s,
          "MsgType" => "event", "Event" => "template_card_event", "EventKey" => "accept", "TaskId" => "t1",
          "SelectedItems" => { "SelectedItem" => items } }, Time.now.to_i.to_s
      )
      event = x.callback.parse({ "msg_signature" => signature, "timestamp" => timestamp, "nonce" => nonce }, body)
      expect(calm(event.selected_items.map(&:to_h))).to eq([{ question_key: "q1", option_ids: %w[a b] },
                                                            { question_key: "q2", option_ids: ["c"] }])
    end,
    "a recursive Hash, refused" => lambda do |x|
      body = { content: "hi" }
      body[:again] = body
      error = begin
        WeCom::Native.check_json(body, "text")
      rescue ArgumentError => e
        e
      end
      expect(calm(error)).to be_an(ArgumentError).and(have_attributes(message: /is it recursive\?/))
    end,
  }

  # "Class#method" / "Class.method" for every method the extension defines.
  def self.native_methods(mod = WeCom::Native, names = [])
    mod.singleton_methods(false).each { |name| names << "#{mod.name}.#{name}" }
    mod.instance_methods(false).each { |name| names << "#{mod.name}##{name}" } if mod.is_a?(Class)
    mod.constants.map { |name| mod.const_get(name) }.grep(Module).each do |inner|
      native_methods(inner, names) if inner.name.start_with?("WeCom::Native")
    end
    names
  end

  # The native modules and classes, and their singleton classes, as a C call's owner → the
  # prefix of its name in `calls`.
  def self.native_owners(mod = WeCom::Native, owners = {})
    owners[mod] = "#{mod.name}#"
    owners[mod.singleton_class] = "#{mod.name}."
    mod.constants.map { |name| mod.const_get(name) }.grep(Module).each do |inner|
      native_owners(inner, owners) if inner.name.start_with?("WeCom::Native")
    end
    owners
  end

  it "covers every native method, each entry reaching the method it is named after" do
    expect(calls.keys).to match_array(self.class.native_methods)
    owners = self.class.native_owners
    unreached = calls.reject do |name, call|
      reached = []
      trace = TracePoint.new(:c_call) do |tp|
        prefix = owners[tp.defined_class]
        reached << "#{prefix}#{tp.method_id}" if prefix
      end
      trace.enable { instance_exec(@parts, &call) }
      reached.include?(name)
    end
    expect(unreached.keys).to eq([])
  end

  calls.merge(larger).each do |name, call|
    it "#{name} keeps its Ruby values alive", gc_stress: true do
      instance_exec(@parts, &call)
    end
  end

  it "survives heap compaction between native calls (GC.verify_compaction_references)" do
    before = @parts.client.send_text("before compaction", to: "zhangsan").msgid
    # Ruby 3.3 renamed double_heap: to expand_heap:.
    grow = GC.method(:verify_compaction_references).parameters.any? { |_, name| name == :expand_heap } ? :expand_heap : :double_heap
    GC.verify_compaction_references(toward: :empty, grow => true)
    after = @parts.client.send_text("after compaction", to: "zhangsan").msgid
    opened = @parts.callback.parse(@parts.callback_params, @parts.callback_body)
    GC.compact
    expect([before, after]).to all(be_a(String))
    expect(opened.content).to eq("hi")
    expect(@parts.wecom_side.open_reply(@parts.callback.reply(opened, text: "compacted"))["Content"]).to eq("compacted")
    expect(@parts.emulator.messages.last(2).map { |m| m["text"]["content"] }).to eq(["before compaction", "after compaction"])
  end
end
