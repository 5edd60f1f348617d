# frozen_string_literal: true

require "spec_helper"

# The proxy: setting and the environment's proxy variables, through a real tinyproxy.
RSpec.describe "Outbound proxies" do
  PROXY_VARIABLES = %w[HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy NO_PROXY no_proxy].freeze

  # A missing proxy fails these examples, never skips them: bin/setup installs tinyproxy.
  before { raise "tinyproxy is not installed: run bin/setup, which installs it" unless Tinyproxy.available? }

  around do |example|
    saved = PROXY_VARIABLES.to_h { |name| [name, ENV.fetch(name, nil)] }
    PROXY_VARIABLES.each { |name| ENV.delete(name) }
    example.run
  ensure
    saved.each { |name, value| value.nil? ? ENV.delete(name) : ENV[name] = value }
  end

  def started(proxy)
    (@proxies ||= []) << proxy
    proxy
  end

  after { @proxies&.each(&:stop) }

  let(:password) { "pw-#{SecureRandom.hex(6)}" }
  let(:open_proxy) { started(Tinyproxy.new) }
  let(:auth_proxy) { started(Tinyproxy.new(auth: ["wecom", password])) }

  # The message/send requests tinyproxy logged.
  def proxied_sends(proxy)
    proxy.log.lines.grep(%r{/cgi-bin/message/send})
  end

  it "sends through the proxy given as proxy:, which the emulator receives" do
    result = client_through(open_proxy.url).send_text("via the proxy", to: "zhangsan")
    expect(result.msgid).not_to be_empty
    expect(emulator.messages.last["text"]).to eq("content" => "via the proxy")
    expect(proxied_sends(open_proxy).size).to eq(1)
    expect(open_proxy.log).to include("/cgi-bin/gettoken")
  end

  it "authenticates to a proxy with user:password@, and never shows the password" do
    client = client_through(auth_proxy.url(user: "wecom", password: password))
    client.send_text("with auth", to: "zhangsan")
    expect(emulator.messages.last["text"]).to eq("content" => "with auth")
    expect(proxied_sends(auth_proxy).size).to eq(1)
    expect(client.inspect).to include("proxy=\"http://wecom:[REDACTED]@127.0.0.1:#{auth_proxy.port}\"")
    expect(client.inspect).not_to include(password)
  end

  it "raises ConfigurationError for a wrong proxy password, without the password, and does not retry" do
    wrong = "wrong-#{SecureRandom.hex(6)}"
    client = client_through(auth_proxy.url(user: "wecom", password: wrong), max_retries: 3)
    require "active_support/notifications"
    events = []
    subscriber = ActiveSupport::Notifications.subscribe(/wecom/) { |*args| events << args.inspect }
    error, seconds = raised_and_seconds(WeCom::ConfigurationError) { client.send_text("nope", to: "zhangsan") }
    expect(error).not_to be_nil
    expect(error.message).to include("the proxy 127.0.0.1:#{auth_proxy.port} refused its credentials (407")
    expect(error.message).not_to include(wrong)
    expect(events.join).to include("request.wecom", "127.0.0.1:#{auth_proxy.port}")
    expect(events.join).not_to include(wrong)
    expect(seconds).to be < 2
    expect(emulator.requests).to be_empty
  ensure
    ActiveSupport::Notifications.unsubscribe(subscriber)
  end

  it "fails fast with a NetworkError naming the proxy when the proxy refuses connections" do
    port = free_port
    client = client_through("http://wecom:#{password}@127.0.0.1:#{port}", max_retries: 1)
    error, seconds = raised_and_seconds(WeCom::NetworkError) { client.send_text("nope", to: "zhangsan") }
    expect(error).to be_a(WeCom::NetworkError)
    expect(error).not_to be_a(WeCom::TimeoutError)
    expect(error.message).to include("through the proxy 127.0.0.1:#{port}")
    expect(error.message).not_to include(password)
    expect(error.delivery_unknown?).to be(false)
    expect(seconds).to be < 2
  end

  it "times out with a TimeoutError when the proxy accepts and never answers" do
    hanging = started(HangingProxy.new)
    client = client_through(hanging.url(user: "wecom", password: password), timeout: 0.5, open_timeout: 0.3,
                                                                               max_retries: 0)
    error, seconds = raised_and_seconds(WeCom::TimeoutError) { client.send_text("nope", to: "zhangsan") }
    expect(error).to be_a(WeCom::TimeoutError)
    expect(error.message).not_to include(password)
    expect(seconds).to be_between(0.4, 2)
    expect(hanging.connections).to eq(1)
  end

  it "uses the environment's proxy when proxy: is not set" do
    ENV["http_proxy"] = open_proxy.url
    emulator.client(retry_base_delay: 0.01).send_text("via the env", to: "zhangsan")
    expect(proxied_sends(open_proxy).size).to eq(1)
    expect(emulator.messages.last["text"]).to eq("content" => "via the env")
  end

  it "bypasses the environment's proxy for the hosts in NO_PROXY" do
    hanging = started(HangingProxy.new)
    ENV["HTTP_PROXY"] = hanging.url
    ENV["ALL_PROXY"] = hanging.url
    ENV["NO_PROXY"] = "127.0.0.1"
    emulator.client(timeout: 1, max_retries: 0).send_text("direct", to: "zhangsan")
    expect(emulator.messages.last["text"]).to eq("content" => "direct")
    expect(hanging.connections).to eq(0)
  end

  it "ignores the environment's proxies with proxy: false, in the configuration too" do
    hanging = started(HangingProxy.new)
    %w[HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy].each { |name| ENV[name] = hanging.url }
    emulator.client(proxy: false, timeout: 1, max_retries: 0).send_text("direct", to: "zhangsan")
    WeCom.configure { |c| c.proxy = false }
    emulator.client(timeout: 1, max_retries: 0).send_text("direct again", to: "zhangsan")
    expect(emulator.messages.map { |m| m["text"]["content"] }).to eq(["direct", "direct again"])
    expect(hanging.connections).to eq(0)
  end

  it "gives each proxy of one thread its own connections" do
    direct = emulator.client(proxy: false, retry_base_delay: 0.01)
    proxied = client_through(open_proxy.url)
    3.times do |i|
      direct.send_text("direct #{i}", to: "zhangsan")
      proxied.send_text("proxied #{i}", to: "zhangsan")
    end
    expect(emulator.messages.size).to eq(6)
    expect(proxied_sends(open_proxy).size).to eq(3)
  end

  it "sends a group robot's messages through the proxy" do
    key = "robot-#{SecureRandom.hex(8)}"
    robots = start_emulator(**credentials, robots: [key])
    robot = WeCom::Webhook.new(key: robots.robot_url(key), proxy: auth_proxy.url(user: "wecom", password: password))
    robot.send_text("robot via proxy")
    expect(robots.robot_messages(key).last["text"]).to eq("content" => "robot via proxy")
    expect(auth_proxy.log).to include("/cgi-bin/webhook/send")
    expect(robot.inspect).not_to include(password)
  end

  it "refuses a proxy that is not an http URL, without showing its password" do
    expect { emulator.client(proxy: "socks5://u:#{password}@127.0.0.1:1080") }
      .to raise_error(ArgumentError, /\Aproxy must be an http:\/\/ URL/) { |e| expect(e.message).not_to include(password) }
    WeCom.configure { |c| c.proxy = "http://u:#{password}@127.0.0.1:3128/path" }
    expect { emulator.client }
      .to raise_error(WeCom::ConfigurationError, /proxy must be/) { |e| expect(e.message).not_to include(password) }
    expect { emulator.client(proxy: 3128) }.to raise_error(ArgumentError, /proxy must be .*got Integer/)
    WeCom.reset_configuration!
    ENV["http_proxy"] = "ftp://u:#{password}@127.0.0.1:21"
    expect { emulator.client }
      .to raise_error(WeCom::ConfigurationError, /http_proxy must be an http:\/\/ URL/) { |e| expect(e.message).not_to include(password) }
  end

  it "shows the proxy without its password in WeCom.configuration.inspect" do
    WeCom.configure do |c|
      c.proxy = "http://ops:#{password}@proxy.example.com:3128"
      c.app :hr, secret: "s", agent_id: 2, proxy: "http://hr:#{password}@hr-proxy.example.com:3128"
    end
    inspected = WeCom.configuration.inspect
    expect(inspected).to include('proxy="http://ops:[REDACTED]@proxy.example.com:3128"',
                                 'proxy="http://hr:[REDACTED]@hr-proxy.example.com:3128"')
    expect(inspected).not_to include(password)
    expect(WeCom.configuration.app_settings(:hr).inspect).not_to include(password)
  end

  def client_through(proxy, **settings)
    emulator.client(proxy: proxy, retry_base_delay: 0.01, **settings)
  end
end
