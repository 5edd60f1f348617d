# frozen_string_literal: true

require "active_support"
require "active_support/cache"
require "active_support/cache/redis_cache_store"
require "json"
require "logger"
require "stringio"

# WeCom::TokenStore::RailsCache over ActiveSupport's Redis cache store, on a redis-server of the
# example's own, which the example stops. The cache store swallows connection errors (a read
# answers nil, a write false), so the store must notice by itself that the cache is not working.
RSpec.describe WeCom::TokenStore::RailsCache, "over a Redis cache" do
  let(:port) { free_port }
  let(:namespace) { "wecom-#{SecureRandom.hex(6)}" }
  let(:store) { described_class.new(redis_cache, namespace: namespace) }

  def redis_cache
    ActiveSupport::Cache::RedisCacheStore.new(url: "redis://127.0.0.1:#{port}/0", connect_timeout: 0.2,
                                              read_timeout: 0.2, write_timeout: 0.2, reconnect_attempts: 0)
  end

  # The cache's keys in Redis. `#redis` is a Redis on Rails 6.1 and a ConnectionPool on Rails 7.2;
  # both have #with.
  def redis_keys
    redis_cache.redis.with { |redis| redis.keys("#{namespace}:*") }
  end

  before do
    @redis = spawn("redis-server", "--port", port.to_s, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                   "--daemonize", "no", out: File::NULL, err: File::NULL)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 5
    until redis_cache.redis.with { |redis| redis.ping == "PONG" rescue false } # rubocop:disable Style/RescueModifier
      raise "redis-server did not start on #{port}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.02
    end
  end

  after { stop_redis }

  def stop_redis
    return unless @redis

    Process.kill(:KILL, @redis)
    Process.wait(@redis)
    @redis = nil
  end

  it "fails fast, naming the cache, once Redis is down: the send fetches its own token in time" do
    logger = WeCom.logger
    WeCom.logger = Logger.new(StringIO.new) # the store's failure is logged: not onto the spec's output
    client = emulator.client(token_store: store, timeout: 2)
    expect(client.send_text("before", to: "zhangsan").msgid).to be_a(String)
    expect(redis_keys).not_to be_empty

    stop_redis
    expect(client.send_text("cached", to: "zhangsan").msgid).to be_a(String) # its token is still good
    other = start_emulator(corp_id: "corp-#{SecureRandom.hex(4)}", secret: "other-#{SecureRandom.hex(8)}",
                           agent_id: 1_000_003)
    late = other.client(token_store: store, timeout: 2)
    took = elapsed { expect(late.send_text("after", to: "zhangsan").msgid).to be_a(String) }
    expect(took).to be < 2 # not 3 x the timeout waiting for a lock no one can take
    expect(other.token_requests).to eq(1)

    unreachable = /ActiveSupport::Cache::RedisCacheStore is unreachable or not writable/
    expect { store.lock("k", "owner", 1.0) }.to raise_error(StandardError, unreachable)
    expect { store.write("k", "token", 60.0) }.to raise_error(StandardError, unreachable)
  ensure
    WeCom.logger = logger
  end

  it "still makes a waiter wait while another owner holds the lock" do
    expect(store.lock("k", "a", 5.0)).to be(true)
    expect(store.lock("k", "b", 5.0)).to be(false)

    # A process whose copy is due finds the lock held and the token gone: it waits for the
    # holder's token instead of fetching one of its own, or failing.
    client = emulator.client(token_store: store, timeout: 2)
    token = client.access_token
    key = redis_keys.first.delete_prefix("#{namespace}:")
    stored = store.read(key)
    store.delete(key, stored)
    expect(store.lock(key, "holder", 5.0)).to be(true)
    reader, writer = IO.pipe
    pid = fork do
      reader.close
      waiter = described_class.new(redis_cache, namespace: namespace)
      outcome = begin
        { "token" => emulator.client(token_store: waiter, timeout: 2).access_token }
      rescue StandardError => e
        { "error" => "#{e.class}: #{e.message}" }
      end
      writer.write(JSON.generate(outcome))
      exit!(0)
    end
    writer.close
    sleep 0.5
    store.write(key, stored, 60.0)
    store.unlock(key, "holder")
    Process.wait(pid)
    expect(JSON.parse(reader.read)).to eq("token" => token)
    expect(emulator.token_requests).to eq(1)
  end
end
