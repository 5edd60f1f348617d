# frozen_string_literal: true

require "digest"

# JS-SDK tickets and signatures, against the emulator over real HTTP.
RSpec.describe "JS-SDK tickets and signatures" do
  OFFICIAL = { ticket: "sM4AOVdWfPE4DxkXGEs8VMCPGGVi4C3VM0P37wVUCFvkVAy_90u5h9nbSlYy3-Sl-HhTdfl2fzFy1AOcHKP7qg",
               nonce_str: "Wm3WZYTPz0wzccnW", timestamp: 1_414_587_457,
               url: "http://mp.weixin.qq.com?params=value" }.freeze

  def expected(ticket, signed, url)
    Digest::SHA1.hexdigest("jsapi_ticket=#{ticket}&noncestr=#{signed[:nonceStr]}&timestamp=#{signed[:timestamp]}&url=#{url}")
  end

  it "signs WeCom's official vector" do
    expect(WeCom::JsSdk.sign(**OFFICIAL)).to eq("0f9de62fce790f9a083d5c99e95740ceb90c27ed")
  end

  it "fetches each ticket once and reuses it, like the access token" do
    jsapi = client.jsapi_ticket
    agent = client.agent_ticket
    expect(jsapi).to be_a(String).and(satisfy { |t| t.size > 16 })
    expect(agent).not_to eq(jsapi)
    3.times { client.js_sdk_signature(url: "https://hr.example.com/p") }
    3.times { client.agent_config_signature(url: "https://hr.example.com/p") }
    expect(emulator.client.jsapi_ticket).to eq(jsapi)
    expect(emulator.ticket_calls).to eq(jsapi: 1, agent: 1)
    expect(emulator.token_requests).to eq(1)
    expect(client.jsapi_ticket_expires_in).to be_within(5).of(7200)
    expect(client.agent_ticket_expires_in).to be_within(5).of(7200)
  end

  it "signs wx.config and wx.agentConfig for the page without its #fragment, nothing URL-encoded" do
    url = "https://hr.example.com/interviews?id=7&q=%E4%BD%A0&name=张三"
    signed = client.js_sdk_signature(url: "#{url}#/calendar?x=1")
    expect(signed.keys).to eq(%i[appId timestamp nonceStr signature])
    expect(signed[:appId]).to eq(credentials[:corp_id])
    expect(signed[:timestamp]).to be_within(5).of(Time.now.to_i)
    expect(signed[:nonceStr]).to match(/\A[A-Za-z0-9]{16}\z/)
    expect(signed[:signature]).to eq(expected(client.jsapi_ticket, signed, url))

    agent = client.agent_config_signature(url: url)
    expect(agent.keys).to eq(%i[corpid agentid timestamp nonceStr signature])
    expect(agent[:agentid]).to eq(1_000_002)
    expect(agent[:signature]).to eq(expected(client.agent_ticket, agent, url))
    expect(client.js_sdk_signature(url: url)[:nonceStr]).not_to eq(signed[:nonceStr])
  end

  it "keeps the agent ticket per app and the jsapi ticket per corp" do
    emu = start_emulator(**credentials, apps: [{ secret: "alerts-secret", agent_id: 1_000_005 }])
    hr = emu.client
    alerts = emu.client(secret: "alerts-secret", agent_id: 1_000_005)
    expect(hr.agent_ticket).not_to eq(alerts.agent_ticket)
    expect(hr.jsapi_ticket).to eq(alerts.jsapi_ticket)
    expect(emu.ticket_calls).to eq(jsapi: 1, agent: 2)
  end

  it "refreshes a ticket a margin before it expires" do
    emu = start_emulator(**credentials, ticket_ttl: 2)
    first = emu.client.jsapi_ticket
    sleep 2.1
    expect(emu.client.jsapi_ticket).not_to eq(first)
    expect(emu.ticket_calls[:jsapi]).to eq(2)
  end

  it "drops an invalid ticket only while it is still the cached one (compare and drop)" do
    old = client.jsapi_ticket
    emulator.expire_tickets!
    expect(client.invalidate_jsapi_ticket(old)).to be(true)
    fresh = client.jsapi_ticket
    expect(fresh).not_to eq(old)
    # A late caller that saw the old ticket fail must not drop the new one.
    expect(client.invalidate_jsapi_ticket(old)).to be(false)
    expect(client.jsapi_ticket).to eq(fresh)
    agent = client.agent_ticket
    emulator.expire_tickets!
    expect(client.invalidate_agent_ticket(agent)).to be(true)
    expect(client.agent_ticket).not_to eq(agent)
    expect(emulator.ticket_calls).to eq(jsapi: 2, agent: 2)
  end

  it "drops an invalid ticket from a shared store too, so other processes fetch a new one" do
    dir = Dir.mktmpdir("wecom-tickets")
    store = WeCom::TokenStore::File.new(dir)
    a = emulator.client(token_store: store)
    old = a.agent_ticket
    emulator.expire_tickets!
    a.invalidate_agent_ticket(old)
    expect(Dir.children(dir).grep(/\Aagent-/)).to be_empty.or(satisfy { |names| names.none? { |n| File.read(File.join(dir, n)).include?(old) } })
    expect(a.agent_ticket).not_to eq(old)
  ensure
    FileUtils.rm_rf(dir) if dir
  end

  it "refuses a URL no page could be at, naming the field and the limit" do
    [["", /url must be an http/], ["/relative", /url must be an http/], ["javascript:alert(1)", /url must be an http/],
     ["https://hr.example.com/a b", /url must not contain spaces/],
     ["https://hr.example.com/#{'x' * 4096}", /url must be at most 4096 bytes, got 4119/]].each do |url, message|
      expect { client.js_sdk_signature(url: url) }.to raise_error(ArgumentError, message)
    end
    expect { client.agent_config_signature(url: nil) }.to raise_error(ArgumentError, /url must be a String, got NilClass/)
    expect(emulator.ticket_calls).to eq(jsapi: 0, agent: 0)
  end

  it "reports a failed ticket fetch as a WeCom::Error that shows no token or ticket" do
    emulator.fail_next(40_001, path: "/cgi-bin/get_jsapi_ticket", times: 2)
    token = client.access_token
    expect { client.js_sdk_signature(url: "https://hr.example.com/") }.to raise_error(WeCom::Error) { |e|
      expect(e.path).to eq("/cgi-bin/get_jsapi_ticket")
      expect(e.message).not_to include(token)
    }
    emulator.fail_next(45_009, path: "/cgi-bin/ticket/get", times: 10)
    expect { client.agent_ticket }.to raise_error(WeCom::RateLimitError)
  end
end
