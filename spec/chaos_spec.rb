# frozen_string_literal: true

require "pg"
require "redis"

# kill -9 chaos: the spec Rails app delivers through real Sidekiq processes, a real PostgreSQL
# delivery log and a real Redis, while the spec SIGKILLs the workers at random moments, restarts
# Redis, and makes the emulator lose answers. What must hold whatever happens: WeCom receives each
# idempotency key at most once, and every key the log calls `sent` exactly once.
#
# Sidekiq without Pro fetches a job by removing it from the queue, so a job running when its
# process is SIGKILLed is gone: its key stays `pending`, or has no row if the job died before its
# first attempt (never sent twice, perhaps never sent).
# That is the at-most-once half of the guarantee; the spec counts those keys and shows them.
RSpec.describe "Chaos: kill -9 of Sidekiq workers, a Redis restart, lost answers", :chaos do
  MESSAGES = Integer(ENV.fetch("WECOM_CHAOS_MESSAGES", "500"))

  before(:all) do
    @schema = "wecom_chaos"
    @redis_server = PrivateRedis.start(persistent: true)
    @redis = Redis.new(url: @redis_server.url, reconnect_attempts: 5)
    @emulator = WeCom::Emulator.start(corp_id: "ww-chaos", secret: "chaos-secret", agent_id: 1_000_002)
    @database = PG.connect(host: "127.0.0.1", port: 5432, dbname: "test", user: ENV.fetch("PGUSER", "postgres"))
    @database.exec("SET client_min_messages TO warning")
    @database.exec("DROP SCHEMA IF EXISTS #{@schema} CASCADE")
    @database.exec("CREATE SCHEMA #{@schema}")
    @app = RailsApp.copy(env: {
                           "DATABASE_SCHEMA" => @schema, "REDIS_URL" => @redis_server.url,
                           "WECOM_CORP_ID" => @emulator.corp_id, "WECOM_SECRET" => @emulator.secret,
                           "WECOM_AGENT_ID" => @emulator.agent_id.to_s, "WECOM_BASE_URL" => @emulator.base_url
                         })
    @app.rails("generate", "wecom:install", "--delivery-log")
    # A killed job holds its key's lease: 3 s instead of 5 minutes, so that a retry of the key
    # (after a lost answer) is not kept waiting for the whole run; and retries come back after a
    # second, however many there were, so that the run drains in minutes.
    @app.write("config/initializers/chaos.rb", <<~RUBY)
      Rails.application.config.after_initialize do
        WeCom::Delivery.lease = 3
        WeCom::DeliveryJob.backoff = ->(_executions) { 1 }
        WeCom::DeliveryJob.max_attempts = 30
      end
    RUBY
    @app.rails("db:migrate")
  end

  # Every Sidekiq an example started is SIGKILLed and reaped when it ends, passed or failed.
  before { @workers = [] }
  after { @workers.each { |pid| kill(pid) } }

  after(:all) do
    @emulator&.stop
    @database&.exec("DROP SCHEMA IF EXISTS #{@schema} CASCADE")
    @database&.close
    @redis&.close
    @redis_server&.remove
    @app&.remove unless ENV["KEEP"]
  end

  def kill(pid)
    Process.kill(:KILL, pid)
    Process.wait(pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end

  def rows
    @database.exec("SELECT idempotency_key, status, attempts, error_class FROM #{@schema}.wecom_deliveries").to_a
  end

  # Nothing queued, scheduled or retrying in Sidekiq's Redis.
  def queue_empty?
    @redis.llen("queue:default").zero? && @redis.zcard("schedule").zero? && @redis.zcard("retry").zero?
  rescue Redis::BaseConnectionError
    false
  end

  def sidekiq_state
    "queued #{@redis.llen('queue:default')}, scheduled #{@redis.zcard('schedule')}, retrying #{@redis.zcard('retry')}; " \
      "log: #{rows.map { |row| row['status'] }.tally.inspect}"
  end

  def drain(what, seconds: 120)
    @app.wait_for("the queue to drain #{what}", seconds: seconds) { queue_empty? }
  rescue RuntimeError => e
    raise e, "#{e.message.lines.first.chomp} (#{sidekiq_state})\n#{e.message.lines.drop(1).join}"
  end

  def received
    @emulator.messages.map { |message| message.dig("text", "content") }.tally
  end

  def enqueue(prefix, count)
    @app.rails("runner", <<~RUBY)
      #{count}.times do |i|
        WeCom.deliver_later(:text, "#{prefix} \#{i}", to: "zhangsan", idempotency_key: "#{prefix}-\#{i}")
      end
    RUBY
  end

  # What WeCom received per key, against what the log says: at most once each, exactly once if
  # sent, never if the job died before it logged the key. Returns each key's status ("none"
  # for a job lost before its first attempt).
  def expect_at_most_once(prefix, count)
    tally = received
    logged = rows.to_h { |row| [row["idempotency_key"], row["status"]] }
    statuses = Array.new(count) { |i| ["#{prefix}-#{i}", logged.fetch("#{prefix}-#{i}", "none")] }.to_h
    duplicated = tally.select { |content, times| content.start_with?("#{prefix} ") && times > 1 }
    expect(duplicated).to be_empty, "received more than once: #{duplicated.inspect}"
    wrong = statuses.reject do |key, status|
      times = tally.fetch(key.tr("-", " "), 0)
      case status
      when "sent" then times == 1
      when "none" then times.zero?
      else times <= 1
      end
    end
    expect(wrong).to be_empty, "logged status against times received: " \
                               "#{wrong.map { |key, status| [key, status, tally.fetch(key.tr('-', ' '), 0)] }.inspect}"
    statuses
  end

  it "SIGKILLs Sidekiq workers at random moments until the queue drains: no key reaches WeCom twice" do
    enqueue("chaos", MESSAGES)
    @emulator.latency = 0.05 # each send takes a while, so kills land mid-send too
    random = Random.new(RSpec.configuration.seed)
    kills = 0
    # A worker at a time, SIGKILLed after 1.5 to 5 s (booting, idle or mid-send), six times; then
    # one that is left to drain the queue.
    while kills < 6 && !queue_empty?
      @workers << @app.spawn_sidekiq(concurrency: 2)
      # Now and then WeCom's answer is lost after it took the message: the job must retry
      # with WeCom's duplicate check, never deliver twice.
      @emulator.drop_next(path: "/cgi-bin/message/send") if random.rand(2).zero?
      sleep(random.rand(1.5..5.0))
      kill(@workers.shift)
      kills += 1
    end
    @workers << @app.spawn_sidekiq(concurrency: 2)
    drain("after #{kills} kills")
    sleep 3 # the last worker finishes what it fetched

    statuses = expect_at_most_once("chaos", MESSAGES)
    counts = statuses.values.tally
    warn "chaos: #{kills} kills; #{counts.inspect} (pending or none: jobs lost with a killed process)"
    expect(kills).to be >= 3
    expect(counts.fetch("sent", 0)).to be > MESSAGES / 2
  end

  it "restarts Redis mid-run: nothing waiting in the queue is lost, nothing is sent twice, errors are retried" do
    count = MESSAGES / 5
    concurrency = 5
    @emulator.latency = 0.005
    enqueue("restart", count)
    @workers << @app.spawn_sidekiq(concurrency: concurrency)
    @app.wait_for("the first deliveries", seconds: 90) { received.keys.count { |content| content.start_with?("restart ") } >= 10 }
    @redis_server.stop
    sleep 1.5
    @redis_server.start
    drain("after the restart")
    restart_rows = -> { rows.select { |row| row["idempotency_key"].start_with?("restart-") } }
    sent = -> { restart_rows.call.count { |row| row["status"] == "sent" } }
    begin
      @app.wait_for("every key to be delivered", seconds: 60) { sent.call == count }
    rescue RuntimeError => e
      # Sidekiq's basic fetch removes a job with BRPOP: one whose answer was on its way as Redis
      # went down is gone, as with kill -9 — at most one per worker thread. Any more is a loss.
      lost = count - sent.call
      raise e, "#{e.message.lines.first}#{lost} keys never ran; rows not sent: " \
               "#{restart_rows.call.reject { |row| row['status'] == 'sent' }.inspect}" if lost > concurrency

      warn "chaos: #{lost} jobs were being fetched as Redis went down, and are lost"
    end

    statuses = expect_at_most_once("restart", count)
    # Every key that ran was sent; the only others are those lost in a fetch (never run, never sent).
    expect(statuses.values - ["sent"]).to all(eq("none"))
    expect(statuses.values.count("none")).to be <= concurrency
    expect(@app.log("sidekiq.log")).to match(/Redis|ECONNREFUSED|connection/i)
  end
end
