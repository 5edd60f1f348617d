# frozen_string_literal: true

require "base64"
require "pg"
require "redis"

# The Rails app under spec/rails_app receiving WeCom's callbacks, set up as a team would:
# `rails generate wecom:install` and `rails generate wecom:callback hr`, the generated handler and
# config/wecom.yml edited (the app :hr's receive-message settings from WECOM_CALLBACK_*, access
# tokens and callback claims in Redis), `rails db:migrate` (PostgreSQL); then `bin/rails server`
# (Puma) serves the endpoint the generator mounted and a real Sidekiq runs its `later: true` rule.
# The emulator plays WeCom: it calls the app over HTTP, signed and encrypted.
RSpec.describe "A Rails app receiving WeCom callbacks through Puma, with later rules on Sidekiq" do
  let(:url) { @server.url("/wecom/hr") }
  let(:keys) { { token: @token, encoding_aes_key: @aes_key } }

  before(:all) do
    @schema = "wecom_rails_app_callbacks"
    redis_url = "redis://127.0.0.1:6379/6"
    @token = "tok#{SecureRandom.alphanumeric(20)}"
    @aes_key = Base64.strict_encode64(SecureRandom.random_bytes(32)).delete("=")
    @emulator = WeCom::Emulator.start(corp_id: "ww-rails-callbacks", secret: "rails-callbacks-secret",
                                      agent_id: 1_000_002)
    @database = PG.connect(host: "127.0.0.1", port: 5432, dbname: "test", user: ENV.fetch("PGUSER", "postgres"))
    @database.exec("SET client_min_messages TO warning")
    @database.exec("DROP SCHEMA IF EXISTS #{@schema} CASCADE")
    @database.exec("CREATE SCHEMA #{@schema}")
    @redis = Redis.new(url: redis_url)
    @redis.flushdb

    @app = RailsApp.copy(env: {
                           "DATABASE_SCHEMA" => @schema, "REDIS_URL" => redis_url,
                           "WECOM_CORP_ID" => @emulator.corp_id, "WECOM_SECRET" => @emulator.secret,
                           "WECOM_AGENT_ID" => @emulator.agent_id.to_s, "WECOM_BASE_URL" => @emulator.base_url,
                           "WECOM_CALLBACK_TOKEN" => @token, "WECOM_CALLBACK_ENCODING_AES_KEY" => @aes_key
                         })
    @app.rails("generate", "wecom:install")
    @generated = @app.rails("generate", "wecom:callback", "hr")
    edit_handler
    edit_settings
    @app.rails("db:migrate")
    @app.start_sidekiq(@redis)
    @server = @app.start_server
    # Saving the app's receive-message settings in WeCom's console runs the URL check first.
    @emulator.register_callback(@server.url("/wecom/hr"), token: @token, encoding_aes_key: @aes_key)
  end

  after(:all) do
    @app&.stop
    @emulator&.stop
    @database&.exec("DROP SCHEMA IF EXISTS #{@schema} CASCADE")
    @database&.close
    @redis&.flushdb
    @redis&.close
    @app&.remove unless ENV["KEEP"]
  end

  # The emulator keeps every callback attempt (clear! does not forget them): each example looks at its own.
  before do
    @emulator.clear!
    @attempts_before = @emulator.callback_attempts.size
  end

  # The statuses the app answered this example's callback attempts with (WeCom retries after
  # anything but a 200 within 5 s).
  def statuses
    attempts.map { |attempt| attempt[:status] }
  end

  def attempts
    @emulator.callback_attempts.drop(@attempts_before)
  end

  # The generated handler, as the team finishes it: the "accept" rule the generator leaves
  # commented out, and the directory sync in WeCom::CallbackJob.
  def edit_handler
    handler = @app.read("app/wecom/hr_handler.rb")
    edited = handler.sub(/^  # (on :template_card_event, key: "accept" do \|ev\|\n)  #   (reply .*\n)  # (end\n)/) do
      "  #{Regexp.last_match(1)}    #{Regexp.last_match(2)}  #{Regexp.last_match(3)}"
    end
    edited = edited.sub("  # Everything else: no reply.\n", <<~RUBY.gsub(/^(?=.)/, "  "))
      # HR changed the directory: synced after WeCom was answered, in WeCom::CallbackJob (Sidekiq).
      on :change_contact, later: true do |ev|
        DirectoryChange.record!(ev)
      end

      # A rule with a bug: WeCom gets a 500 and retries; the app's error tracker hears of it.
      on :text, content: "crash" do |_msg|
        raise "the crash rule has a bug"
      end

      # Everything else: no reply.
    RUBY
    raise "the generated handler is not what this spec edits:\n#{handler}" if edited.scan(/^  on /).size != 4

    @app.write("app/wecom/hr_handler.rb", edited)
  end

  # config/wecom.yml as the team edits it: the app :hr whose "receive messages" URL the generator
  # mounted, and Redis for the access token and the callback claims (every process, every host).
  def edit_settings
    settings = @app.read("config/wecom.yml")
    edited = settings.sub("  token_store: memory\n", <<~YAML.gsub(/^(?=.)/, "  "))
      token_store:
        redis:
          url: <%= ENV.fetch("REDIS_URL") %>
          namespace: interview-platform
      apps:
        hr:
          agent_id: <%= ENV.fetch("WECOM_AGENT_ID") %>
          secret: <%= ENV.fetch("WECOM_SECRET") %>
          callback_token: <%= ENV.fetch("WECOM_CALLBACK_TOKEN") %>
          callback_encoding_aes_key: <%= ENV.fetch("WECOM_CALLBACK_ENCODING_AES_KEY") %>
    YAML
    raise "the generated config/wecom.yml is not what this spec edits:\n#{settings}" if edited == settings

    @app.write("config/wecom.yml", edited)
  end

  def directory_changes(user_id)
    @database.exec_params("SELECT * FROM #{@schema}.directory_changes WHERE user_id = $1 ORDER BY id", [user_id]).to_a
  end

  # Until Sidekiq has nothing queued, scheduled, retrying or running.
  def sidekiq_idle
    @app.wait_for("Sidekiq to finish its jobs", seconds: 60) do
      busy = @redis.smembers("processes").sum { |process| @redis.hget(process, "busy").to_i }
      busy.zero? && @redis.llen("queue:default").zero? && %w[schedule retry].sum { |set| @redis.zcard(set) }.zero?
    end
  end

  def elapsed
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    result = yield
    [result, Process.clock_gettime(Process::CLOCK_MONOTONIC) - started]
  end

  it "was set up by the generator: the handler in app/wecom, mounted at /wecom/hr by config/routes.rb" do
    expect(@generated).to include("create  app/wecom/hr_handler.rb")
      .and include('route  mount WeCom::Callback::Endpoint.new(:hr, HrHandler), at: "/wecom/hr"')
    expect(@app.read("config/routes.rb")).to include('mount WeCom::Callback::Endpoint.new(:hr, HrHandler), at: "/wecom/hr"')
    expect(@app.read("app/wecom/hr_handler.rb")).to include("class HrHandler < WeCom::Callback::Handler")
    expect(@app.log("server.log")).to include("Puma", "Environment: development")
  end

  it "loads the generated handler with Zeitwerk, as eager loading in production does" do
    # app/wecom/hr_handler.rb must define HrHandler exactly, or production boots fail (Rails 7 has
    # only Zeitwerk; Rails 6.1 uses it too with load_defaults 6.1).
    expect(@app.rails("zeitwerk:check")).to include("All is good!")
  end

  it "passes WeCom's URL check, as saving the app's receive-message settings runs it" do
    expect(@emulator.verify_callback_url(url, **keys)).to be(true)
    expect(@emulator.register_callback(url, **keys)).to eq(url)
  end

  it "answers a member's \"help\" with the generated rule's text reply" do
    reply = @emulator.deliver_callback(url, { MsgType: "text", Content: "HELP", FromUserName: "zhangsan" }, **keys)
    expect(reply).to include("MsgType" => "text", "ToUserName" => "zhangsan", "FromUserName" => @emulator.corp_id)
    expect(reply["Content"]).to start_with("Hello zhangsan!")
    # Anything else reaches the fallback: an empty answer.
    expect(@emulator.deliver_callback(url, { MsgType: "text", Content: "today", FromUserName: "zhangsan" }, **keys))
      .to be_nil
    expect(statuses).to eq([200, 200])
  end

  it "turns a click on the card the app sent into the \"accept\" rule's update_button reply" do
    @app.rails("runner", 'InterviewInvitation.deliver(42, starts_at: "15:00", interviewer: "zhangsan")')
    card = @app.wait_for("Sidekiq to send the invitation card", seconds: 60) do
      @emulator.cards.find { |sent| sent[:task_id] == "interview-42" }
    end
    expect(card).to include(card_type: "button_interaction", users: ["zhangsan"])
    expect(card[:keys]).to include("accept", "decline")

    @emulator.register_callback(url, **keys)
    reply = @emulator.click("interview-42", user: "zhangsan", key: "accept")
    expect(reply).to include("MsgType" => "update_button", "Button" => { "ReplaceName" => "Accepted" })
    # "decline" has no rule: the fallback answers nothing.
    expect(@emulator.click("interview-42", user: "zhangsan", key: "decline")).to be_nil
    expect(attempts.map { |attempt| attempt[:message]["EventKey"] }).to eq(%w[accept decline])
    expect(statuses).to eq([200, 200])
  end

  it "answers a change_contact at once and lets Sidekiq run the later rule, which writes to PostgreSQL" do
    event = { MsgType: "event", Event: "change_contact", ChangeType: "update_user", UserID: "lisi",
              FromUserName: "sys" }
    reply, seconds = elapsed { @emulator.deliver_callback(url, event, **keys) }
    expect(reply).to be_nil
    expect(seconds).to be < 5 # within WeCom's wait, at the first attempt
    expect(statuses).to eq([200])

    row = @app.wait_for("Sidekiq to run WeCom::CallbackJob", seconds: 60) { directory_changes("lisi").first }
    expect(row).to include("change_type" => "update_user", "user_id" => "lisi")
    expect(@app.log("sidekiq.log")).to include("WeCom::CallbackJob")
  end

  it "answers 500 to a handler that raises, gives WeCom's retry the claim back, and reports it to Rails.error" do
    message = { MsgType: "text", Content: "crash", FromUserName: "sunqi", MsgId: "7200000000000000099" }
    expect { @emulator.deliver_callback(url, message, retries: 1, **keys) }
      .to raise_error(/gave up delivering the callback .* after 2 attempts \(500, 500\)/)
    expect(statuses).to eq([500, 500]) # the retry ran the handler again: the claim was released
    expect(@app.log("development.log")).to include("handler HrHandler raised RuntimeError: the crash rule has a bug")
    crashes = ErrorReports.read(@app.path("log")).select { |report| report["message"] == "the crash rule has a bug" }
    if ErrorReports.rails_reporter?
      # Rails 7.2: Rails.error.report, for real, once per attempt.
      expect(crashes.size).to eq(2)
      expect(crashes.first).to include("class" => "RuntimeError", "handled" => true, "severity" => "warning")
      expect(crashes.first["context"]).to include("endpoint" => "hr", "msg_type" => "text")
    else
      expect(crashes).to eq([]) # Rails 6.1 has no Rails.error: the log line above is the report
    end
  end

  it "runs the handler once for a message WeCom delivers twice (claimed in Redis)" do
    created = Time.now.to_i.to_s
    event = { MsgType: "event", Event: "change_contact", ChangeType: "create_user", UserID: "wangwu",
              FromUserName: "sys", CreateTime: created }
    expect(@emulator.deliver_callback(url, event, **keys)).to be_nil
    expect(@emulator.deliver_callback(url, event, **keys)).to be_nil
    @app.wait_for("Sidekiq to run WeCom::CallbackJob", seconds: 60) { directory_changes("wangwu").any? }
    sidekiq_idle
    expect(directory_changes("wangwu").size).to eq(1)

    # A message too: the same MsgId is answered once, its retry with an empty 200.
    help = { MsgType: "text", Content: "help", FromUserName: "zhaoliu", MsgId: "7200000000000000042",
             CreateTime: created }
    expect(@emulator.deliver_callback(url, help, **keys)).to include("MsgType" => "text")
    expect(@emulator.deliver_callback(url, help, **keys)).to be_nil
    expect(statuses).to eq([200, 200, 200, 200])
    expect(@app.log("development.log").scan("was already handled: a retry").size).to be >= 2
    expect(@redis.keys("interview-platform*")).not_to be_empty # the claims are in the shared store
  end
end
