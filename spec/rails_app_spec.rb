# frozen_string_literal: true

require "fileutils"
require "open3"
require "pg"
require "redis"
require "tmpdir"

# The Rails app under spec/rails_app, copied to a temporary folder and set up as a team would:
# `rails generate wecom:install --delivery-log`, `rails db:migrate` (PostgreSQL), then a real
# Sidekiq process (Redis) that delivers to the emulator this spec runs.
RSpec.describe "A Rails app delivering through Sidekiq, with the delivery log on PostgreSQL" do
  SCHEMA = "wecom_rails_app"
  REDIS_URL = "redis://127.0.0.1:6379/5"
  SEND_PATH = "/cgi-bin/message/send"

  before(:all) do
    @dir = Dir.mktmpdir("wecom-rails-app")
    @app = File.join(@dir, "interview_platform")
    FileUtils.cp_r(File.expand_path("rails_app", __dir__), @app)
    @emulator = WeCom::Emulator.start(corp_id: "ww-rails-app", secret: "rails-app-secret", agent_id: 1_000_002)
    @database = PG.connect(host: "127.0.0.1", port: 5432, dbname: "test", user: ENV.fetch("PGUSER", "postgres"))
    @database.exec("SET client_min_messages TO warning")
    @database.exec("DROP SCHEMA IF EXISTS #{SCHEMA} CASCADE")
    @database.exec("CREATE SCHEMA #{SCHEMA}")
    @redis = Redis.new(url: REDIS_URL)
    @redis.flushdb

    @generated = rails("generate", "wecom:install", "--delivery-log")
    rails("db:migrate")
    start_sidekiq
  end

  after(:all) do
    stop_sidekiq
    @emulator&.stop
    @database&.close
    @redis&.close
    FileUtils.rm_rf(@dir) if @dir && !ENV["KEEP"]
  end

  before { @emulator.clear! }

  # What the app's processes run with: the wecom under test, the emulator's credentials, Redis.
  def app_env(rails_env = "development")
    { "RUBYLIB" => File.expand_path("../lib", __dir__), "RAILS_ENV" => rails_env, "REDIS_URL" => REDIS_URL,
      "WECOM_CORP_ID" => @emulator.corp_id, "WECOM_SECRET" => @emulator.secret,
      "WECOM_AGENT_ID" => @emulator.agent_id.to_s, "WECOM_BASE_URL" => @emulator.base_url }
  end

  # Runs bin/rails with `arguments` in the app; returns its output.
  def rails(*arguments, env: "development")
    out, status = Open3.capture2e(app_env(env), RbConfig.ruby, "bin/rails", *arguments, chdir: @app)
    raise "bin/rails #{arguments.join(' ')} failed:\n#{out}" unless status.success?

    out
  end

  def start_sidekiq
    log = File.join(@app, "log", "sidekiq.log")
    @sidekiq = Process.spawn(app_env, RbConfig.ruby, Gem.bin_path("sidekiq", "sidekiq"), "-r", @app, "-c", "2",
                             chdir: @app, out: log, err: log)
    wait_for("Sidekiq to start (#{log})", seconds: 30) do
      raise "Sidekiq exited:\n#{File.read(log)}" if Process.wait(@sidekiq, Process::WNOHANG)

      @redis.scard("processes").positive? # Sidekiq's heartbeat: it is fetching jobs
    end
  end

  def stop_sidekiq
    return unless @sidekiq

    Process.kill("TERM", @sidekiq)
    # Sidekiq finishes its jobs for up to 25 s on TERM; these are done or not worth waiting for.
    return if wait_for_exit(@sidekiq, 5)

    Process.kill("KILL", @sidekiq)
    Process.wait(@sidekiq)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end

  def wait_for_exit(pid, seconds)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    until Process.wait(pid, Process::WNOHANG)
      return false if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.05
    end
    true
  end

  def wait_for(what, seconds: 30)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
    until (value = yield)
      if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline
        raise "timed out waiting for #{what}; Sidekiq's log ends with:\n#{File.read(File.join(@app, 'log', 'sidekiq.log')).lines.last(20).join}"
      end

      sleep 0.1
    end
    value
  end

  def delivery(key)
    @database.exec_params("SELECT * FROM #{SCHEMA}.wecom_deliveries WHERE idempotency_key = $1", [key]).first
  end

  # Waits until the delivery of `key` is no longer pending, and returns its row.
  def settled(key, seconds: 30)
    wait_for("delivery #{key} to settle", seconds: seconds) do
      row = delivery(key)
      row if row && row["status"] != "pending"
    end
  end

  def contents
    @emulator.messages.map { |message| message.dig("text", "content") }
  end

  it "was set up by the generator: settings, an initializer turning the log on, and the migration" do
    expect(@generated).to include("create  config/wecom.yml", "create  config/initializers/wecom.rb")
    expect(@generated).to match(%r{create  db/migrate/\d{14}_create_wecom_deliveries\.rb})
    expect(File.read(File.join(@app, "config/initializers/wecom.rb"))).to include("c.delivery_log = true")
    columns = @database.exec("SELECT column_name FROM information_schema.columns WHERE table_schema = '#{SCHEMA}' " \
                             "AND table_name = 'wecom_deliveries'").map { |row| row["column_name"] }
    expect(columns).to include("idempotency_key", "status", "msgid", "errcode", "error_message", "attempts",
                               "invalid_recipients", "delivery_unknown")
  end

  it "delivers what the app enqueues: Sidekiq runs the job, WeCom gets it once, the row is sent with its msgid" do
    rails("runner", <<~RUBY)
      InterviewReminder.deliver(42, starts_at: "15:00", interviewer: "zhangsan")
      InterviewReminder.deliver(42, starts_at: "15:00", interviewer: "zhangsan")
    RUBY
    row = settled("interview-42-reminder")
    expect(row).to include("status" => "sent", "attempts" => "1", "errcode" => "0", "app" => nil)
    expect(JSON.parse(row["recipients"])).to include("users" => ["zhangsan"])
    # Give the second job time to run too (it may have found the key in progress and come back
    # a few seconds later): it must find the key delivered.
    wait_for("both jobs to finish") { %w[schedule retry].sum { |set| @redis.zcard(set) }.zero? && @redis.llen("queue:default").zero? }
    sleep 1
    expect(contents).to eq(["Your interview #42 starts at 15:00"])
    # The msgid is WeCom's own: the emulator recalls the message by it.
    expect(@emulator.client.recall(row["msgid"])).to be(true)
    expect(@emulator.recalled).to eq([row["msgid"]])
  end

  it "retries a job whose answer timed out, and WeCom still gets the message once" do
    @emulator.delay_next(3, path: SEND_PATH) # the app's timeout is 1 s
    rails("runner", 'InterviewReminder.deliver(43, starts_at: "16:00", interviewer: "lisi")')
    row = settled("interview-43-reminder")
    expect(row).to include("status" => "sent", "attempts" => "2", "delivery_unknown" => "t")
    expect(@emulator.requests.count { |request| request[:path] == SEND_PATH }).to eq(2)
    expect(contents).to eq(["Your interview #43 starts at 16:00"])
  end

  it "discards a permanent error and records it, without retrying" do
    @emulator.fail_next(81_013, path: SEND_PATH)
    rails("runner", 'InterviewReminder.deliver(44, starts_at: "17:00", interviewer: "nobody")')
    row = settled("interview-44-reminder")
    expect(row).to include("status" => "failed", "errcode" => "81013", "error_class" => "WeCom::APIError",
                           "attempts" => "1")
    expect(row["error_message"]).to include("errcode 81013")
    later = %w[schedule retry].flat_map { |set| @redis.zrange(set, 0, -1) }
    expect(later.grep(/interview-44-reminder/)).to be_empty # not retried, by ActiveJob or by Sidekiq
    expect(File.read(File.join(@app, "log", "development.log")))
      .to include("WeCom discarded text (idempotency key interview-44-reminder) after 1 attempt(s)")
    expect(@emulator.messages).to be_empty
    discarded = ErrorReports.read(File.join(@app, "log")).select { |report| report["class"] == "WeCom::APIError" }
    if ErrorReports.rails_reporter?
      # Rails 7.2: the discard reaches Rails.error.report from the Sidekiq process, for real.
      expect(discarded.size).to eq(1)
      expect(discarded.first).to include("handled" => true)
      expect(discarded.first["message"]).to include("errcode 81013")
      expect(discarded.first["context"]).to include("idempotency_key" => "interview-44-reminder", "attempts" => "1")
    else
      expect(discarded).to eq([]) # Rails 6.1 has no Rails.error: the log line above is the report
    end
  end

  it "runs the app's own spec, which uses wecom's test-mode helpers" do
    out, status = Open3.capture2e(app_env("test"), RbConfig.ruby, "-S", "rspec", "spec", chdir: @app)
    expect(status).to be_success, out
    expect(out).to include("2 examples, 0 failures")
    expect(@emulator.requests).to be_empty # test mode records; nothing reaches WeCom
  end
end
