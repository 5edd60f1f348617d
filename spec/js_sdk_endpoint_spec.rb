# frozen_string_literal: true

require "stringio"

# WeCom::JsSdk::Endpoint, the URL signer `ww.register` calls, and the wx.config view helper.
RSpec.describe WeCom::JsSdk::Endpoint do
  let(:endpoint) { described_class.new(client: client, trusted_domains: ["hr.example.com", "*.corp.example", "127.0.0.1:8443"]) }

  def request(path, query: nil, method: "GET", body: nil, content_type: nil)
    env = { "REQUEST_METHOD" => method, "PATH_INFO" => path, "QUERY_STRING" => query.to_s,
            "rack.input" => StringIO.new(body.to_s) }
    env["CONTENT_LENGTH"] = body.bytesize.to_s if body
    env["CONTENT_TYPE"] = content_type if content_type
    status, headers, chunks = endpoint.call(env)
    [status, headers, JSON.parse(chunks.join)]
  end

  def sha1(ticket, answer, url)
    Digest::SHA1.hexdigest("jsapi_ticket=#{ticket}&noncestr=#{answer['nonceStr']}&timestamp=#{answer['timestamp']}&url=#{url}")
  end

  it "signs a page on a trusted domain for wx.config / getConfigSignature" do
    url = "https://hr.example.com/p?a=1&b=2"
    status, headers, answer = request("/config", query: URI.encode_www_form(url: "#{url}#/x"))
    expect(status).to eq(200)
    expect(headers["content-type"]).to eq("application/json; charset=utf-8")
    expect(headers["cache-control"]).to eq("no-store")
    expect(answer.keys).to eq(%w[appId timestamp nonceStr signature])
    expect(answer["signature"]).to eq(sha1(client.jsapi_ticket, answer, url))
  end

  it "signs for wx.agentConfig / getAgentConfigSignature, by POST form or JSON body too" do
    url = "https://a.corp.example/page"
    _, _, form = request("/agent_config", method: "POST", body: URI.encode_www_form(url: url),
                                          content_type: "application/x-www-form-urlencoded")
    _, _, json = request("/agent_config", method: "POST", body: JSON.generate(url: url), content_type: "application/json")
    [form, json].each do |answer|
      expect(answer["agentid"]).to eq(1_000_002)
      expect(answer["signature"]).to eq(sha1(client.agent_ticket, answer, url))
    end
  end

  it "refuses pages outside the trusted domains with 403 and fetches no ticket" do
    ["https://evil.example/p", "https://hr.example.com.evil.example/", "https://corp.example/",
     "https://127.0.0.1:9443/", "https://user@hr.example.com/"].each do |url|
      status, _, answer = request("/config", query: URI.encode_www_form(url: url))
      expect([url, status, answer]).to eq([url, 403, { "error" => "url is not on a trusted domain of this app" }])
    end
    expect(request("/config", query: URI.encode_www_form(url: "https://127.0.0.1:8443/x")).first).to eq(200)
    expect(request("/config", query: URI.encode_www_form(url: "https://HR.example.com:444/x")).first).to eq(200)
  end

  it "answers bad requests with a clear error and its limit" do
    expect(request("/config")).to match([400, anything, { "error" => /url is missing/ }])
    long = "https://hr.example.com/#{'x' * 4100}"
    expect(request("/config", query: URI.encode_www_form(url: long)))
      .to match([400, anything, { "error" => "url must be at most 4096 bytes, got 4123" }])
    expect(request("/config", query: URI.encode_www_form(url: "https://hr.example.com/a b")))
      .to match([403, anything, anything]).or match([400, anything, { "error" => /url/ }])
    expect(request("/config", method: "DELETE")).to match([405, hash_including("allow" => "GET, POST"), anything])
    expect(request("/other")).to match([404, anything, { "error" => %r{/config or /agent_config} }])
    big = "url=#{'x' * 9000}"
    expect(request("/config", method: "POST", body: big)).to match([413, anything, { "error" => /at most 8192 bytes/ }])
    expect(request("/config", method: "POST", body: "{", content_type: "application/json"))
      .to match([400, anything, { "error" => "the JSON body is not valid JSON" }])
    expect(emulator.ticket_calls).to eq(jsapi: 0, agent: 0)
  end

  it "answers 502 or 503 when WeCom fails, never showing a ticket" do
    emulator.fail_next(45_009, path: "/cgi-bin/get_jsapi_ticket", times: 10)
    status, _, answer = request("/config", query: URI.encode_www_form(url: "https://hr.example.com/"))
    expect(status).to eq(503)
    expect(answer["error"]).to start_with("WeCom: ")
  end

  it "refuses trusted_domains that are not hosts" do
    expect { described_class.new(client: client, trusted_domains: []) }.to raise_error(ArgumentError, /at least one host/)
    expect { described_class.new(client: client, trusted_domains: ["https://hr.example.com/"]) }
      .to raise_error(ArgumentError, /trusted_domains entries are hosts/)
  end

  describe WeCom::JsSdk::Helper do
    it "writes WeCom's script and a wx.config signed for the page, escaped for a script tag" do
      view = Object.new.extend(described_class)
      url = "https://hr.example.com/p?x=</script>"
      html = view.wecom_js_sdk_config(js_api_list: %w[selectEnterpriseContact], client: client, url: url)
      expect(html).to start_with(%(<script src="https://res.wx.qq.com/open/js/jweixin-1.2.0.js"></script>))
      config = JSON.parse(html[/wx\.config\((.*)\);/, 1])
      expect(html.scan("</script>").size).to eq(2)
      expect(config).to include("beta" => true, "debug" => false, "jsApiList" => ["selectEnterpriseContact"],
                                "appId" => credentials[:corp_id])
      expect(config["signature"]).to eq(sha1(client.jsapi_ticket, config, url))
    end
  end
end
