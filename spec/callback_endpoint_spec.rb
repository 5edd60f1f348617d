# frozen_string_literal: true

require "spec_helper"
require "active_job"
require "active_support/notifications"
require "base64"
require "digest"
require "logger"
require "net/http"
require "openssl"
require "stringio"

# WeCom::Callback::Endpoint served by a real Puma (in this process, or as separate `puma`
# processes for the fleet), with WeCom::Emulator playing WeCom over real HTTP: it signs and
# encrypts each callback, waits for the answer, retries, and decrypts the reply.
RSpec.describe WeCom::Callback::Endpoint do
  let(:token) { "tok#{SecureRandom.alphanumeric(20)}" }
  let(:aes_key) { Base64.strict_encode64(SecureRandom.random_bytes(32)).delete("=") }
  let(:corp_id) { emulator.corp_id }
  let(:log) { StringIO.new }
  let(:events) { [] }
  # WeCom's side, for the bad input the emulator would never send.
  let(:wecom) { WeCom::Native::Callback.new(token, aes_key, corp_id) }

  before do
    WeCom.configure do |c|
      c.corp_id = corp_id
      c.app :hr, secret: credentials[:secret], agent_id: credentials[:agent_id], callback_token: token,
                 callback_encoding_aes_key: aes_key
    end
    WeCom.logger = Logger.new(log)
    # Captured here, not a `let` evaluated from Puma's threads (RSpec's memoization lock).
    events = self.events
    @subscription = ActiveSupport::Notifications.subscribe("callback.wecom") do |*, payload|
      events << payload.dup
    end
  end

  after do
    ActiveSupport::Notifications.unsubscribe(@subscription)
    WeCom.logger = nil
    @servers&.each(&:stop)
  end

  # The endpoint for :hr, served by Puma in this process; its URL.
  def serve(handler, **options)
    server = PumaServer.start(described_class.new(:hr, handler, **options))
    (@servers ||= []) << server
    # Forget the helper's probe (a GET without WeCom's parameters).
    events.clear
    log.truncate(0)
    log.rewind
    server.url("/wecom/hr")
  end

  # A handler class whose rules are the block's; `runs` records every message a rule ran for.
  def handler(&rules)
    Class.new(WeCom::Callback::Handler, &rules)
  end

  # What the emulator delivers; by default one attempt with a generous timeout.
  def deliver(url, message, **options)
    emulator.deliver_callback(url, message, token: token, encoding_aes_key: aes_key,
                                            **{ timeout: 30, retries: 0 }.merge(options))
  end

  def text_message(content = "help", msg_id: SecureRandom.hex(8))
    { MsgType: "text", Content: content, FromUserName: "zhangsan", MsgId: msg_id }
  end

  # Claims in this process that record each "being handled" claim refused (a delivery waiting).
  class WatchedClaims < WeCom::Callback::Claims
    attr_reader :waits

    def initialize
      super(nil)
      @waits = 0
    end

    def claim(key, ttl)
      super.tap { |owner| @waits += 1 if owner.nil? && key.end_with?(":running") }
    end
  end

  # Claims that record every claim and renewal: [:claim or :renew, key, ttl].
  class RecordingClaims < WeCom::Callback::Claims
    attr_reader :calls

    def initialize(store = nil)
      super
      @calls = Queue.new
    end

    def claim(key, ttl)
      @calls << [:claim, key, ttl.to_f]
      super
    end

    def renew(key, owner, ttl)
      @calls << [:renew, key, ttl.to_f]
      super
    end

    def recorded
      Array.new(@calls.size) { @calls.pop }
    end
  end

  def statuses
    emulator.callback_attempts.map { |attempt| attempt[:status] }
  end

  # Waits (up to a deadline) until the block is true.
  def eventually(timeout: 30, what: "the condition")
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    until (value = yield)
      raise "timed out after #{timeout}s waiting for #{what}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.02
    end
    value
  end

  # A raw HTTP request to the endpoint, with `query` as its query string.
  def request(url, query, body: nil, method: :post, headers: {})
    uri = URI(url)
    uri.query = URI.encode_www_form(query)
    Net::HTTP.start(uri.host, uri.port, read_timeout: 30) do |http|
      if method == :get
        http.get(uri.request_uri)
      else
        http.post(uri.request_uri, body, { "Content-Type" => "text/xml" }.merge(headers))
      end
    end
  end

  # WeCom's envelope around `encrypt`, signed as WeCom signs it (written independently of the
  # extension: sha1 of the sorted token, timestamp, nonce and Encrypt).
  def signed_post(url, encrypt, timestamp: Time.now, signature: nil, token: self.token)
    stamp = timestamp.to_i.to_s
    nonce = SecureRandom.random_number(10**9).to_s
    signature ||= Digest::SHA1.hexdigest([token, stamp, nonce, encrypt].sort.join)
    body = "<xml><ToUserName><![CDATA[#{corp_id}]]></ToUserName><Encrypt><![CDATA[#{encrypt}]]></Encrypt>" \
           "<AgentID><![CDATA[#{credentials[:agent_id]}]]></AgentID></xml>"
    request(url, { msg_signature: signature, timestamp: stamp, nonce: nonce }, body: body)
  end

  # `plaintext` encrypted in WeCom's frame (16 random bytes, length, message, receive id, 32-byte
  # PKCS#7), with OpenSSL; `length:` and `pad:` make a broken frame.
  def encrypted(plaintext, receive_id: corp_id, length: nil, pad: nil)
    key = Base64.decode64("#{aes_key}=")
    frame = SecureRandom.random_bytes(16) + [length || plaintext.bytesize].pack("N") + plaintext.b + receive_id.b
    count = 32 - (frame.bytesize % 32)
    frame += (pad || count).chr * count
    cipher = OpenSSL::Cipher.new("aes-256-cbc").encrypt
    cipher.key = key
    cipher.iv = key[0, 16]
    cipher.padding = 0
    Base64.strict_encode64(cipher.update(frame) + cipher.final)
  end

  def text_xml(content, msg_id)
    "<xml><ToUserName><![CDATA[#{corp_id}]]></ToUserName><FromUserName><![CDATA[zhangsan]]></FromUserName>" \
      "<CreateTime>#{Time.now.to_i}</CreateTime><MsgType><![CDATA[text]]></MsgType>" \
      "<Content><![CDATA[#{content}]]></Content><MsgId>#{msg_id}</MsgId><AgentID>1000002</AgentID></xml>"
  end

  def expect_no_secrets(text)
    expect(text).not_to include(token)
    expect(text).not_to include(aes_key)
  end

  describe "the URL check (GET)" do
    let(:runs) { [] }
    let(:url) do
      runs = self.runs
      serve(handler { fallback { |msg| runs << msg } })
    end

    it "answers with the echostr's plaintext" do
      expect(emulator.verify_callback_url(url, token: token, encoding_aes_key: aes_key)).to be(true)
      expect(events.last).to include(endpoint: :hr, kind: :url_check, status: 200, duplicate: false)
    end

    it "refuses a tampered signature (403), missing parameters (400) and a stale timestamp (403); the handler never runs" do
      signature, stamp, nonce, echostr = wecom.sign_url_check("1234567", Time.now.to_i.to_s)
      tampered = signature.tr("0123456789abcdef", "123456789abcdef0")
      response = request(url, { msg_signature: tampered, timestamp: stamp, nonce: nonce, echostr: echostr }, method: :get)
      expect(response.code).to eq("403")
      expect(response.body).not_to include("1234567")

      expect(request(url, {}, method: :get).code).to eq("400")
      expect(request(url, { msg_signature: signature, timestamp: stamp, nonce: nonce }, method: :get).code).to eq("400")

      expect { emulator.verify_callback_url(url, token: token, encoding_aes_key: aes_key, timestamp: Time.now - 600) }
        .to raise_error(WeCom::Error, /answered 403/)
      expect { emulator.verify_callback_url(url, token: "another-token", encoding_aes_key: aes_key) }
        .to raise_error(WeCom::Error, /answered 403/)

      expect(runs).to be_empty
      expect(log.string).to include("CallbackSignatureInvalid", "CallbackParameterMissing", "CallbackStale")
      expect_no_secrets(log.string)
      expect(events.map { |event| event[:status] }).to eq([403, 400, 400, 403, 403])
      expect(events.map { |event| event[:error] }).to all(be_a(WeCom::CallbackError))
    end
  end

  describe "messages and events (POST)" do
    let(:runs) { Queue.new }
    let(:bot) do
      runs = self.runs
      handler do
        on :text, content: /\Ahelp\z/i do |msg|
          runs << [:help, msg.msg_id]
          reply text: "Commands: today, next"
        end
        on :event, event: "click", key: "TODAY" do |msg|
          runs << [:today, msg.from_user]
          reply news: [{ title: "Interview 10:00", description: "Room 3", url: "https://example.com/1" },
                       { title: "Interview 14:00", url: "https://example.com/2", picurl: "https://example.com/p.png" }]
        end
        on :template_card_event, key: "accept" do |ev|
          runs << [:accept, ev.task_id, ev.response_code]
          reply update_button: "Accepted"
        end
      end
    end

    it "replies text to `on :text, content: /\\Ahelp\\z/i`, encrypted (the emulator decrypts it)" do
      reply = deliver(serve(bot), text_message("HELP", msg_id: "7000001"))
      expect(reply).to include("MsgType" => "text", "Content" => "Commands: today, next", "ToUserName" => "zhangsan",
                               "FromUserName" => corp_id)
      expect(Integer(reply["CreateTime"])).to be_within(60).of(Time.now.to_i)
      expect(runs.pop).to eq([:help, "7000001"])
      expect(events.last).to include(endpoint: :hr, kind: :message, msg_type: :text, event: nil, duplicate: false,
                                     status: 200)
      expect(events.last[:duration]).to be_a(Float).and(be > 0)
    end

    it "replies news to `on :event, event: \"click\", key: \"TODAY\"`" do
      reply = deliver(serve(bot), { MsgType: "event", Event: "click", EventKey: "TODAY", FromUserName: "lisi" })
      expect(reply).to include("MsgType" => "news", "ArticleCount" => "2", "ToUserName" => "lisi")
      expect(reply["Articles"]["item"]).to eq(
        [{ "Title" => "Interview 10:00", "Description" => "Room 3", "PicUrl" => "", "Url" => "https://example.com/1" },
         { "Title" => "Interview 14:00", "Description" => "", "PicUrl" => "https://example.com/p.png",
           "Url" => "https://example.com/2" }]
      )
      expect(runs.pop).to eq([:today, "lisi"])
      expect(events.last).to include(msg_type: :event, event: "click")
    end

    it "replies update_button to `on :template_card_event, key: \"accept\"`" do
      reply = deliver(serve(bot), { MsgType: "event", Event: "template_card_event", EventKey: "accept",
                                    TaskId: "task-1", CardType: "button_interaction", ResponseCode: "rc-1",
                                    FromUserName: "zhangsan" })
      expect(reply).to include("MsgType" => "update_button", "Button" => { "ReplaceName" => "Accepted" })
      expect(runs.pop).to eq([:accept, "task-1", "rc-1"])
    end

    it "answers an empty 200 for a fallback without a reply, and for a message no rule takes" do
      fallbacks = Queue.new
      with_fallback = Class.new(bot) { fallback { |msg| fallbacks << msg.content } }
      expect(deliver(serve(with_fallback), text_message("what?"))).to be_nil
      expect(fallbacks.pop).to eq("what?")

      expect(deliver(serve(bot), text_message("what?"))).to be_nil
      expect(deliver(serve(bot), { MsgType: "event", Event: "click", EventKey: "OTHER", FromUserName: "a" })).to be_nil
      expect(runs).to be_empty
      expect(statuses).to eq([200, 200, 200])
    end

    it "refuses a stale POST (403) and one signed with another token (403)" do
      url = serve(bot)
      expect { deliver(url, text_message, timestamp: Time.now - 600) }.to raise_error(WeCom::Error, /403/)
      expect(signed_post(url, encrypted(text_xml("help", "1")), token: "another-token").code).to eq("403")
      expect(runs).to be_empty
      expect(log.string).to include("CallbackStale", "CallbackSignatureInvalid")
    end
  end

  describe "bad input: the handler never runs and nothing is claimed" do
    let(:runs) { Queue.new }
    let(:url) do
      runs = self.runs
      serve(handler do
        on :text do |msg|
          runs << msg.msg_id
          reply text: "handled #{msg.msg_id}"
        end
      end)
    end
    let(:msg_id) { "8#{SecureRandom.random_number(10**12)}" }

    # The valid message with the same MsgId, delivered afterwards, is handled: nothing was
    # claimed for it by the bad delivery.
    def expect_valid_delivery_handled
      expect(runs).to be_empty
      expect(deliver(url, text_message("help", msg_id: msg_id))).to include("Content" => "handled #{msg_id}")
      expect(runs.size).to eq(1)
      expect_no_secrets(log.string)
    end

    it "answers 413 to a body over 1 MB" do
      expect { deliver(url, text_message("x" * (1024 * 1024), msg_id: msg_id)) }.to raise_error(WeCom::Error, /413/)
      expect(statuses).to eq([413])
      expect(log.string).to match(/refused with 413 \(CallbackTooLarge\): the body is \d+ bytes/)
      expect_valid_delivery_handled
    end

    it "refuses a Content-Length over the limit without reading a byte of the body" do
      endpoint = described_class.new(:hr, Class.new(WeCom::Callback::Handler))
      input = Object.new
      def input.read(*)
        raise "the endpoint read the body"
      end
      status, = endpoint.call("REQUEST_METHOD" => "POST", "QUERY_STRING" => "msg_signature=a&timestamp=1&nonce=2",
                              "CONTENT_LENGTH" => (2 * 1024 * 1024).to_s, "rack.input" => input)
      expect(status).to eq(413)
      expect(log.string).to include("CallbackTooLarge", "the body is 2097152 bytes")
    end

    it "answers 400 to malformed XML, inside the encryption and around it" do
      unclosed = "<xml><MsgType>text</MsgType><Content>help</Content><MsgId>#{msg_id}</MsgId>"
      expect(signed_post(url, encrypted(unclosed)).code).to eq("400")
      response = request(url, { msg_signature: "a", timestamp: Time.now.to_i, nonce: "1" }, body: "<xml><Encrypt>abc")
      expect(response.code).to eq("400")
      expect(log.string.scan("CallbackMalformed").size).to eq(2)
      expect_valid_delivery_handled
    end

    it "answers 400 to a DOCTYPE (an entity) in the encrypted XML" do
      doctype = %(<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY who "zhangsan">]>) +
                text_xml("&who;", msg_id).sub("<![CDATA[zhangsan]]>", "&who;")
      expect(signed_post(url, encrypted(doctype)).code).to eq("400")
      expect(log.string).to include("CallbackMalformed")
      expect_valid_delivery_handled
    end

    it "answers 400 to bad base64, bad padding and a length past the end" do
      expect(signed_post(url, "not*base64!").code).to eq("400")
      expect(signed_post(url, encrypted(text_xml("help", msg_id), pad: 0)).code).to eq("400")
      expect(signed_post(url, encrypted(text_xml("help", msg_id), length: 100_000)).code).to eq("400")
      expect(log.string.scan("refused with 400 (CallbackMalformed)").size).to eq(3)
      expect_valid_delivery_handled
    end

    it "answers 403 to a message for another receive id" do
      expect { deliver(url, text_message("help", msg_id: msg_id), receive_id: "another-corp") }
        .to raise_error(WeCom::Error, /403/)
      expect(signed_post(url, encrypted(text_xml("help", msg_id), receive_id: "ww-other")).code).to eq("403")
      expect(log.string.scan("CallbackReceiveIdMismatch").size).to eq(2)
      expect_valid_delivery_handled
    end

    it "reads the body from its start, even when a middleware read it before" do
      runs = self.runs
      endpoint = described_class.new(:hr, handler { on(:text) { |msg| runs << msg.msg_id } })
      signature, stamp, nonce, body = wecom.sign_message(
        { "ToUserName" => corp_id, "FromUserName" => "u", "MsgType" => "text", "Content" => "hi", "MsgId" => msg_id },
        Time.now.to_i.to_s
      )
      input = StringIO.new(body)
      input.read
      status, = endpoint.call("REQUEST_METHOD" => "POST", "rack.input" => input, "CONTENT_LENGTH" => body.bytesize.to_s,
                              "QUERY_STRING" => URI.encode_www_form(msg_signature: signature, timestamp: stamp,
                                                                    nonce: nonce))
      expect(status).to eq(200)
      expect(runs.pop).to eq(msg_id)
    end

    it "answers 400 to missing parameters and 405 to other methods" do
      expect(request(url, {}, body: "<xml/>").code).to eq("400")
      uri = URI(url)
      response = Net::HTTP.start(uri.host, uri.port) { |http| http.request(Net::HTTP::Put.new(uri.path)) }
      expect(response.code).to eq("405")
      expect(response["allow"]).to eq("GET, POST")
      expect_valid_delivery_handled
    end
  end

  describe "WeCom's retries" do
    let(:runs) { Queue.new }

    it "runs the handler once for a retried message (same MsgId) and answers the retry with an empty 200" do
      runs = self.runs
      url = serve(handler do
        on(:text) do |msg|
          runs << msg.msg_id
          reply text: "once"
        end
      end)
      message = text_message("help", msg_id: "9000001")
      expect(deliver(url, message)).to include("Content" => "once")
      expect(deliver(url, message)).to be_nil
      expect(runs.size).to eq(1)
      expect(events.map { |event| event[:duplicate] }).to eq([false, true])
      expect(events.map { |event| event[:status] }).to eq([200, 200])
    end

    it "runs the handler once for a retried event (same sender, CreateTime, Event and key)" do
      runs = self.runs
      url = serve(handler { on(:click) { |ev| runs << ev.key } })
      click = { MsgType: "event", Event: "click", EventKey: "TODAY", FromUserName: "zhangsan",
                CreateTime: Time.now.to_i.to_s }
      2.times { expect(deliver(url, click)).to be_nil }
      expect(runs.size).to eq(1)
      expect(events.map { |event| event[:duplicate] }).to eq([false, true])
    end

    it "runs both of two different events of the same second (EventKey, TaskId, ResponseCode)" do
      runs = self.runs
      url = serve(handler do
        on(:click) { |ev| runs << [:click, ev.key] }
        on(:template_card_event) { |ev| runs << [:card, ev.task_id, ev.response_code] }
      end)
      second = Time.now.to_i.to_s
      base = { MsgType: "event", FromUserName: "zhangsan", CreateTime: second }
      deliver(url, base.merge(Event: "click", EventKey: "TODAY"))
      deliver(url, base.merge(Event: "click", EventKey: "NEXT"))
      card = base.merge(Event: "template_card_event", EventKey: "accept", CardType: "button_interaction")
      deliver(url, card.merge(TaskId: "task-1", ResponseCode: "rc-1"))
      deliver(url, card.merge(TaskId: "task-2", ResponseCode: "rc-2"))
      deliver(url, card.merge(TaskId: "task-2", ResponseCode: "rc-3"))
      deliver(url, card.merge(TaskId: "task-2", ResponseCode: "rc-3")) # WeCom's retry of the last one
      deliver(url, base.merge(Event: "click", EventKey: "TODAY", AgentID: "1000003")) # another app's menu
      expect(Array.new(runs.size) { runs.pop })
        .to eq([[:click, "TODAY"], [:click, "NEXT"], [:card, "task-1", "rc-1"], [:card, "task-2", "rc-2"],
                [:card, "task-2", "rc-3"], [:click, "TODAY"]])
      expect(events.map { |event| event[:duplicate] }).to eq([false, false, false, false, false, true, false])
    end

    it "does not run a slow handler twice: WeCom's retry waits for the first delivery and gets an empty 200" do
      runs = self.runs
      url = serve(handler do
        on(:text) do |msg|
          runs << msg.msg_id
          sleep 1.5
          reply text: "too late"
        end
      end)
      # WeCom gives up on the first attempt after 1 s and retries while the handler still runs.
      expect(deliver(url, text_message, timeout: 1, retries: 3)).to be_nil
      expect(statuses.first).to eq(:timeout)
      expect(statuses.last).to eq(200)
      expect(statuses).not_to include(500, 503)
      eventually(what: "both requests to be over") { events.size == statuses.size }
      expect(runs.size).to eq(1)
      expect(events.count { |event| event[:duplicate] }).to eq(statuses.size - 1)
      expect(log.string).to include("was already handled: a retry, answered with an empty 200")
    end

    it "answers 503 to a retry while the first delivery is still running past in_progress_wait" do
      gate = Queue.new
      started = Queue.new
      runs = self.runs
      url = serve(handler do
        on(:text) do |msg|
          started << true
          runs << msg.msg_id
          Timeout.timeout(30) { gate.pop }
          reply text: "done"
        end
      end, in_progress_wait: 0.3)
      message = text_message
      first = Thread.new { deliver(url, message) }
      Timeout.timeout(30) { started.pop }
      expect { deliver(url, message) }.to raise_error(WeCom::Error, /503/)
      gate << true
      expect(first.value).to include("Content" => "done")
      expect(deliver(url, message)).to be_nil
      expect(runs.size).to eq(1)
      expect(events.map { |event| [event[:status], event[:duplicate]] })
        .to contain_exactly([503, true], [200, false], [200, true])
      expect(log.string).to include("is still being handled after 0.3s: answered 503")
    end

    it "renews a long handler's 3 s lease while it runs: a retry 3.5 s in is still refused, and the handler runs once" do
      gate = Queue.new
      started = Queue.new
      runs = self.runs
      claims = RecordingClaims.new
      url = serve(handler do
        on(:text) do |msg|
          runs << msg.msg_id
          started << true
          Timeout.timeout(30) { gate.pop }
          reply text: "done"
        end
      end, claims: claims, in_progress_wait: 0.5)
      message = text_message
      first = Thread.new { deliver(url, message) }
      Timeout.timeout(30) { started.pop }
      sleep 3.5 # past the lease's first lifetime: only renewals keep it
      expect { deliver(url, message) }.to raise_error(WeCom::Error, /503/)
      gate << true
      expect(first.value).to include("Content" => "done")
      expect(runs.size).to eq(1)
      calls = claims.recorded
      expect(calls.find { |kind, key, _| kind == :claim && key.end_with?(":running") }.last).to eq(3.0)
      renewals = calls.select { |kind, _, _| kind == :renew }
      expect(renewals.size).to be >= 3
      expect(renewals.map(&:last).uniq).to eq([3.0])
    end

    it "claims for 60 s instead in a store that cannot renew (one written in Ruby without #renew)" do
      store = StoreWithoutRenew.new
      claims = RecordingClaims.new(store)
      url = serve(handler { on(:text) { reply text: "ok" } }, claims: claims)
      expect(deliver(url, text_message)).to include("Content" => "ok")
      calls = claims.recorded
      expect(calls.select { |kind, key, _| kind == :claim && key.end_with?(":running") }.map(&:last)).to eq([60.0])
      expect(calls.map(&:first)).not_to include(:renew)
    end

    it "runs the handler for a retry that waited on a first delivery that failed" do
      gate = Queue.new
      started = Queue.new
      attempts = 0
      url = serve(handler do
        on(:text) do
          attempts += 1
          if attempts == 1
            started << true
            Timeout.timeout(30) { gate.pop }
            raise "the first attempt fails"
          end
          reply text: "second try"
        end
      end, claims: (claims = WatchedClaims.new), in_progress_wait: 30)
      message = text_message
      first = Thread.new { deliver(url, message) rescue $! } # rubocop:disable Style/RescueModifier
      Timeout.timeout(30) { started.pop }
      retry_thread = Thread.new { deliver(url, message) }
      eventually(what: "the retry to wait") { claims.waits.positive? }
      gate << true
      expect(first.value).to be_a(WeCom::Error).and(have_attributes(message: /500/))
      expect(retry_thread.value).to include("Content" => "second try")
      expect(attempts).to eq(2)
    end

    it "answers 500 to a handler that raises, releases the claim so that WeCom's retry runs it again, and reports it" do
      attempts = 0
      url = serve(handler do
        on(:text) do
          attempts += 1
          raise ArgumentError, "boom #{attempts}" if attempts < 3

          reply text: "third time lucky"
        end
      end)
      expect(deliver(url, text_message, retries: 3)).to include("Content" => "third time lucky")
      expect(statuses).to eq([500, 500, 200])
      expect(attempts).to eq(3)
      expect(events.map { |event| event[:error]&.message }).to eq(["boom 1", "boom 2", nil])
      expect(events.map { |event| event[:status] }).to eq([500, 500, 200])
      expect(log.string).to include("raised ArgumentError: boom 1", "did not mark it handled, so WeCom's retry runs it again")
      expect_no_secrets(log.string)
    end

    it "answers 500 and releases the claim when the reply is not valid" do
      attempts = 0
      url = serve(handler do
        on(:text) do
          attempts += 1
          attempts == 1 ? reply(news: []) : reply(text: "fixed")
        end
      end)
      expect(deliver(url, text_message, retries: 1)).to include("Content" => "fixed")
      expect(statuses).to eq([500, 200])
      expect(events.first[:error]).to be_a(ArgumentError)
      expect(log.string).to include("raised ArgumentError")
    end

    it "answers 503 when the token store fails, without running the handler" do
      ran = false
      broken = Object.new
      def broken.claim(*) = raise(WeCom::NetworkError, "the store is down")
      def broken.release(*) = nil
      url = serve(handler { on(:text) { ran = true } }, claims: broken)
      expect { deliver(url, text_message) }.to raise_error(WeCom::Error, /503/)
      expect(ran).to be(false)
      expect(log.string).to include("the token store failed (WeCom::NetworkError: the store is down): answered 503")
    end
  end

  describe "later: true" do
    around do |example|
      adapter = ActiveJob::Base.queue_adapter
      logger = ActiveJob::Base.logger
      ActiveJob::Base.logger = Logger.new(nil)
      ActiveJob::Base.queue_adapter = :test
      example.run
    ensure
      ActiveJob::Base.queue_adapter = adapter
      ActiveJob::Base.logger = logger
    end

    let(:runs) { Queue.new }
    let!(:bot) do
      runs = self.runs
      stub_const("LaterBot", handler do
        on :change_contact, later: true do |ev|
          runs << [ev.change_type, ev.user_id, ev["ExtAttr"], later?]
        end
        on :click, key: "REPLY", later: true do
          reply text: "cannot"
        end
      end)
    end

    it "answers an empty 200 at once and enqueues WeCom::CallbackJob, which finds the rule again and runs it" do
      url = serve(bot)
      event = { MsgType: "event", Event: "change_contact", ChangeType: "update_user", UserID: "zhangsan",
                FromUserName: "sys", ExtAttr: { Item: [{ Name: "floor", Value: "3" }, { Name: "desk", Value: "12" }] } }
      expect(deliver(url, event)).to be_nil
      expect(runs).to be_empty
      jobs = ActiveJob::Base.queue_adapter.enqueued_jobs
      expect(jobs.size).to eq(1)
      expect(jobs.first[:job]).to eq(WeCom::CallbackJob)
      name, fields, endpoint = ActiveJob::Arguments.deserialize(jobs.first[:args])
      expect([name, endpoint]).to eq(%w[LaterBot hr])
      expect(fields).to include("ChangeType" => "update_user", "UserID" => "zhangsan")

      deliver(url, event) # WeCom's retry is not enqueued again
      expect(ActiveJob::Base.queue_adapter.enqueued_jobs.size).to eq(1)

      # As a worker runs it: the job's data through JSON.
      data = { "job_class" => "WeCom::CallbackJob", "arguments" => jobs.first[:args] }
      ActiveJob::Base.execute(JSON.parse(JSON.generate(data)))
      expect(runs.pop).to eq(["update_user", "zhangsan",
                              { "Item" => [{ "Name" => "floor", "Value" => "3" }, { "Name" => "desk", "Value" => "12" }] },
                              true])
    end

    it "raises ArgumentError in the job for a later rule that calls reply" do
      message = WeCom::Callback::Message.new("MsgType" => "event", "Event" => "click", "EventKey" => "REPLY")
      expect { WeCom::CallbackJob.perform_now("LaterBot", message.to_h, "hr") }
        .to raise_error(ArgumentError, /later: true rule cannot reply/)
      expect { WeCom::CallbackJob.perform_now("String", message.to_h, "hr") }
        .to raise_error(ArgumentError, /"String" is not a WeCom::Callback::Handler subclass/)
      expect { WeCom::CallbackJob.perform_now("NoSuchBot", message.to_h, "hr") }.to raise_error(ArgumentError, /no such/)
    end

    it "refuses an anonymous handler class with later rules (the job finds it by name)" do
      anonymous = handler { on(:click, later: true) {} }
      expect { described_class.new(:hr, anonymous) }.to raise_error(ArgumentError, /must be a named class/)
    end
  end

  describe "instrumentation" do
    it "publishes one callback.wecom event per request: endpoint, kind, msg_type, event, duplicate, status, duration" do
      url = serve(handler { on(:click) { reply text: "ok" } })
      emulator.verify_callback_url(url, token: token, encoding_aes_key: aes_key)
      click = { MsgType: "event", Event: "click", EventKey: "K", FromUserName: "u", CreateTime: Time.now.to_i.to_s }
      deliver(url, click)
      deliver(url, click)
      signed_post(url, "not*base64!")
      expect(events.size).to eq(4)
      expect(events.map { |event| event.slice(:endpoint, :kind, :msg_type, :event, :duplicate, :status) }).to eq(
        [{ endpoint: :hr, kind: :url_check, msg_type: nil, event: nil, duplicate: false, status: 200 },
         { endpoint: :hr, kind: :message, msg_type: :event, event: "click", duplicate: false, status: 200 },
         { endpoint: :hr, kind: :message, msg_type: :event, event: "click", duplicate: true, status: 200 },
         { endpoint: :hr, kind: :message, msg_type: nil, event: nil, duplicate: false, status: 400 }]
      )
      expect(events.map { |event| event[:duration] }).to all(be_a(Float).and(be >= 0))
      expect(events.last[:error]).to be_a(WeCom::CallbackMalformed)
      events.each { |event| expect_no_secrets(event.inspect) }
    end
  end

  describe "fleet dedupe: two Puma processes sharing a token store" do
    let(:namespace) { "wecom-spec-#{SecureRandom.hex(6)}" }
    let(:runs_file) { File.join(tmp_dir, "runs.log") }

    after do
      if @redis_used
        require "redis"
        redis = Redis.new(url: "redis://127.0.0.1:6379/0")
        keys = redis.scan_each(match: "#{namespace}*").to_a
        redis.del(*keys) unless keys.empty?
        redis.close
      end
    end

    def rackup
      tmp_file("config.ru", <<~RUBY)
        # frozen_string_literal: true

        $LOAD_PATH.unshift(ENV.fetch("SPEC_WECOM_LIB"))
        require "wecom"
        require "active_job"
        require "logger"

        ActiveJob::Base.logger = Logger.new(nil)
        ActiveJob::Base.queue_adapter = :async
        WeCom.logger = Logger.new(ENV.fetch("SPEC_WECOM_LOG"))
        WeCom.configure do |c|
          c.corp_id = ENV.fetch("SPEC_CORP_ID")
          c.app :hr, secret: "fleet-secret", agent_id: 1_000_002, callback_token: ENV.fetch("SPEC_TOKEN"),
                     callback_encoding_aes_key: ENV.fetch("SPEC_AES_KEY")
          c.token_store = if ENV.fetch("SPEC_STORE") == "redis"
                            WeCom::TokenStore::Redis.new(url: "redis://127.0.0.1:6379/0",
                                                         namespace: ENV.fetch("SPEC_NAMESPACE"))
                          else
                            WeCom::TokenStore::File.new(ENV.fetch("SPEC_STORE_DIR"))
                          end
        end

        module FleetRuns
          def self.record(line)
            File.open(ENV.fetch("SPEC_RUNS"), "a") do |file|
              file.flock(File::LOCK_EX)
              file.puts("\#{Process.pid} \#{line}")
            end
          end
        end

        class FleetBot < WeCom::Callback::Handler
          on :text do |msg|
            if msg.content == "hold" # until the spec removes its file: a handler to SIGKILL
              FleetRuns.record("started \#{msg.msg_id}")
              deadline = Time.now + 30
              sleep 0.02 while File.exist?(ENV.fetch("SPEC_HOLD")) && Time.now < deadline
            end
            FleetRuns.record("text \#{msg.msg_id}")
            sleep 0.5 # both deliveries are in at once
            reply text: "handled by \#{Process.pid}"
          end

          on :click do |ev|
            FleetRuns.record("click \#{ev.key}")
            sleep 0.5
          end

          on :change_contact, later: true do |ev|
            deadline = Time.now + 30
            sleep 0.02 until File.exist?(ENV.fetch("SPEC_GO")) || Time.now > deadline
            FleetRuns.record("later \#{ev.change_type} \#{ev.user_id}")
          end
        end

        run WeCom::Callback::Endpoint.new(:hr, FleetBot)
      RUBY
    end

    def start_fleet(store, workers: 0)
      @redis_used = true if store == "redis"
      env = { "SPEC_WECOM_LIB" => File.expand_path("../lib", __dir__), "SPEC_CORP_ID" => corp_id,
              "SPEC_TOKEN" => token, "SPEC_AES_KEY" => aes_key, "SPEC_STORE" => store, "SPEC_NAMESPACE" => namespace,
              "SPEC_STORE_DIR" => File.join(tmp_dir, "store"), "SPEC_RUNS" => runs_file,
              "SPEC_GO" => File.join(tmp_dir, "go"), "SPEC_HOLD" => hold_file,
              "SPEC_WECOM_LOG" => File.join(tmp_dir, "wecom.log") }
      config = rackup
      # Two Puma processes, or one in cluster mode with its workers.
      servers = Array.new(workers.zero? ? 2 : 1) do |index|
        PumaServer.spawn(config, env: env, workers: workers, log: File.join(tmp_dir, "puma-#{index}.log"))
      end
      (@servers ||= []).concat(servers)
      servers.map { |server| server.url("/wecom/hr") }
    end

    def runs
      File.exist?(runs_file) ? File.readlines(runs_file, chomp: true) : []
    end

    def hold_file
      File.join(tmp_dir, "hold")
    end

    # Delivers `message` to every URL at the same moment, one thread each.
    def deliver_at_once(urls, message)
      ready = Queue.new
      go = Queue.new
      threads = urls.map do |url|
        Thread.new do
          ready << true
          go.pop
          deliver(url, message, retries: 1)
        end
      end
      urls.size.times { ready.pop }
      urls.size.times { go << true }
      threads.map(&:value)
    end

    %w[redis file].each do |store|
      it "runs the handler exactly once for the same message delivered to both at once (#{store} store)" do
        urls = start_fleet(store)
        replies = deliver_at_once(urls, text_message("help", msg_id: "6000001"))
        expect(replies.compact.size).to eq(1)
        expect(replies.compact.first["Content"]).to match(/\Ahandled by \d+\z/)
        expect(runs.size).to eq(1)
        expect(runs.first).to end_with("text 6000001")

        click = { MsgType: "event", Event: "click", EventKey: "TODAY", FromUserName: "zhangsan",
                  CreateTime: Time.now.to_i.to_s }
        expect(deliver_at_once(urls, click)).to eq([nil, nil])
        expect(deliver_at_once(urls, click.merge(EventKey: "NEXT"))).to eq([nil, nil])
        expect(runs.drop(1).map { |line| line.split(" ", 2).last }).to eq(["click TODAY", "click NEXT"])
        expect(statuses).not_to include(500)
        expect_no_secrets(File.read(File.join(tmp_dir, "wecom.log")))
        next unless store == "redis"

        require "redis"
        redis = Redis.new(url: "redis://127.0.0.1:6379/0")
        keys = redis.scan_each(match: "#{namespace}*").to_a
        redis.close
        expect(keys.size).to eq(3) # one claim per message: the "being handled" ones are released
        expect(keys.join).not_to include("zhangsan", "TODAY")
      end
    end

    # kill -9 chaos: the worker running a handler dies (SIGKILL, the OOM killer) and its connection
    # with it, so WeCom retries at once. Its claim "being handled" is a 3-second lease it renewed
    # while it lived; the retry waits for it to lapse and runs the handler in the other worker. The
    # message was not marked handled, because its handler never finished.
    %w[redis file].each do |store|
      it "hands a message whose Puma worker was SIGKILLed mid-handler to another worker, once (#{store} store)" do
        FileUtils.touch(hold_file)
        url = start_fleet(store, workers: 2).first
        message = text_message("hold", msg_id: "7000001")
        delivery = Thread.new { deliver(url, message, timeout: 5, retries: 3) }
        started = eventually(what: "a worker to start the handler") { runs.find { |line| line.end_with?("started 7000001") } }
        victim = Integer(started.split.first)
        sleep 1.5 # long enough for its lease to be renewed: a lapse below is the kill's doing
        Process.kill(:KILL, victim)
        File.delete(hold_file)

        reply = delivery.value
        survivor = Integer(reply.fetch("Content")[/\Ahandled by (\d+)\z/, 1])
        expect(survivor).not_to eq(victim)
        expect(runs).to eq(["#{victim} started 7000001", "#{survivor} started 7000001", "#{survivor} text 7000001"])
        expect(statuses.last).to eq(200)
        expect(statuses.size).to be_between(2, 4)

        expect(deliver(url, message)).to be_nil # a later retry: handled already, and not run again
        expect(runs.size).to eq(3)
        log = File.read(File.join(tmp_dir, "wecom.log"))
        expect(log).to include("was already handled: a retry")
        expect(log).not_to include("could not be renewed")
      end
    end

    it "answers later: true at once and runs the job in the process (ActiveJob's :async adapter)" do
      urls = start_fleet("redis")
      event = { MsgType: "event", Event: "change_contact", ChangeType: "create_user", UserID: "wangwu",
                FromUserName: "sys", CreateTime: Time.now.to_i.to_s }
      expect(deliver(urls.first, event)).to be_nil # answered while the job still waits for "go"
      expect(deliver(urls.last, event)).to be_nil  # WeCom's retry to the other process: not enqueued again
      expect(runs).to be_empty
      FileUtils.touch(File.join(tmp_dir, "go"))
      eventually(what: "the job to run") { runs.size == 1 }
      expect(runs.first).to end_with("later create_user wangwu")
      expect(File.read(File.join(tmp_dir, "wecom.log"))).to include("was already handled: a retry")
      expect(runs.size).to eq(1)
    end
  end
