# frozen_string_literal: true

require "spec_helper"
require "json"
require "logger"
require "net/http"
require "stringio"
require "omniauth/strategies/wecom"
begin
  require "rack/session" # Rack 3 (Debian 13): the rack-session gem
rescue LoadError
  require "rack/session/cookie" # Rack 2
end

# OmniAuth::Strategies::WeCom in a Rack app served by a real Puma, with the emulator playing
# WeCom's sign-in pages and APIs over real HTTP; the browser is Net::HTTP with a cookie jar.
RSpec.describe OmniAuth::Strategies::WeCom do
  let(:callback) { +"" } # filled in once Puma has a port
  let(:provider_options) { {} }
  let(:server) do
    callback_url = callback
    hosts = { oauth_host: emulator.base_url, qr_host: emulator.base_url, **provider_options }
    app = Rack::Builder.new do
      use Rack::Session::Cookie, key: "hr.session", secret: "s" * 64
      use OmniAuth::Builder do
        provider :wecom, app: :hr, callback_url: callback_url, **hosts
      end
      run(lambda do |env|
        auth = env["omniauth.auth"]
        next [404, { "content-type" => "text/plain" }, ["no such page"]] unless auth

        [200, { "content-type" => "application/json" }, [JSON.generate(auth.to_hash)]]
      end)
    end
    PumaServer.start(app.to_app, threads: 2).tap { |puma| callback.replace(puma.url("/auth/wecom/callback")) }
  end

  include_context "OmniAuth with the emulator as WeCom"

  after { server.stop }

  WXWORK = "Mozilla/5.0 (iPhone) AppleWebKit/605.1.15 wxwork/4.1.0 MicroMessenger/7.0.1"

  def get(url, cookie: nil, agent: WXWORK)
    uri = URI(url)
    Net::HTTP.start(uri.host, uri.port) do |http|
      http.get(uri.request_uri, { "User-Agent" => agent, "Cookie" => cookie }.compact)
    end
  end

  # Starts at the signed entry URL (the workbench's home page); [the callback URL WeCom's page
  # redirected to, the session cookie].
  def sign_in(agent: WXWORK)
    started = get(server.url(described_class.entry_path(app: :hr)), agent: agent)
    expect(started.code).to eq("302")
    cookie = started["Set-Cookie"][/\A[^;]+/]
    wecom = get(started["Location"], agent: agent)
    expect(wecom.code).to eq("302")
    expect(wecom["Location"]).to start_with(callback)
    [wecom["Location"], cookie, started["Location"]]
  end

  def failure_of(response)
    expect(response.code).to eq("302"), "#{response.code}: #{response.body[0, 500]}\n#{log.string}"
    URI.decode_www_form(URI(response["Location"]).query).to_h.fetch("message")
  end

  it "signs a member in from the workbench (a GET) through the OAuth2 page, with OmniAuth's auth hash" do
    back, cookie, authorize = sign_in
    expect(URI(authorize).path).to eq("/connect/oauth2/authorize")
    auth = JSON.parse(get(back, cookie: cookie).body)
    expect(auth).to include("provider" => "wecom", "uid" => "zhangsan")
    expect(auth["info"]).to include("name" => "张三", "nickname" => "zhangsan", "email" => "zhangsan@example.com")
    expect(auth["extra"]).to include("member" => true, "departments" => [1])
    # The query's redirect_uri is the configured one, not anything from the request.
    expect(URI.decode_www_form(URI(authorize).query).to_h["redirect_uri"]).to eq(callback)
  end

  it "uses the web (QR) login outside WeCom's browser, and one gettoken for many sign-ins" do
    3.times do
      back, cookie, authorize = sign_in(agent: "Mozilla/5.0 (X11; Linux x86_64) Chrome/120")
      expect(URI(authorize).path).to eq("/wwlogin/sso/login")
      expect(JSON.parse(get(back, cookie: cookie).body)["uid"]).to eq("zhangsan")
    end
    expect(emulator.token_requests).to eq(1)
  end

  it "still signs in when WeCom's webview lost the cookie: the signed state alone holds" do
    back, = sign_in
    expect(JSON.parse(get(back).body)["uid"]).to eq("zhangsan")
  end

  it "refuses a replayed state, with or without the session, as :csrf_detected" do
    back, cookie = sign_in
    expect(get(back, cookie: cookie).code).to eq("200")
    expect(failure_of(get(back, cookie: cookie))).to eq("csrf_detected")
    expect(failure_of(get(back))).to eq("csrf_detected")
  end

  it "refuses a forged, an expired and another session's state as :csrf_detected" do
    back, cookie = sign_in
    code = URI.decode_www_form(URI(back).query).to_h.fetch("code")
    state = URI.decode_www_form(URI(back).query).to_h.fetch("state")
    forged = state[0...-1] + (state[-1] == "a" ? "b" : "a")
    expect(failure_of(get("#{callback}?code=#{code}&state=#{forged}", cookie: cookie))).to eq("csrf_detected")

    key = described_class.signing_key(:hr)
    body = (Time.now.to_i - 1).to_s(36).rjust(7, "0") + SecureRandom.alphanumeric(20)
    expired = body + OpenSSL::HMAC.hexdigest("SHA256", key, body)[0, 40]
    expect(failure_of(get("#{callback}?code=#{code}&state=#{expired}"))).to eq("csrf_detected")

    _, other_cookie = sign_in # another browser's session, with its own nonce
    expect(failure_of(get(back, cookie: other_cookie))).to eq("csrf_detected")
    expect(emulator.requests.map { |r| r[:path] }).not_to include("/cgi-bin/auth/getuserinfo")
  end

  it "refuses a code WeCom no longer takes (used or expired) as :invalid_code" do
    back, cookie = sign_in
    expect(get(back, cookie: cookie).code).to eq("200")
    used = URI.decode_www_form(URI(back).query).to_h.fetch("code")
    fresh_back, fresh_cookie = sign_in
    fresh_state = URI.decode_www_form(URI(fresh_back).query).to_h.fetch("state")
    expect(failure_of(get("#{callback}?code=#{used}&state=#{fresh_state}", cookie: fresh_cookie))).to eq("invalid_code")
  end

  it "refuses someone outside the corp as :not_a_member, before any user/get" do
    emulator.sign_in_outsider(openid: "oAbC123", external_userid: "wmXyZ789")
    back, cookie = sign_in
    expect(failure_of(get(back, cookie: cookie))).to eq("not_a_member")
    expect(emulator.requests.map { |r| r[:path] }).to include("/cgi-bin/auth/getuserinfo")
    expect(emulator.requests.map { |r| r[:path] }).not_to include("/cgi-bin/user/get")
  end

  context "with allow_external: true" do
    let(:provider_options) { { allow_external: true } }

    it "signs someone outside the corp in with uid = external_userid (else openid) and member: false" do
      emulator.sign_in_outsider(openid: "oAbC123", external_userid: "wmXyZ789")
      back, cookie = sign_in
      auth = JSON.parse(get(back, cookie: cookie).body)
      expect(auth).to include("provider" => "wecom", "uid" => "wmXyZ789")
      expect(auth["extra"]).to include("member" => false, "openid" => "oAbC123", "external_userid" => "wmXyZ789")
      expect(auth["info"].compact).to eq({}) # no directory entry to read a name from

      emulator.sign_in_outsider(openid: "oOnlyWeChat")
      back, cookie = sign_in
      expect(JSON.parse(get(back, cookie: cookie).body)).to include("uid" => "oOnlyWeChat")
    end

    it "still signs members in as members" do
      back, cookie = sign_in
      expect(JSON.parse(get(back, cookie: cookie).body)).to include("uid" => "zhangsan")
    end
  end

  it "starts only from a POST or the signed entry URL, and never logs the secret or the code" do
    expect(get(server.url("/auth/wecom")).code).to eq("404")
    expect(get(server.url("/auth/wecom?entry=#{'0' * 32}")).code).to eq("404")
    back, cookie = sign_in
    get(back, cookie: cookie)
    code = URI.decode_www_form(URI(back).query).to_h.fetch("code")
    expect(log.string).not_to include(emulator.secret, code)
  end
end
