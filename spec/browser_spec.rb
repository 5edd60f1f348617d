# frozen_string_literal: true

require "cgi"

# The browser the sign-in and JS-SDK specs use works here: a page served by a real Puma runs its
# script in headless Chromium, sees the User-Agent it was given, and a failing example leaves a
# screenshot behind.
RSpec.describe "Browser (spec support)", browser: true do
  before(:all) do
    @server = PumaServer.start(lambda do |env|
      page = <<~HTML
        <!doctype html><title>loading</title>
        <p id="agent">#{CGI.escapeHTML(env['HTTP_USER_AGENT'].to_s)}</p>
        <script>setTimeout(function () { document.title = "ran " + (6 * 7); }, 10);</script>
      HTML
      [200, { "content-type" => "text/html; charset=utf-8" }, [page]]
    end)
  end

  after(:all) { @server&.stop }

  it "runs a page's script in headless Chromium" do
    @browser = Browser.start
    @browser.navigate.to(@server.url("/"))
    expect(Browser.wait_for(@browser) { @browser.title == "ran 42" }).to be(true)
    expect(@browser.find_element(css: "#agent").text).to include("HeadlessChrome")
  end

  it "sends the User-Agent it was started with (WeCom's, for the in-WeCom flows)" do
    @browser = Browser.start(user_agent: Browser::WECOM_USER_AGENT)
    @browser.navigate.to(@server.url("/"))
    expect(@browser.find_element(css: "#agent").text).to eq(Browser::WECOM_USER_AGENT)
  end

  it "fails with what the page showed when it never reaches the state asked for" do
    @browser = Browser.start
    @browser.navigate.to(@server.url("/"))
    expect { Browser.wait_for(@browser, timeout: 0.3) { false } }
      .to raise_error(RuntimeError, /within 0.3s \(at #{Regexp.escape(@server.url('/'))}/)
  end

  it "saves a screenshot and the page's source" do
    @browser = Browser.start
    @browser.navigate.to(@server.url("/"))
    base = Browser.save_artifacts(@browser, "browser spec #{Process.pid}")
    expect(File.binread("#{base}.png", 8)).to eq("\x89PNG\r\n\x1A\n".b)
    expect(File.read("#{base}.html")).to include('id="agent"')
  ensure
    FileUtils.rm_f(["#{base}.png", "#{base}.html"]) if base
  end
end
