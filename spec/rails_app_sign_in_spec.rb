# frozen_string_literal: true

require "net/http"
require "omniauth/strategies/wecom"

# "Sign in with WeCom" in the Rails app under spec/rails_app, as an interviewer does it: a real
# headless Chromium, `bin/rails server` (Puma) with OmniAuth (checking Rails' CSRF token) and wecom's
# strategy, and the emulator playing WeCom's sign-in pages and APIs. Outside WeCom the
# button starts the web (QR code) login and the interviewer picks who they are; inside WeCom (its
# User-Agent) the workbench's signed home page signs them in without a click.
RSpec.describe "Signing in to a Rails app with WeCom in a browser", browser: true do
  before(:all) do
    @emulator = WeCom::Emulator.start(corp_id: "ww-rails-sign-in", secret: "rails-sign-in-secret",
                                      agent_id: 1_000_002)
    port = free_port
    @app = RailsApp.copy(env: {
                           "DATABASE_SCHEMA" => "wecom_rails_app_sign_in", "APP_URL" => "http://127.0.0.1:#{port}",
                           "WECOM_CORP_ID" => @emulator.corp_id, "WECOM_SECRET" => @emulator.secret,
                           "WECOM_AGENT_ID" => @emulator.agent_id.to_s, "WECOM_BASE_URL" => @emulator.base_url,
                           "WECOM_SIGN_IN_HOST" => @emulator.base_url
                         })
    @app.rails("generate", "wecom:install")
    @server = @app.start_server(port: port)
  end

  after(:all) do
    @app&.stop
    @emulator&.stop
    @app&.remove unless ENV["KEEP"]
  end

  before do
    @emulator.clear!
    @emulator.sign_in_as(nil)
  end

  def text(css)
    @browser.find_element(css: css).text
  end

  def signed_in_page
    Browser.wait_for(@browser, message: "the signed-in page did not show") { @browser.title == "Signed in" }
    { name: text("#signed-in"), userid: text("#userid"), departments: text("#departments") }
  end

  it "outside WeCom: the button opens WeCom's web login, the interviewer picks themself, and is signed in" do
    @browser = Browser.start
    @browser.navigate.to(@server.url("/"))
    @browser.find_element(css: "form[action='/auth/wecom'] [type=submit]").click
    Browser.wait_for(@browser) { @browser.title == "WeCom emulator: sign in" }
    expect(URI(@browser.current_url).path).to eq("/wwlogin/sso/login")
    @browser.find_element(css: "a.member[data-userid='zhangsan']").click
    expect(signed_in_page).to eq(name: "Signed in as 张三", userid: "zhangsan", departments: "1")
    expect(@emulator.requests.map { |r| r[:path] }).to include("/cgi-bin/auth/getuserinfo", "/cgi-bin/user/get")

    @browser.find_element(css: "form[action='/sign_out'] [type=submit]").click
    Browser.wait_for(@browser) { @browser.title == "Sign in" }
  end

  it "inside WeCom: the workbench's home page (the signed entry URL) signs the member in through OAuth2" do
    @emulator.sign_in_as("lisi") # WeCom knows who is using its browser: no page, straight back
    WeCom.configure { |c| c.corp_id = @emulator.corp_id; c.secret = @emulator.secret; c.agent_id = @emulator.agent_id }
    entry = OmniAuth::Strategies::WeCom.entry_path # what the admin pastes as the app's home page
    @browser = Browser.start(user_agent: Browser::WECOM_USER_AGENT)
    @browser.navigate.to(@server.url(entry))
    expect(signed_in_page).to eq(name: "Signed in as 李四", userid: "lisi", departments: "1")
    expect(@emulator.requests.map { |r| r[:path] }).to include("/connect/oauth2/authorize")
    expect(@emulator.requests.map { |r| r[:path] }).not_to include("/wwlogin/sso/login")
  end

  # Starts a sign-in with the button and stops at WeCom's web login: the callback URL (with a
  # fresh code and state) that picking `userid` would send the browser to.
  def callback_from_login_page(userid)
    @browser.navigate.to(@server.url("/"))
    @browser.find_element(css: "form[action='/auth/wecom'] [type=submit]").click
    Browser.wait_for(@browser) { @browser.title == "WeCom emulator: sign in" }
    pick = @browser.find_element(css: "a.member[data-userid='#{userid}']").attribute("href")
    Net::HTTP.get_response(URI(pick)).fetch("location")
  end

  def failure_shown
    Browser.wait_for(@browser) { @browser.title == "Sign in" }
    expect(@browser.find_elements(css: "#signed-in")).to be_empty
    text("#failure")
  end

  it "a replayed callback, a forged state and a reused code show the failure and sign nobody in" do
    @browser = Browser.start
    callback = callback_from_login_page("zhangsan")
    @browser.navigate.to(callback)
    expect(signed_in_page[:userid]).to eq("zhangsan")

    @browser.navigate.to(callback) # the same state again, in the same session
    expect(failure_shown).to eq("Sign-in failed: csrf_detected")
    @browser.manage.delete_all_cookies # and from a browser that never started it
    @browser.navigate.to(callback)
    expect(failure_shown).to eq("Sign-in failed: csrf_detected")

    @browser.navigate.to(@server.url("/auth/wecom/callback?code=forged&state=#{'a' * 67}"))
    expect(failure_shown).to eq("Sign-in failed: csrf_detected")

    used_code = URI.decode_www_form(URI(callback).query).to_h.fetch("code")
    fresh = URI(callback_from_login_page("zhangsan"))
    fresh.query = URI.encode_www_form(URI.decode_www_form(fresh.query).to_h.merge("code" => used_code))
    @browser.navigate.to(fresh.to_s)
    expect(failure_shown).to eq("Sign-in failed: invalid_code")
  end

  it "a sign-in POST without Rails' CSRF token is refused before WeCom is asked" do
    @browser = Browser.start
    @browser.navigate.to(@server.url("/"))
    @browser.execute_script("document.querySelector(\"form[action='/auth/wecom'] input[name=authenticity_token]\").remove()")
    @browser.find_element(css: "form[action='/auth/wecom'] [type=submit]").click
    expect(failure_shown).to eq("Sign-in failed: authenticity_error")
    expect(@emulator.requests).to be_empty
  end
end
