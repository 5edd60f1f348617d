# frozen_string_literal: true

RSpec.describe "Access tokens" do
  def send_requests
    emulator.requests.count { |r| r[:path] == "/cgi-bin/message/send" }
  end

  it "fetches one token and reuses it for later sends" do
    3.times { client.send_text("hi", to: "u") }
    expect(emulator.token_requests).to eq(1)
  end

  it "shares the token between clients with the same credentials" do
    client.send_text("one", to: "u")
    emulator.client.send_text("two", to: "u")
    expect(emulator.token_requests).to eq(1)
  end

  it "keeps each app's token apart (another app's token would get 301002)" do
    emu = start_emulator(**credentials, apps: [{ secret: "alerts-secret", agent_id: 1_000_005 }])
    hr = emu.client
    alerts = emu.client(secret: "alerts-secret", agent_id: 1_000_005)
    hr.send_text("hr", to: "u")
    alerts.send_text("alerts", to: "u")
    hr.send_text("hr again", to: "u")
    expect(emu.token_requests).to eq(2)
    expect(emu.messages.map { |m| m["agentid"] }).to eq([1_000_002, 1_000_005, 1_000_002])
    expect(hr.access_token).not_to eq(alerts.access_token)
  end

  it "returns the cached token from #access_token and tells when it expires" do
    token = client.access_token
    expect(token).to be_a(String).and(satisfy { |t| t.size >= 16 })
    expect(client.access_token).to eq(token)
    expect(client.token_expires_in).to be_within(5).of(7200)
    expect(emulator.token_requests).to eq(1)
  end

  it "refreshes a margin before expires_in, without a failed call" do
    emu = start_emulator(**credentials, token_ttl: 3)
    c = emu.client
    c.send_text("first", to: "u")
    first = c.access_token
    # Due 0.15 s before expiry (a twentieth of the lifetime), minus up to half that again.
    sleep 2.88
    c.send_text("second", to: "u")
    expect(c.access_token).not_to eq(first)
    expect(emu.token_requests).to eq(2)
    expect(emu.requests.count { |r| r[:path] == "/cgi-bin/message/send" }).to eq(2)
  end

  describe "a token WeCom no longer accepts" do
    before { client.send_text("warm up", to: "u") }

    it "is replaced and the call repeated once on 42001 (expired)" do
      emulator.expire_tokens!
      result = client.send_text("after expiry", to: "u")
      expect(result.msgid).to be_a(String)
      expect(emulator.token_requests).to eq(2)
      expect(send_requests).to eq(3)
    end

    it "is replaced on 40014 (invalid)" do
      emulator.fail_next(40_014)
      expect(client.send_text("after 40014", to: "u").msgid).to be_a(String)
      expect(emulator.token_requests).to eq(2)
    end

    it "is replaced on 40001 from an API other than gettoken" do
      emulator.fail_next(40_001)
      expect(client.send_text("after 40001", to: "u").msgid).to be_a(String)
      expect(emulator.token_requests).to eq(2)
    end

    it "raises AuthenticationError (never returns nil) when the fresh token fails too" do
      emulator.fail_next(42_001, times: 2)
      expect { client.send_text("x", to: "u") }.to raise_error(WeCom::AuthenticationError) { |e|
        expect(e.errcode).to eq(42_001)
        expect(e.retryable?).to be(false)
      }
      expect(send_requests).to eq(3)
    end

    it "is refreshed once for many threads failing together (compare-and-drop)" do
      emulator.expire_tokens!
      emulator.latency = 0.1
      threads = Array.new(8) { |i| Thread.new { client.send_text("t#{i}", to: "u") } }
      expect(threads.map(&:value).map(&:msgid).uniq.size).to eq(8)
      expect(emulator.token_requests).to eq(2)
    end
  end

  it "retries gettoken when WeCom is busy" do
    emulator.fail_next(-1, path: "/cgi-bin/gettoken")
    expect(client.send_text("x", to: "u").msgid).to be_a(String)
    expect(emulator.token_requests).to eq(2)
  end
end
