# frozen_string_literal: true

require "spec_helper"
require "cgi"
require "net/http"

RSpec.describe WeCom::SignIn do
  let(:args) { { corp_id: "ww1", agent_id: 1_000_002, redirect_uri: "https://hr.example.com/cb?x=1", state: "abc123" } }

  it "builds the in-WeCom OAuth2 URL with the redirect URI encoded and #wechat_redirect" do
    url = described_class.authorize_url(**args, scope: "snsapi_privateinfo")
    expect(url).to eq("https://open.weixin.qq.com/connect/oauth2/authorize?appid=ww1&" \
                      "redirect_uri=https%3A%2F%2Fhr.example.com%2Fcb%3Fx%3D1&response_type=code&" \
                      "scope=snsapi_privateinfo&state=abc123&agentid=1000002#wechat_redirect")
  end

  it "builds the web (QR) login URL on an overridable host" do
    url = described_class.authorize_url(**args, flow: :qr, qr_host: "http://127.0.0.1:9")
    expect(url).to eq("http://127.0.0.1:9/wwlogin/sso/login?login_type=CorpApp&appid=ww1&agentid=1000002&" \
                      "redirect_uri=https%3A%2F%2Fhr.example.com%2Fcb%3Fx%3D1&state=abc123")
  end

  it "refuses a state WeCom would not carry, naming the field and the limit" do
    expect { described_class.authorize_url(**args, state: "a" * 129) }.to raise_error(ArgumentError, /state.*128/)
    expect { described_class.authorize_url(**args, state: "a-b") }.to raise_error(ArgumentError, /state/)
  end

  it "refuses a relative or fragment redirect_uri, an unknown scope and an unknown flow" do
    expect { described_class.authorize_url(**args, redirect_uri: "/cb") }.to raise_error(ArgumentError, /redirect_uri/)
    expect { described_class.authorize_url(**args, redirect_uri: "https://a.example/#x") }
      .to raise_error(ArgumentError, /redirect_uri/)
    expect { described_class.authorize_url(**args, scope: "snsapi_userinfo") }.to raise_error(ArgumentError, /scope/)
    expect { described_class.authorize_url(**args, flow: :popup) }.to raise_error(ArgumentError, /flow/)
  end
end

