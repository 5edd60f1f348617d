# frozen_string_literal: true

require "base64"
require "digest"
require "net/http"
require "socket"

RSpec.describe WeCom::Emulator do
  it "serves on 127.0.0.1 and answers gettoken like WeCom" do
    expect(emulator.base_url).to match(%r{\Ahttp://127\.0\.0\.1:\d+\z})
    uri = URI("#{emulator.base_url}/cgi-bin/gettoken?corpid=#{credentials[:corp_id]}&corpsecret=#{credentials[:secret]}")
    answer = JSON.parse(Net::HTTP.get(uri))
    expect(answer).to include("errcode" => 0, "expires_in" => 7200)
    expect(answer["access_token"]).to be_a(String)
    expect(emulator.token_requests).to eq(1)
  end

  it "records every request with method, path, query and body" do
    client.send_text("hello", to: "u")
    gettoken, send = emulator.requests
    expect(gettoken).to include(method: "GET", path: "/cgi-bin/gettoken")
    expect(gettoken[:query]).to include("corpid" => credentials[:corp_id])
    expect(send).to include(method: "POST", path: "/cgi-bin/message/send")
    expect(send[:query]).to include("access_token" => client.access_token)
    expect(JSON.parse(send[:body])["text"]).to eq("content" => "hello")
  end

  it "forgets what it recorded on clear!" do
    client.send_text("hello", to: "u")
    emulator.clear!
    expect([emulator.messages, emulator.requests, emulator.token_requests]).to eq([[], [], 0])
    client.send_text("again", to: "u") # the token survives
    expect(emulator.token_requests).to eq(0)
  end

  it "delays answers by latency" do
    client.access_token
    emulator.latency = 0.3
    expect(elapsed { client.send_text("slow", to: "u") }).to be_between(0.28, 1.0)
    expect(emulator.latency).to eq(0.3)
  end

  it "accepts a message but answers it late with delay_next, so a client times out" do
    impatient = emulator.client(timeout: 0.2, max_retries: 0)
    impatient.access_token
    emulator.delay_next(0.5, path: "/cgi-bin/message/send")
    expect { impatient.send_text("late", to: "u") }.to raise_error(WeCom::TimeoutError, &:delivery_unknown?)
    expect(emulator.messages.map { |m| m["text"]["content"] }).to eq(["late"])
    expect(elapsed { impatient.send_text("prompt", to: "u") }).to be < 0.2
  end

  it "answers 81013 when no recipient is in its directory" do
    emu = start_emulator(**credentials, users: %w[alice])
    expect { emu.client.send_text("x", to: "nobody") }.to raise_error(WeCom::APIError) { |e|
      expect(e.errcode).to eq(81_013)
    }
  end

  it "answers a gateway error with fail_next_http" do
    emulator.fail_next_http(500, times: 1, path: "/cgi-bin/gettoken")
    response = Net::HTTP.get_response(URI("#{emulator.base_url}/cgi-bin/gettoken?corpid=a&corpsecret=b"))
    expect(response.code).to eq("500")
    expect { JSON.parse(response.body) }.to raise_error(JSON::ParserError)
  end

  it "stops listening on stop, and run stops it after the block" do
    port = nil
    described_class.run(**credentials) do |emu|
      port = emu.port
      expect(emu.client.send_text("x", to: "u").msgid).to be_a(String)
    end
    expect { TCPSocket.new("127.0.0.1", port).close }.to raise_error(Errno::ECONNREFUSED)
  end

  it "raises a WeCom::Error (a ConfigurationError naming the port), not a RuntimeError, when it cannot start" do
    port = emulator.port
    expect { described_class.start(**credentials, port: port) }.to raise_error(WeCom::ConfigurationError) { |e|
      expect(e).to be_a(WeCom::Error)
      expect(e).not_to be_a(RuntimeError)
      expect(e.message).to include("the WeCom emulator could not start on 127.0.0.1:#{port}")
    }
    expect(emulator.client.send_text("still serving", to: "u").msgid).to be_a(String)
  end

  it "shows its address but no secret in inspect" do
    expect(emulator.inspect).to include(emulator.base_url)
    expect(emulator.inspect).not_to include(credentials[:secret])
  end

  it "keeps up with thousands of sends a second (it must not be what a benchmark measures)" do
    client.access_token
    took = elapsed do
      Array.new(4) { Thread.new { 250.times { client.send_text("x", to: "u") } } }.each(&:join)
    end
    expect(emulator.messages.size).to eq(1000)
    expect(1000 / took).to be > 500
  end

  # Raw HTTP for the endpoints the Ruby client does not call yet.
  def post_json(path, body)
    uri = URI("#{emulator.base_url}#{path}")
    JSON.parse(Net::HTTP.post(uri, JSON.generate(body), "Content-Type" => "application/json").body)
  end

  def get_json(path)
    JSON.parse(Net::HTTP.get(URI("#{emulator.base_url}#{path}")))
  end

  def post_file(path, filename, data)
    boundary = "wecom-spec-#{SecureRandom.hex(8)}"
    body = "--#{boundary}\r\n" \
           "Content-Disposition: form-data; name=\"media\"; filename=\"#{filename}\"; filelength=#{data.bytesize}\r\n" \
           "Content-Type: application/octet-stream\r\n\r\n".b + data.b + "\r\n--#{boundary}--\r\n".b
    uri = URI("#{emulator.base_url}#{path}")
    JSON.parse(Net::HTTP.post(uri, body, "Content-Type" => "multipart/form-data; boundary=#{boundary}").body)
  end

  it "takes a media upload and records its size and md5, not the file" do
    data = Random.bytes(1000)
    answer = post_file("/cgi-bin/media/upload?access_token=#{client.access_token}&type=file", "report.pdf", data)
    expect(answer).to include("errcode" => 0, "type" => "file")
    expect(answer["created_at"]).to match(/\A\d+\z/)
    expect(emulator.uploads).to eq([{ media_id: answer["media_id"], type: "file", filename: "report.pdf",
                                      content_type: "application/octet-stream", size: 1000,
                                      md5: Digest::MD5.hexdigest(data), uploader: credentials[:agent_id] }])
    expect(emulator.requests.last[:body]).to match(/\A<multipart\/form-data, \d+ bytes>\z/)
    gif = post_file("/cgi-bin/media/upload?access_token=#{client.access_token}&type=image", "a.gif", data)
    expect(gif["errcode"]).to eq(40_005)
  end

  it "answers group robot webhooks and keeps each message with its robot's key" do
    emu = start_emulator(**credentials, robots: %w[ops dev])
    image = Random.bytes(300)
    post = ->(key, body) { JSON.parse(Net::HTTP.post(URI(emu.robot_url(key)), JSON.generate(body)).body) }
    expect(emu.robot_url("ops")).to eq("#{emu.base_url}/cgi-bin/webhook/send?key=ops")
    expect(post.call("ops", msgtype: "text", text: { content: "deploy done", mentioned_list: ["@all"] }))
      .to include("errcode" => 0)
    encoded = Base64.strict_encode64(image)
    expect(post.call("dev", msgtype: "image", image: { base64: encoded, md5: Digest::MD5.hexdigest(image) }))
      .to include("errcode" => 0)
    wrong_md5 = { msgtype: "image", image: { base64: encoded, md5: "0" * 32 } }
    expect(post.call("dev", wrong_md5)["errcode"]).to eq(301_019)
    expect(post.call("stranger", msgtype: "text", text: { content: "x" })["errcode"]).to eq(93_000)

    expect(emu.robot_messages.map { |m| m["key"] }).to eq(%w[ops dev])
    text = { "content" => "deploy done", "mentioned_list" => ["@all"] }
    expect(emu.robot_messages("ops")).to eq([{ "msgtype" => "text", "text" => text, "key" => "ops" }])
    expect(emu.robot_messages("dev").first["image"]["md5"]).to eq(Digest::MD5.hexdigest(image))
  end

  it "sends a robot file only once the robot uploaded it" do
    upload = post_file("/cgi-bin/webhook/upload_media?key=k&type=file", "log.txt", "line one\n")
    expect(upload).to include("errcode" => 0, "type" => "file")
    expect(emulator.uploads.last).to include(uploader: "k", filename: "log.txt", size: 9)
    file = { msgtype: "file", file: { media_id: upload["media_id"] } }
    expect(post_json("/cgi-bin/webhook/send?key=k", file)["errcode"]).to eq(0)
    made_up = { msgtype: "file", file: { media_id: "made-up" } }
    expect(post_json("/cgi-bin/webhook/send?key=k", made_up)["errcode"]).to eq(40_007)
  end

  it "limits each robot to robot_limit_per_minute messages" do
    emu = start_emulator(**credentials, robot_limit_per_minute: 2)
    body = '{"msgtype":"text","text":{"content":"x"}}'
    send = ->(key) { JSON.parse(Net::HTTP.post(URI(emu.robot_url(key)), body).body) }
    expect(Array.new(3) { send.call("a")["errcode"] }).to eq([0, 0, 45_009])
    expect(send.call("b")["errcode"]).to eq(0)
    expect(emu.robot_messages("a").size).to eq(2)
  end

  it "creates, updates, reads and sends to app group chats" do
    token = client.access_token
    created = post_json("/cgi-bin/appchat/create?access_token=#{token}",
                        name: "Ops", owner: "alice", userlist: %w[alice bob], chatid: "ops")
    expect(created).to include("errcode" => 0, "chatid" => "ops")
    update = { chatid: "ops", add_user_list: ["carol"], del_user_list: ["bob"], name: "Ops team" }
    expect(post_json("/cgi-bin/appchat/update?access_token=#{token}", update)["errcode"]).to eq(0)
    expect(get_json("/cgi-bin/appchat/get?access_token=#{token}&chatid=ops")["chat_info"])
      .to eq("chatid" => "ops", "name" => "Ops team", "owner" => "alice", "userlist" => %w[alice carol])
    expect(emulator.chats).to eq([{ chat_id: "ops", name: "Ops team", owner: "alice", users: %w[alice carol] }])

    message = { chatid: "ops", msgtype: "markdown", markdown: { content: "**up**" }, safe: 0 }
    expect(post_json("/cgi-bin/appchat/send?access_token=#{token}", message)["errcode"]).to eq(0)
    expect(emulator.chat_messages).to eq([JSON.parse(JSON.generate(message))])
    expect(post_json("/cgi-bin/appchat/send?access_token=#{token}", message.merge(chatid: "nope"))["errcode"])
      .to eq(86_003)
    expect(post_json("/cgi-bin/appchat/create?access_token=#{token}", userlist: ["alice"])["errcode"]).to eq(86_006)
  end

  it "forgets uploads, robot messages and chats on clear!" do
    post_file("/cgi-bin/media/upload?access_token=#{client.access_token}&type=voice", "hi.amr", "#!AMR\n...")
    post_json("/cgi-bin/webhook/send?key=k", msgtype: "text", text: { content: "x" })
    post_json("/cgi-bin/appchat/create?access_token=#{client.access_token}", userlist: %w[a b])
    expect([emulator.uploads.size, emulator.robot_messages.size, emulator.chats.size]).to eq([1, 1, 1])
    emulator.clear!
    expect([emulator.uploads, emulator.robot_messages, emulator.chats, emulator.chat_messages]).to eq([[], [], [], []])
  end
end
