# frozen_string_literal: true

require "tmpdir"
require "socket"

# Shared token stores, with real processes, a real directory and the real Redis on 127.0.0.1.
RSpec.describe "Shared token stores" do
  def redis_store(**options)
    WeCom::TokenStore::Redis.new(namespace: "wecom-spec-#{SecureRandom.hex(6)}", **options)
  end

  def file_store
    @dirs ||= []
    @dirs << Dir.mktmpdir("wecom-tokens")
    WeCom::TokenStore::File.new(@dirs.last)
  end

  after { @dirs&.each { |dir| FileUtils.rm_rf(dir) } }

  # Runs the block in a forked child and returns what it returned (through a pipe, as JSON).
  # A child that hangs is killed after `timeout` seconds and fails the example.
  def in_child(timeout: 30)
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      outcome = begin
        { "value" => yield }
      rescue Exception => e # rubocop:disable Lint/RescueException
        { "error" => "#{e.class}: #{e.message}" }
      end
      writer.write(JSON.generate(outcome))
      writer.close
      exit!(0)
    end
    writer.close
    [pid, lambda do
      deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + timeout
      until Process.waitpid(pid, Process::WNOHANG)
        if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
          Process.kill(:KILL, pid)
          Process.wait(pid)
          raise "child #{pid} hung for #{timeout}s"
        end
        sleep 0.01
      end
      outcome = JSON.parse(reader.read)
      reader.close
      raise "child failed: #{outcome['error']}" if outcome.key?("error")

      outcome["value"]
    end]
  end

  # 4 processes x 8 threads sending for `seconds` with the token store; returns how many
  # sends succeeded and the errors callers saw.
  def fleet(emu, store, seconds:)
    creds = credentials
    children = Array.new(4) do
      in_child(timeout: seconds + 30) do
        client = WeCom::Client.new(**creds, base_url: emu.base_url, token_store: store, retry_base_delay: 0.01)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
        sent = 0
        errors = []
        Array.new(8) do
          Thread.new do
            while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
              begin
                client.send_text("fleet", to: "u")
                sent += 1
              rescue WeCom::Error => e
                errors << e.message
              end
              sleep 0.01
            end
          end
        end.each(&:join)
        { "sent" => sent, "errors" => errors }
      end
    end
    results = children.map { |_, wait| wait.call }
    { sent: results.sum { |r| r["sent"] }, errors: results.flat_map { |r| r["errors"] } }
  end

  describe "a fleet of 4 processes x 8 threads over 10 seconds, tokens living 2 seconds", :slow do
    let(:ttl) { 2 }
    let(:seconds) { 10 }

    { "the file store" => :file_store, "the Redis store" => :redis_store }.each do |name, store|
      it "fetches at most one token per lifetime with #{name}, and no caller sees a token error" do
        emu = start_emulator(**credentials, token_ttl: ttl)
        outcome = fleet(emu, send(store), seconds: seconds)
        lifetimes = seconds / ttl
        warn "\n    #{name}: #{emu.token_requests} gettoken calls for #{outcome[:sent]} sends " \
             "(#{lifetimes} token lifetimes)"
        expect(outcome[:errors]).to eq([])
        expect(outcome[:sent]).to be > 1000
        expect(emu.token_requests).to be <= lifetimes + 1
      end
    end

    it "needs more with the in-process cache (the contrast)" do
      emu = start_emulator(**credentials, token_ttl: ttl)
      outcome = fleet(emu, :memory, seconds: seconds)
      warn "\n    in-process cache: #{emu.token_requests} gettoken calls for #{outcome[:sent]} sends"
      expect(outcome[:errors]).to eq([])
      expect(emu.token_requests).to be > seconds / ttl + 1
    end
  end

  describe "a lock holder killed mid-refresh" do
    { "file store (the kernel drops the lock at once)" => [:file_store, 0.5],
      "Redis store (the lock expires after its lifetime)" => [:redis_store, 2.0] }.each do |name, (store, lock_ttl)|
      it "blocks the others no longer than the lock's lifetime, with the #{name}" do
        emu = start_emulator(**credentials)
        emu.latency = 1.0 # the holder is still fetching when it is killed
        shared = send(store)
        creds = credentials
        # timeout 1 s: the Redis lock lives twice that.
        settings = { **creds, base_url: emu.base_url, token_store: shared, timeout: 1, max_retries: 0 }
        holder, = in_child { WeCom::Client.new(**settings).access_token }
        sleep 0.05 until emu.token_requests.positive?
        Process.kill(:KILL, holder)
        Process.wait(holder)

        token = nil
        waited = elapsed { token = WeCom::Client.new(**settings, timeout: 3).access_token }
        expect(token).to be_a(String)
        expect(waited).to be < lock_ttl + 1.0 + 0.5 # the lock, then one slow gettoken
        expect(emu.token_requests).to eq(2)
      end
    end
  end

  describe "the Redis store" do
    it "shares one token between processes and never stores the secret" do
      emu = start_emulator(**credentials)
      store = redis_store
      creds = credentials
      settings = { **creds, base_url: emu.base_url, token_store: store }
      tokens = Array.new(3) { in_child { WeCom::Client.new(**settings).access_token } }.map { |_, wait| wait.call }
      expect(tokens.uniq.size).to eq(1)
      expect(emu.token_requests).to eq(1)
      keys = `redis-cli --scan --pattern '#{store.namespace}:*'`.split
      expect(keys.size).to eq(1)
      expect(keys.first).to start_with("#{store.namespace}:#{credentials[:corp_id]}-")
      stored = `redis-cli get '#{keys.first}'`
      expect(stored).to include(tokens.first)
      expect(keys.first + stored).not_to include(credentials[:secret])
    end

    it "is a clear WeCom::NetworkError, never a hang, when Redis is unreachable" do
      port = free_port
      store = WeCom::TokenStore::Redis.new(url: "redis://127.0.0.1:#{port}/0", timeout: 0.3)
      client = emulator.client(token_store: store)
      error, took = raised_and_seconds(WeCom::NetworkError) do
        client.send_text("x", to: "u")
      end
      expect(error.message).to include("token store")
      expect(took).to be < 2
      expect(emulator.messages).to eq([])
    end

    it "refuses a timeout over a day, or not a positive number" do
      [1e19, Float::INFINITY, 0, -1, "1"].each do |timeout|
        expect { WeCom::TokenStore::Redis.new(timeout: timeout) }
          .to raise_error(ArgumentError, /timeout must be a positive number of seconds, at most 86400/)
      end
    end

    it "keeps sending with the token the process has when Redis stops mid-run" do
      port = free_port
      redis = spawn("redis-server", "--port", port.to_s, "--save", "", "--appendonly", "no",
                    out: File::NULL, err: File::NULL)
      Timeout.timeout(5) { sleep 0.02 until system("redis-cli", "-p", port.to_s, "ping", out: File::NULL) }
      store = WeCom::TokenStore::Redis.new(url: "redis://127.0.0.1:#{port}/0", timeout: 0.3)
      client = emulator.client(token_store: store)
      expect(client.send_text("before", to: "u").msgid).to be_a(String)
      Process.kill(:KILL, redis)
      Process.wait(redis)
      redis = nil
      expect(client.send_text("after", to: "u").msgid).to be_a(String)
      # Another app of the same process has no token yet: it needs Redis, and says so quickly.
      other = start_emulator(**credentials, corp_id: "other-#{credentials[:corp_id]}")
      expect { other.client(token_store: store).send_text("x", to: "u") }
        .to raise_error(WeCom::NetworkError, /token store/)
    ensure
      if redis
        Process.kill(:KILL, redis)
        Process.wait(redis)
      end
    end
  end

  describe "the file store" do
    it "writes the token file with mode 0600, named without the secret" do
      store = file_store
      token = emulator.client(token_store: store).access_token
      files = Dir.children(store.dir).grep(/\.json\z/)
      expect(files.size).to eq(1)
      path = File.join(store.dir, files.first)
      expect(File.stat(path).mode & 0o777).to eq(0o600)
      expect(File.read(path)).to include(token)
      expect(files.first + File.read(path)).not_to include(credentials[:secret])
    end
  end

  describe "a token WeCom rejects" do
    it "is removed from the store only while it is still the stored one" do
      store = redis_store
      emu = start_emulator(**credentials)
      creds = credentials
      settings = { **creds, base_url: emu.base_url, token_store: store, retry_base_delay: 0.01 }
      in_child { WeCom::Client.new(**settings).send_text("warm", to: "u") }.last.call
      emu.expire_tokens!
      # Two processes meet 42001 one after the other: the first replaces the token, the second
      # must find the replacement instead of deleting it and fetching again.
      2.times { in_child { WeCom::Client.new(**settings).send_text("again", to: "u") }.last.call }
      expect(emu.token_requests).to eq(2)
    end
  end

  describe "a store of your own" do
    # A custom store as an app might write one: files with an flock, shared across processes.
    class SpecFileStore # rubocop:disable Lint/ConstantDefinitionInBlock
      attr_reader :calls

      def initialize(dir)
        @dir = dir
        @calls = Hash.new(0)
        @locks = {}
      end

      def read(key)
        @calls[:read] += 1
        path = File.join(@dir, key)
        File.exist?(path) ? File.read(path) : nil
      end

      def write(key, value, ttl)
        @calls[:write] += 1
        raise "ttl must be positive" unless ttl.positive?

        File.write(File.join(@dir, "#{key}.tmp"), value)
        File.rename(File.join(@dir, "#{key}.tmp"), File.join(@dir, key))
      end

      def delete(key, value)
        @calls[:delete] += 1
        read(key) == value && File.delete(File.join(@dir, key)) == 1
      end

      def lock(key, owner, _ttl)
        file = File.open(File.join(@dir, "#{key}.lock"), File::CREAT | File::RDWR)
        return file.close && false unless file.flock(File::LOCK_EX | File::LOCK_NB)

        @locks[[key, owner]] = file
        true
      end

      def unlock(key, owner)
        @locks.delete([key, owner])&.close
      end
    end

    let(:dir) { Dir.mktmpdir("wecom-custom").tap { |d| (@dirs ||= []) << d } }

    it "shares one token between processes through the object's methods" do
      emu = start_emulator(**credentials)
      creds = credentials
      directory = dir
      settings = { **creds, base_url: emu.base_url }
      children = Array.new(3) do
        in_child { WeCom::Client.new(**settings, token_store: SpecFileStore.new(directory)).access_token }
      end
      tokens = children.map { |_, wait| wait.call }
      expect(tokens.uniq.size).to eq(1)
      expect(emu.token_requests).to eq(1)
      expect(File.read(Dir[File.join(dir, "*")].reject { |f| f.end_with?(".lock") }.first)).to include(tokens.first)
    end

    it "replaces a rejected token through compare-and-delete" do
      store = SpecFileStore.new(dir)
      client = emulator.client(token_store: store)
      client.send_text("warm", to: "u")
      emulator.expire_tokens!
      expect(client.send_text("again", to: "u").msgid).to be_a(String)
      expect(store.calls[:delete]).to eq(1)
      expect(emulator.token_requests).to eq(2)
    end

    it "turns an exception from the store into WeCom::NetworkError" do
      failing = Class.new(SpecFileStore) { def read(_key) = raise(IOError, "disk gone") }.new(dir)
      expect { emulator.client(token_store: failing).send_text("x", to: "u") }
        .to raise_error(WeCom::NetworkError, /token store failed: read raised IOError: disk gone/)
      expect(emulator.messages).to eq([])
    end

    it "lets Thread#kill end a send waiting in a slow store call" do
      slow = Class.new(SpecFileStore) { def read(_key) = sleep(5) }.new(dir)
      client = emulator.client(token_store: slow)
      thread = Thread.new { client.send_text("x", to: "u") }
      sleep 0.01 until thread.status == "sleep"
      took = elapsed do
        thread.kill
        thread.join(3)
      end
      expect(thread).not_to be_alive
      expect(took).to be < 0.1
    end

    it "must have the whole interface" do
      expect { emulator.client(token_store: Object.new) }
        .to raise_error(ArgumentError, /read, write, delete, lock, unlock/)
    end
  end

  describe WeCom::TokenStore::RailsCache do
    before(:all) do
      require "active_support"
      require "active_support/cache"
    end

    it "shares one token between processes through a Redis cache, as Rails.cache on Redis does" do
      require "active_support/cache/redis_cache_store"
      emu = start_emulator(**credentials)
      settings = { **credentials, base_url: emu.base_url }
      namespace = "wecom-cache-#{SecureRandom.hex(6)}"
      tokens = Array.new(3) do
        in_child do
          cache = ActiveSupport::Cache::RedisCacheStore.new(url: "redis://127.0.0.1:6379/0")
          store = WeCom::TokenStore::RailsCache.new(cache, namespace: namespace)
          WeCom::Client.new(**settings, token_store: store).access_token
        end
      end.map { |_, wait| wait.call }
      expect(tokens.uniq.size).to eq(1)
      expect(emu.token_requests).to eq(1)
    end

    it "keeps the token under the namespace, locks once, and compares before deleting" do
      cache = ActiveSupport::Cache::MemoryStore.new
      store = WeCom::TokenStore::RailsCache.new(cache, namespace: "myapp-wecom")
      token = emulator.client(token_store: store).access_token
      key = cache.instance_variable_get(:@data).keys.grep(/\Amyapp-wecom:#{credentials[:corp_id]}-/).first
      expect(cache.read(key)).to include(token)
      expect(store.lock("k", "a", 1.0)).to be(true)
      expect(store.lock("k", "b", 1.0)).to be(false)
      store.unlock("k", "b") # not the owner: no effect
      expect(store.lock("k", "c", 1.0)).to be(false)
      store.unlock("k", "a")
      expect(store.lock("k", "c", 1.0)).to be(true)
      store.write("t", "v1", 60.0)
      expect(store.delete("t", "v2")).to be(false)
      expect(store.delete("t", "v1")).to be(true)
      expect(store.read("t")).to be_nil
    end

    it "needs a cache" do
      expect { WeCom::TokenStore::RailsCache.new }.to raise_error(ArgumentError, /Rails.cache/)
      expect { WeCom::TokenStore::RailsCache.new(Object.new) }.to raise_error(ArgumentError, /ActiveSupport::Cache::Store/)
    end
  end

  describe "configuration" do
    it "is taken from WeCom.configure, per app too" do
      store = file_store
      WeCom.configure do |c|
        c.base_url = emulator.base_url
        c.app :hr, corp_id: credentials[:corp_id], secret: credentials[:secret], agent_id: credentials[:agent_id],
                   token_store: store
      end
      token = WeCom::Client.new(:hr).access_token
      expect(File.read(Dir[File.join(store.dir, "*.json")].first)).to include(token)
    end

    it "rejects something that is not a store" do
      expect { emulator.client(token_store: "redis") }.to raise_error(ArgumentError, /token_store must be :memory/)
      expect { WeCom::TokenStore::Redis.new(url: "http://x") }.to raise_error(ArgumentError, /redis:/)
    end

    it "does not show a Redis password" do
      store = WeCom::TokenStore::Redis.new(url: "redis://:hunter2@127.0.0.1:6379/0")
      expect(store.inspect).not_to include("hunter2")
    end
  end
end