# The whole exchange over real HTTP: the emulator's sign-in pages (OAuth2 inside WeCom and the
# web login) redirect with a code, and user_for_code turns it into the member through the
# client's cached token.
RSpec.describe "WeCom::SignIn.user_for_code against the emulator" do
  let(:callback) { "https://hr.example.com/wecom/callback?from=home" }

  def authorize(flow: :oauth, scope: "snsapi_base", state: "s1", **extra)
    url = WeCom::SignIn.authorize_url(corp_id: emulator.corp_id, agent_id: emulator.agent_id, redirect_uri: callback,
                                      state: state, scope: scope, flow: flow, oauth_host: emulator.base_url,
                                      qr_host: emulator.base_url)
    uri = URI(url.delete_suffix("#wechat_redirect"))
    uri.query = [uri.query, URI.encode_www_form(extra)].reject(&:empty?).join("&") unless extra.empty?
    Net::HTTP.get_response(uri)
  end

  # The code and state of a redirect to the callback.
  def redirected(response)
    expect(response.code).to eq("302")
    location = URI(response["Location"])
    expect("#{location.scheme}://#{location.host}#{location.path}").to eq("https://hr.example.com/wecom/callback")
    URI.decode_www_form(location.query).to_h
  end

  it "signs in the chosen member on either page and turns the code into their userid, once" do
    emulator.sign_in_as("zhangsan")
    tokens = nil
    %i[oauth qr].each do |flow|
      params = redirected(authorize(flow: flow, state: "abc#{flow}"))
      expect(params).to include("from" => "home", "state" => "abc#{flow}")
      identity = WeCom::SignIn.user_for_code(params.fetch("code"), client: client)
      expect([identity.userid, identity.member?, identity.profile]).to eq(["zhangsan", true, nil])
      tokens ||= emulator.token_requests
      expect { client.user_for_code(params.fetch("code")) }
        .to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(40029) }
    end
    expect(emulator.token_requests).to eq(tokens) # one gettoken, however many sign-ins
    expect(emulator.sign_in_codes).to eq(2)
  end

  it "gives the consented details with snsapi_privateinfo (auth/getuserdetail from the user_ticket)" do
    emulator.sign_in_as("zhangsan")
    code = redirected(authorize(scope: "snsapi_privateinfo"))["code"]
    identity = client.user_for_code(code)
    expect(identity.profile).to have_attributes(userid: "zhangsan", email: "zhangsan@example.com",
                                                mobile: "13800000001", gender: 1)
  end

  it "turns the code of someone outside the corp into their openid and external_userid, with no userid" do
    emulator.sign_in_outsider(openid: "oAbC123", external_userid: "wmXyZ789")
    identity = client.user_for_code(redirected(authorize(flow: :qr, scope: "snsapi_privateinfo"))["code"])
    expect(identity.to_h).to eq(userid: nil, openid: "oAbC123", external_userid: "wmXyZ789", profile: nil)
    expect(identity.member?).to be(false)
    emulator.sign_in_outsider(openid: "oOnlyWeChat")
    identity = client.user_for_code(redirected(authorize)["code"])
    expect([identity.openid, identity.external_userid, identity.member?]).to eq(["oOnlyWeChat", nil, false])
    expect(emulator.requests.map { |r| r[:path] }).not_to include("/cgi-bin/auth/getuserdetail")
    expect { emulator.sign_in_outsider(openid: "") }.to raise_error(ArgumentError, /openid/)
  end

  it "refuses an expired code and one issued for another app" do
    emulator.sign_in_as("lisi")
    code = redirected(authorize)["code"]
    emulator.age_sign_in_codes(WeCom::Emulator::SIGN_IN_CODE_TTL)
    expect { client.user_for_code(code) }.to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(40029) }

    emu = start_emulator(**credentials, apps: [{ secret: "hr-secret", agent_id: 1_000_005 }])
    emu.sign_in_as("lisi")
    url = WeCom::SignIn.authorize_url(corp_id: emu.corp_id, agent_id: 1_000_005, redirect_uri: callback, state: "s",
                                      oauth_host: emu.base_url)
    other_code = redirected(Net::HTTP.get_response(URI(url.delete_suffix("#wechat_redirect"))))["code"]
    expect { emu.client.user_for_code(other_code) }.to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(40029) }
  end

  it "shows a pick list when nobody is chosen, each member a link that signs them in" do
    page = authorize
    expect(page.code).to eq("200")
    links = page.body.scan(/href="([^"]+)"/).flatten.map { |href| CGI.unescapeHTML(href) }
    expect(links.size).to eq(3)
    lisi = links.find { |href| href.include?("userid=lisi") }
    params = redirected(Net::HTTP.get_response(URI("#{emulator.base_url}#{lisi}")))
    expect(client.user_for_code(params["code"]).userid).to eq("lisi")
  end

  it "answers a bad request with a 400 page, never a redirect" do
    [{ appid_override: true }, { state: "not-alnum!" }].each do |bad|
      response = if bad[:appid_override]
                   Net::HTTP.get_response(URI("#{emulator.base_url}/connect/oauth2/authorize?appid=other&agentid=1&redirect_uri=https%3A%2F%2Fa.example%2F"))
                 else
                   Net::HTTP.get_response(URI("#{emulator.base_url}/connect/oauth2/authorize?appid=#{emulator.corp_id}" \
                                              "&agentid=#{emulator.agent_id}&redirect_uri=https%3A%2F%2Fa.example%2F&state=not-alnum!"))
                 end
      expect(response.code).to eq("400")
      expect(response["Location"]).to be_nil
    end
    emulator.sign_in_as("nobody")
    expect(authorize.code).to eq("400")
  end

  it "refuses a code that is no code, before any call" do
    expect { client.user_for_code("") }.to raise_error(ArgumentError, /code must not be empty/)
    expect { client.user_for_code("x" * 513) }.to raise_error(ArgumentError, /code is 513 bytes; WeCom allows at most 512/)
  end
end
