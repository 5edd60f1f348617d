# frozen_string_literal: true

require "digest"
require "logger"
require "stringio"
require "tmpdir"

# Token stores and token refreshes failing as they do in production: Redis restarting or down,
# gettoken answering 502 near expiry, a directory that cannot be written, a token file that
# blocks, a store that sends through wecom itself.
RSpec.describe "Token store failures" do
  let(:redis) { PrivateRedis.start }
  let(:servers) { [] }
  let(:log) { StringIO.new }

  before { WeCom.logger = Logger.new(log) }

  after do
    WeCom.logger = nil
    servers.each(&:stop)
    redis.stop if @redis_used
  end

  def redis_store
    @redis_used = true
    WeCom::TokenStore::Redis.new(url: redis.url, namespace: "wecom-#{SecureRandom.hex(4)}", timeout: 0.5)
  end

  def send_ok(client)
    expect(client.send_text("x", to: "u").msgid).to be_a(String)
  end

  # The name of the client's token in a file store: corp id and a digest of the secret.
  def token_file(dir)
    File.join(dir, "#{credentials[:corp_id]}-#{Digest::SHA256.hexdigest(credentials[:secret])[0, 16]}.json")
  end

  it "a Redis restart: the store reconnects by itself, on the same long-lived thread" do
    client = emulator.client(token_store: redis_store, retry_base_delay: 0.01)
    send_ok(client)
    redis.stop
    redis.start
    5.times do
      emulator.expire_tokens! # each send must go through the store again
      send_ok(client)
    end
    expect(emulator.token_requests).to eq(6)
  end

  describe "a refresh that fails before the token expires" do
    # WeCom's lifetimes are 2 h; with 4 s the refresh is due between 3.7 s and 3.8 s.
    let(:lifetime) { 4 }

    it "keeps sending with the valid token, tries again later, then fails once it expires" do
      gettoken = 0
      server = PlainServer.start do |request|
        next [200, { "errcode" => 0, "msgid" => "m" }] unless request.path.end_with?("/gettoken")

        gettoken += 1
        gettoken == 1 ? [200, { "errcode" => 0, "access_token" => "t1", "expires_in" => lifetime }] : [502, "bad gateway"]
      end
      servers << server
      client = WeCom::Client.new(**credentials, base_url: server.base_url, max_retries: 0)
      send_ok(client)
      sleep 3.85
      send_ok(client) # the refresh failed: the token still has 0.15 s
      send_ok(client) # not tried again on every send
      expect(gettoken).to eq(2)
      sleep 0.3
      expect { client.send_text("x", to: "u") }.to raise_error(WeCom::NetworkError, /HTTP 502/)
    end

    it "keeps sending while Redis is down" do
      # A server that never expires tokens: only the client's idea of the lifetime matters here.
      server = PlainServer.start do |request|
        next [200, { "errcode" => 0, "msgid" => "m" }] unless request.path.end_with?("/gettoken")

        [200, { "errcode" => 0, "access_token" => "t-#{SecureRandom.hex(4)}", "expires_in" => lifetime }]
      end
      servers << server
      client = WeCom::Client.new(**credentials, base_url: server.base_url, token_store: redis_store)
      send_ok(client)
      redis.stop
      sleep 3.85
      2.times { send_ok(client) }
      expect(server.requests_to("/cgi-bin/gettoken")).to eq(1)
    end
  end

  describe "a store that cannot be written" do
    it "a read-only token directory: one gettoken for many sends, and one line in the log" do
      dir = Dir.mktmpdir("wecom-readonly")
      unless system("mount", "-t", "tmpfs", "-o", "ro,size=64k", "tmpfs", dir, err: File::NULL)
        raise "mounting a read-only tmpfs needs root (the specs run as root in CI)"
      end

      begin
        client = emulator.client(token_store: WeCom::TokenStore::File.new(dir))
        10.times { send_ok(client) }
        expect(emulator.token_requests).to eq(1)
        warnings = log.string.lines.grep(/WeCom: the token store File\(#{Regexp.escape(dir)}\) cannot be written/)
        expect(warnings.size).to eq(1)
        expect(warnings.first).to match(/Read-only file system/)
      ensure
        system("umount", dir)
        Dir.rmdir(dir)
      end
    end

    it "a custom store whose write raises: the fetched token still serves this process" do
      store = Class.new do
        def read(_key) = nil
        def write(_key, _value, _ttl) = raise(IOError, "disk full")
        def delete(_key, _value) = false
        def lock(_key, _owner, _ttl) = true
        def unlock(_key, _owner) = nil
      end.new
      client = emulator.client(token_store: store)
      10.times { send_ok(client) }
      expect(emulator.token_requests).to eq(1)
      expect(log.string).to match(/WeCom: the token store External cannot be written .*write raised IOError: disk full/)
    end
  end

  describe "a token file that blocks (a FIFO here; a hung network mount in production)" do
    let(:dir) { Dir.mktmpdir("wecom-fifo") }

    before { File.mkfifo(token_file(dir)) }

    after do
      # Let the threads still waiting to open the FIFO go, then clean up.
      File.open(token_file(dir), File::WRONLY | File::NONBLOCK, &:close)
    rescue Errno::ENXIO
      nil
    ensure
      FileUtils.rm_rf(dir)
    end

    it "fails within the client's timeout, naming the store" do
      client = emulator.client(token_store: WeCom::TokenStore::File.new(dir), timeout: 1)
      error, seconds = raised_and_seconds(WeCom::NetworkError) { client.send_text("x", to: "u") }
      expect(error.message).to include("reading the token file failed").and include("no answer within 1.000s")
      expect(seconds).to be_between(0.9, 3)
    end

    it "is interruptible by Timeout.timeout" do
      client = emulator.client(token_store: WeCom::TokenStore::File.new(dir), timeout: 30)
      error, seconds = raised_and_seconds(Timeout::Error) { Timeout.timeout(0.3) { client.send_text("x", to: "u") } }
      expect(error).to be_a(Timeout::Error)
      expect(seconds).to be < 2
    end
  end

  describe "a custom store that sends through wecom itself (it alerts through WeCom)" do
    def alerting_store(rescue_errors:)
      Class.new do
        define_method(:initialize) { |alerts| @alerts = alerts }
        define_method(:read) do |_key|
          @alerts.call
          nil
        rescue WeCom::Error
          raise unless rescue_errors
        end
        def write(_key, _value, _ttl) = nil
        def delete(_key, _value) = false
        def lock(_key, _owner, _ttl) = true
        def unlock(_key, _owner) = nil
      end.new(-> { WeCom::Client.new(**credentials, base_url: emulator.base_url).send_text("store read", to: "ops") })
    end

    it "gets a clear error at once instead of waiting for itself" do
      client = emulator.client(token_store: alerting_store(rescue_errors: false))
      error, seconds = raised_and_seconds(WeCom::NetworkError) do
        Timeout.timeout(10) { client.send_text("x", to: "u") }
      end
      expect(error.message).to include("read raised WeCom::ConfigurationError")
        .and include("a token store method called wecom while a send was waiting for it")
      expect(seconds).to be < 2
    end

    it "lets the outer send go on when the store rescues that error" do
      client = emulator.client(token_store: alerting_store(rescue_errors: true))
      Timeout.timeout(10) { send_ok(client) }
    end
  end

  it "an absurd expires_in from gettoken (2**64 - 1) is kept to a day, without a panic" do
    server = PlainServer.start do |request|
      if request.path.end_with?("/gettoken")
        [200, %({"errcode":0,"access_token":"t","expires_in":18446744073709551615})]
      else
        [200, { "errcode" => 0, "msgid" => "m" }]
      end
    end
    servers << server
    client = WeCom::Client.new(**credentials, base_url: server.base_url)
    send_ok(client)
    expect(client.token_expires_in).to be_between(86_000, 86_400)
  end
end
