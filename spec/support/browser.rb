# frozen_string_literal: true

require "fileutils"

# A real, headless Chromium driven through chromedriver by Selenium (Debian's chromium,
# chromium-driver and ruby-selenium-webdriver; bin/setup installs them), for the specs where a
# person would use a browser: sign-in pages, pages calling the JS-SDK.
#
#   browser = Browser.start                          # or Browser.start(user_agent: Browser::WECOM_USER_AGENT)
#   browser.navigate.to(server.url("/")); browser.title; browser.find_element(css: "#status").text
#   Browser.wait_for(browser) { browser.title == "signed in" }
#   browser.quit
#
# Examples tagged `browser: true` keep their browser in @browser: after the example it is quit, and
# when the example failed a screenshot and the page's source are saved to tmp/browser-artifacts/
# first.
module Browser
  CHROMIUM = "/usr/bin/chromium"
  CHROMEDRIVER = "/usr/bin/chromedriver"
  ARTIFACTS = File.expand_path("../../tmp/browser-artifacts", __dir__)
  # What the WeCom app's built-in browser sends on Android (the `wxwork/` part is what tells it apart).
  WECOM_USER_AGENT = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) " \
                     "Chrome/120.0 Mobile Safari/537.36 wxwork/4.1.22 MicroMessenger/7.0.1 Language/zh"

  def self.start(user_agent: nil)
    require "selenium-webdriver"
    options = Selenium::WebDriver::Chrome::Options.new(binary: CHROMIUM)
    # --no-sandbox: the suite runs as root, where Chromium's sandbox refuses to start.
    %w[--headless=new --no-sandbox --disable-gpu --disable-dev-shm-usage --window-size=1024,768].each do |arg|
      options.add_argument(arg)
    end
    options.add_argument("--user-agent=#{user_agent}") if user_agent
    service = Selenium::WebDriver::Service.chrome(path: CHROMEDRIVER)
    Selenium::WebDriver.for(:chrome, options: options, service: service)
  end

  # Polls the block until it is truthy; fails with `message` (and what the page showed) after
  # `timeout` seconds.
  def self.wait_for(browser, timeout: 10, message: "the page did not reach the expected state")
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
    loop do
      result = begin
        yield
      rescue Selenium::WebDriver::Error::NoSuchElementError, Selenium::WebDriver::Error::StaleElementReferenceError
        nil
      end
      return result if result
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        raise "#{message} within #{timeout}s (at #{browser.current_url}: #{browser.title.inspect})"
      end

      sleep 0.05
    end
  end

  def self.save_artifacts(browser, name)
    FileUtils.mkdir_p(ARTIFACTS)
    base = File.join(ARTIFACTS, name.gsub(/[^\w-]+/, "_")[0, 120])
    browser.save_screenshot("#{base}.png")
    File.write("#{base}.html", browser.page_source)
    base
  end
end

RSpec.configure do |config|
  config.after(browser: true) do |example|
    browser = instance_variable_get(:@browser)
    next unless browser

    begin
      if example.exception
        base = Browser.save_artifacts(browser, example.full_description)
        warn "browser artifacts: #{base}.png, #{base}.html"
      end
    ensure
      browser.quit
      @browser = nil
    end
  end
end
