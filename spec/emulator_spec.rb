# frozen_string_literal: true

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
end