end

RSpec.describe WeCom::Callback::Handler do
  def message(fields)
    WeCom::Callback::Message.new({ "ToUserName" => "corp", "FromUserName" => "zhangsan", "CreateTime" => "1700000000",
                                   "AgentID" => "1000002" }.merge(fields))
  end

  def text(content)
    message("MsgType" => "text", "Content" => content, "MsgId" => "1")
  end

  def event(name, **fields)
    message({ "MsgType" => "event", "Event" => name }.merge(fields.transform_keys(&:to_s)))
  end

  # What the handler does with `msg`: the name of the rule that ran (the block's return is
  # ignored, so each rule replies its name) or nil.
  def handled(handler, msg)
    rule = handler.rule_for(msg) or return nil
    handler.run(rule, msg)&.fetch(:text)
  end

  def named_rules(&block)
    Class.new(described_class, &block)
  end

  it "runs the first matching rule, then the fallback, else nothing" do
    bot = named_rules do
      on(:text, content: "hi") { reply text: "first" }
      on(:text, content: /\Ah/) { reply text: "second" }
      on(:text) { reply text: "any text" }
    end
    expect(handled(bot, text("hi"))).to eq("first")
    expect(handled(bot, text("hello"))).to eq("second")
    expect(handled(bot, text("yo"))).to eq("any text")
    expect(handled(bot, event("click"))).to be_nil

    with_fallback = Class.new(bot) { fallback { reply text: "fallback" } }
    expect(handled(with_fallback, event("click"))).to eq("fallback")
    expect(handled(with_fallback, text("hi"))).to eq("first")
    expect(with_fallback.rules.last.type).to be_nil
  end

  it "inherits rules: the superclass's first, then the subclass's, then the nearest fallback" do
    base = named_rules do
      on(:click, key: "A") { reply text: "base A" }
      fallback { reply text: "base fallback" }
    end
    child = Class.new(base) do
      on(:click, key: "A") { reply text: "child A" }
      on(:click, key: "B") { reply text: "child B" }
    end
    grandchild = Class.new(child) { fallback { reply text: "grandchild fallback" } }
    expect(handled(child, event("click", EventKey: "A"))).to eq("base A")
    expect(handled(child, event("click", EventKey: "B"))).to eq("child B")
    expect(handled(child, event("click", EventKey: "C"))).to eq("base fallback")
    expect(handled(grandchild, event("click", EventKey: "C"))).to eq("grandchild fallback")
    expect(handled(base, event("click", EventKey: "B"))).to eq("base fallback") # the subclass did not change it
    expect(grandchild.rules.count { |rule| rule.type.nil? }).to eq(1)
  end

  it "matches conditions with ===: a String, a Regexp, an Array (any of), a Proc, a Range; a Symbol as its String" do
    bot = named_rules do
      on(:click, key: "EXACT") { reply text: "string" }
      on(:click, key: /\Aday-\d+\z/) { reply text: "regexp" }
      on(:click, key: ["ONE", /\ATWO/]) { reply text: "array" }
      on(:click, key: ->(key) { key.to_s.length > 20 }) { reply text: "proc" }
      on(:click, key: :SYMBOL) { reply text: "symbol" }
      on(:batch_job_result, batch_job: ->(job) { job&.errcode&.zero? }) { reply text: "job ok" }
      on(:text, agent_id: 1_000_000..1_000_010, from_user: %w[zhangsan lisi]) { reply text: "range" }
      on(:template_card_event, EventKey: "raw field", TaskId: "t") { reply text: "field" }
    end
    expect(handled(bot, event("click", EventKey: "EXACT"))).to eq("string")
    expect(handled(bot, event("click", EventKey: "exact"))).to be_nil
    expect(handled(bot, event("click", EventKey: "day-12"))).to eq("regexp")
    expect(handled(bot, event("click", EventKey: "ONE"))).to eq("array")
    expect(handled(bot, event("click", EventKey: "TWO-2"))).to eq("array")
    expect(handled(bot, event("click", EventKey: "x" * 21))).to eq("proc")
    expect(handled(bot, event("click", EventKey: "SYMBOL"))).to eq("symbol")
    expect(handled(bot, event("click"))).to be_nil # no EventKey: nil matches none of them
    expect(handled(bot, event("batch_job_result", BatchJob: { "JobId" => "j", "ErrCode" => "0" }))).to eq("job ok")
    expect(handled(bot, event("batch_job_result", BatchJob: { "JobId" => "j", "ErrCode" => "1" }))).to be_nil
    expect(handled(bot, text("x"))).to eq("range")
    expect(handled(bot, text("x").then { |m| message(m.to_h.merge("FromUserName" => "wangwu")) })).to be_nil
    expect(handled(bot, event("template_card_event", EventKey: "raw field", TaskId: "t"))).to eq("field")
  end

  it "refuses unknown condition names, a missing block and a type that is not a name, when the class is defined" do
    expect { named_rules { on(:text, contnet: "typo") {} } }
      .to raise_error(ArgumentError, /on :text: unknown condition\(s\) contnet/)
    expect { named_rules { on(:text, hash: 1) {} } }.to raise_error(ArgumentError, /unknown condition\(s\) hash/)
    expect { named_rules { on(:text, dedupe_key: "x") {} } }.to raise_error(ArgumentError, /unknown condition/)
    expect { named_rules { on(:text, freeze: true) {} } }.to raise_error(ArgumentError, /unknown condition/)
    expect { named_rules { on(:text, event?: true) {} } }.to raise_error(ArgumentError, /unknown condition/)
    expect { named_rules { on(:text) } }.to raise_error(ArgumentError, /on :text needs a block/)
    expect { named_rules { on(42) {} } }.to raise_error(ArgumentError, /a MsgType or an event name/)
    expect { named_rules { fallback } }.to raise_error(ArgumentError, /fallback needs a block/)
  end

  it "raises on a second reply, on a reply that is not exactly one kind, and on any reply in a later rule" do
    msg = text("hi")
    twice = named_rules { on(:text) { 2.times { reply text: "again" } } }
    expect { twice.run(twice.rule_for(msg), msg) }.to raise_error(ArgumentError, /reply was already called/)
    none = named_rules { on(:text) { reply } }
    expect { none.run(none.rule_for(msg), msg) }.to raise_error(ArgumentError, /exactly one of text:.*got none/)
    two = named_rules { on(:text) { reply text: "a", image: "b" } }
    expect { two.run(two.rule_for(msg), msg) }.to raise_error(ArgumentError, /got text:, image:/)
    unknown = named_rules { on(:text) { reply txt: "a" } }
    expect { unknown.run(unknown.rule_for(msg), msg) }.to raise_error(ArgumentError, /got txt:/)
    later = named_rules { on(:text, later: true) { reply text: "late" } }
    expect { later.run(later.rule_for(msg), msg, nil, later: true) }.to raise_error(ArgumentError, /cannot reply/)
    expect(named_rules { on(:text) { :returned } }.then { |bot| bot.run(bot.rule_for(msg), msg) }).to be_nil
  end

  it "runs each message on a new handler object that knows the message" do
    seen = []
    bot = named_rules { on(:text) { |msg| seen << [self.class, message, msg, object_id] } }
    2.times { bot.run(bot.rule_for(text("hi")), text("hi")) }
    expect(seen.map(&:first)).to eq([bot, bot])
    expect(seen.map { |entry| entry[1] }).to all(eq(text("hi")))
    expect(seen.map(&:last).uniq.size).to eq(2)
  end

  it "takes `on :location` as the MsgType and `on :LOCATION` or `event: \"LOCATION\"` as the event, in any case" do
    bot = named_rules do
      on(:location) { reply text: "location message" }
      on(:LOCATION) { reply text: "LOCATION event" }
      on(:event, event: "click") { reply text: "click" }
      on(:enter_agent) { reply text: "entered" }
    end
    located = message("MsgType" => "location", "Location_X" => "23.1", "Location_Y" => "113.3", "MsgId" => "2")
    reported = event("LOCATION", Latitude: "23.1", Longitude: "113.3", Precision: "10")
    expect(handled(bot, located)).to eq("location message")
    expect(handled(bot, reported)).to eq("LOCATION event")
    expect(handled(bot, event("CLICK"))).to eq("click")
    expect(handled(bot, event("enter_agent"))).to eq("entered")
    expect(handled(bot, event("ENTER_AGENT"))).to eq("entered")

    by_condition = named_rules do
      on(:event, event: "location") { reply text: "event condition" }
      on(:event, event: %w[subscribe unsubscribe]) { reply text: "(un)subscribe" }
    end
    expect(handled(by_condition, reported)).to eq("event condition")
    expect(handled(by_condition, located)).to be_nil
    expect(handled(by_condition, event("UNSUBSCRIBE"))).to eq("(un)subscribe")
    expect(handled(named_rules { on(:location) { reply text: "m" } }, reported)).to be_nil
  end
end
