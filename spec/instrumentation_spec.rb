# frozen_string_literal: true

require "active_support"
require "active_support/notifications"
require "logger"
require "stringio"
require "wecom/log_subscriber"

RSpec.describe "Instrumentation" do
  let(:events) { [] }

  around do |example|
    subscriber = ActiveSupport::Notifications.subscribe(/\.wecom\z/) do |name, _start, _finish, _id, payload|
      events << [name, payload.dup]
    end
    example.run
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  def named(name)
    events.select { |event_name, _| event_name == name }.map(&:last)
  end

  it "publishes one request.wecom per HTTP request, retries and token fetches included" do
    emulator.fail_next(-1)
    client.send_text("Interview at 15:00", to: "zhangsan")
    requests = named("request.wecom")
    expect(requests.map { |r| r.values_at(:path, :attempt, :status, :errcode) }).to eq(
      [["/cgi-bin/gettoken", 0, 200, 0], ["/cgi-bin/message/send", 0, 200, -1], ["/cgi-bin/message/send", 1, 200, 0]]
    )
    expect(requests.map { |r| r[:duration] }).to all(be_a(Float).and(be >= 0))
  end

  it "publishes every request of a 1000-message batch, not only the first few hundred" do
    batch = Array.new(1000) { |i| { type: :text, content: "m#{i}", to: "u" } }
    expect(client.send_batch(batch, concurrency: 32)).to all(be_a(WeCom::Result))
    requests = named("request.wecom")
    expect(requests.count { |r| r[:path] == "/cgi-bin/message/send" }).to eq(1000)
    expect(requests.count { |r| r[:path] == "/cgi-bin/gettoken" }).to eq(1)
  end

  it "publishes deliver.wecom with the msgid, or the exception" do
    result = client.send_text("hi", to: %w[a b], party: 3)
    emulator.fail_next(40_003)
    expect { client.send_text("hi", to: "a") }.to raise_error(WeCom::APIError)
    ok, failed = named("deliver.wecom")
    expect(ok).to include(msgtype: "text", users: 2, parties: 1, tags: 0, all: false, msgid: result.msgid)
    expect(failed[:exception].first).to eq("WeCom::APIError")
    expect(named("request.wecom").last).to include(errcode: 40_003)
  end

  it "reports a request that got no answer" do
    client.access_token
    emulator.latency = 1
    c = emulator.client(timeout: 0.2)
    expect { c.send_text("x", to: "u") }.to raise_error(WeCom::TimeoutError)
    expect(named("request.wecom").last).to include(path: "/cgi-bin/message/send", failure: :timeout, status: nil)
  end

  it "publishes deliver_batch.wecom with the failures" do
    emu = start_emulator(**credentials, users: %w[alice])
    emu.client.send_batch([{ type: :text, content: "x", to: "alice" }, { type: :text, content: "y", to: "nobody" }])
    expect(named("deliver_batch.wecom")).to eq([{ app: nil, messages: 2, failed: 1 }])
  end

  it "names the app" do
    WeCom.configure do |c|
      c.base_url = emulator.base_url
      c.app :hr, corp_id: credentials[:corp_id], secret: credentials[:secret], agent_id: credentials[:agent_id]
    end
    WeCom::Client.new(:hr).send_text("x", to: "u")
    expect((named("request.wecom") + named("deliver.wecom")).map { |p| p[:app] }.uniq).to eq([:hr])
  end

  it "publishes robot.wecom, upload.wecom and chat.wecom, never with the robot's key" do
    key = "robot-#{SecureRandom.hex(8)}"
    robot = WeCom::Webhook.new(key: key, name: "ops", base_url: emulator.base_url)
    robot.send_text("Deploy done")
    media_id = robot.upload_media("report bytes", filename: "report.txt")
    client.upload_media("resume bytes", type: :file, filename: "resume.pdf")
    chat_id = client.create_chat(name: "Loop", owner: "a", users: %w[a b])
    client.send_chat_text(chat_id, "hi")

    expect(named("robot.wecom")).to eq([{ robot: "ops", msgtype: "text" }])
    expect(named("upload.wecom")).to match([include(robot: "ops", type: :file, size: 12, media_id: media_id),
                                            include(app: nil, type: :file, size: 12, media_id: a_string_matching(/\S/))])
    expect(named("chat.wecom").map { |p| p[:action] }).to eq(%i[create send])
    expect(events.inspect).not_to include(key)
  end

  it "publishes directory.wecom with the action and, for lookups, whether someone was found" do
    client.userid_by_email("zhangsan@corp.example.com")
    client.userid_by_mobile("13700000009")
    client.user("lisi")
    client.departments
    client.department_users(1)
    expect(named("directory.wecom")).to eq([{ app: nil, action: :userid_by_email, found: true },
                                            { app: nil, action: :userid_by_mobile, found: false },
                                            { app: nil, action: :user }, { app: nil, action: :departments },
                                            { app: nil, action: :department_users }])
    expect(events.inspect).not_to include("zhangsan@corp.example.com", "13700000009")
  end

  it "publishes jsapi_ticket.wecom, agent_ticket.wecom and js_sdk_signature.wecom, never with a ticket" do
    ticket = client.jsapi_ticket
    client.agent_ticket
    client.js_sdk_signature(url: "https://hr.example.com/interviews")
    client.agent_config_signature(url: "https://hr.example.com/interviews")
    expect(named("jsapi_ticket.wecom")).to eq([{ app: nil }])
    expect(named("agent_ticket.wecom")).to eq([{ app: nil }])
    expect(named("js_sdk_signature.wecom").map { |p| p[:ticket] }).to eq(%w[jsapi agent])
    expect(events.inspect).not_to include(ticket)
  end

  it "never carries a secret, a token or the content" do
    token = client.access_token
    client.send_text("Interview at 15:00", to: "zhangsan")
    text = events.inspect
    expect(text).not_to include(credentials[:secret])
    expect(text).not_to include(token)
    expect(text).not_to include("15:00")
  end

  describe WeCom::LogSubscriber do
    let(:log) { StringIO.new }

    around do |example|
      WeCom.logger = Logger.new(log).tap { |logger| logger.level = :debug }
      example.run
    ensure
      WeCom.logger = nil
    end

    it "logs deliveries and requests to WeCom.logger, without secrets, tokens or content" do
      emulator.fail_next(45_033)
      client.send_text("Interview at 15:00", to: "zhangsan")
      token = client.access_token
      lines = log.string
      expect(lines).to match(%r{DEBUG -- : WeCom request /cgi-bin/message/send HTTP 200, errcode 45033, attempt 0})
      expect(lines).to match(/INFO -- : WeCom deliver text to 1 users, 0 parties, 0 tags \(msgid \S+\) [\d.]+ms/)
      expect(lines).not_to include(credentials[:secret])
      expect(lines).not_to include(token)
      expect(lines).not_to include("15:00")
    end

    it "logs robot messages, uploads and chat calls, with failures as warnings" do
      key = "robot-#{SecureRandom.hex(8)}"
      robot = WeCom::Webhook.new(key: key, name: "ops", base_url: emulator.base_url)
      robot.send_markdown("**3** interviews")
      client.upload_media("resume bytes", type: :file, filename: "resume.pdf")
      emulator.fail_next(86_003)
      expect { client.send_chat_text("nochat", "hi") }.to raise_error(WeCom::APIError)
      lines = log.string
      expect(lines).to match(/INFO -- : WeCom robot ops markdown [\d.]+ms/)
      expect(lines).to match(/INFO -- : WeCom upload file of 12 bytes \(media_id \S+\) [\d.]+ms/)
      expect(lines).to match(/WARN -- : WeCom chat send failed: WeCom::APIError [\d.]+ms/)
      expect(lines).not_to include(key)
    end

    it "logs template card updates and callback requests" do
      card = { card_type: "button_interaction", task_id: "log-spec", main_title: { title: "Interview" },
               button_list: [{ text: "Accept", key: "accept" }] }
      code = client.send_template_card(card, to: "zhangsan").response_code
      client.update_template_card(response_code: code, button: "Accepted", to: "zhangsan")
      token, key = "log-spec-token", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
      handler = Class.new(WeCom::Callback::Handler) { on(:text) { reply text: "ok" } }
      endpoint = WeCom::Callback::Endpoint.new(WeCom::Callback.new(token: token, encoding_aes_key: key,
                                                                   receive_id: emulator.corp_id), handler)
      server = PumaServer.start(endpoint)
      emulator.deliver_callback(server.url, { MsgType: "text", Content: "hi", FromUserName: "zhangsan" },
                                token: token, encoding_aes_key: key)
      lines = log.string
      expect(lines).to match(/INFO -- : WeCom update_template_card for 1 users, 0 parties, 0 tags [\d.]+ms/)
      expect(lines).to match(/INFO -- : WeCom callback endpoint text message: HTTP 200 [\d.]+ms/)
      expect(lines).not_to include(token, key)
    ensure
      server&.stop
    end

    it "logs directory calls with whether someone was found, never the address looked up" do
      expect(client.userid_by_email("zhangsan@corp.example.com")).to eq("zhangsan")
      expect(client.userid_by_mobile("13700000009")).to be_nil
      emulator.fail_next(60_011)
      expect { client.user("lisi") }.to raise_error(WeCom::PermissionError)
      lines = log.string
      expect(lines).to match(/INFO -- : WeCom directory userid_by_email \(found\) [\d.]+ms/)
      expect(lines).to match(/INFO -- : WeCom directory userid_by_mobile \(nobody\) [\d.]+ms/)
      expect(lines).to match(/WARN -- : WeCom directory user failed: WeCom::PermissionError [\d.]+ms/)
      expect(lines).not_to include("zhangsan@corp.example.com", "13700000009")
    end

    it "logs a failed delivery as a warning" do
      emulator.fail_next(40_003)
      expect { client.send_text("x", to: "u") }.to raise_error(WeCom::APIError)
      expect(log.string).to match(/WARN -- : WeCom deliver text .* failed: WeCom::APIError/)
    end
  end
end
