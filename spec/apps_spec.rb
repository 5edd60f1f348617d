# frozen_string_literal: true

require "active_support"
require "active_support/cache"
require "stringio"

# Several WeCom apps in one process (WeCom.configure's app registry, WeCom::Client.new(:name)),
# and a configuration that is frozen once configured, so no thread can change it under another.
# The emulator's corp has two apps, :hr (credentials) and :alerts; a token of one used with the
# other's agentid answers 301002.
RSpec.describe "WeCom apps" do
  let(:alerts) { { secret: "alerts-#{SecureRandom.hex(8)}", agent_id: 1_000_005 } }
  let(:hr) { credentials.slice(:secret, :agent_id) }
  let(:emulator) { start_emulator(**credentials, apps: [alerts]) }

  # corp_id and base_url set once at the top; each app gives its own secret and agent id.
  def configure_apps(config, emu = emulator)
    config.corp_id = emu.corp_id
    config.base_url = emu.base_url
    config.retry_base_delay = 0.01
    config.app :hr, **hr
    config.app :alerts, **alerts
  end

  def sends
    emulator.requests.select { |request| request[:path] == "/cgi-bin/message/send" }
  end

  def with_env(vars)
    saved = vars.to_h { |name, _| [name, ENV.fetch(name, nil)] }
    vars.each { |name, value| ENV[name] = value }
    yield
  ensure
    saved&.each { |name, value| ENV[name] = value }
  end

  describe "WeCom::Client.new(app)" do
    it "sends as each app, with that app's agent id and its own token" do
      WeCom.configure { |c| configure_apps(c) }
      hr_client = WeCom::Client.new(:hr)
      alerts_client = WeCom::Client.new("alerts")

      hr_client.send_text("Payday", to: "zhangsan")
      alerts_client.send_text("Disk full", to: "ops")

      aggregate_failures do
        expect([hr_client.app, alerts_client.app]).to eq(%i[hr alerts])
        expect(emulator.messages.map { |m| [m["agentid"], m["touser"]] })
          .to eq([[hr[:agent_id], "zhangsan"], [alerts[:agent_id], "ops"]])
        expect(emulator.token_requests).to eq(2)
        expect(hr_client.access_token).not_to eq(alerts_client.access_token)
        expect(sends.map { |request| request[:query]["access_token"] })
          .to eq([hr_client.access_token, alerts_client.access_token])
      end
    end

    it "uses default_app without a name, and the top-level settings without a default_app" do
      WeCom.configure do |c|
        configure_apps(c)
        c.secret = hr[:secret]
        c.agent_id = hr[:agent_id]
      end
      top_level = WeCom::Client.new
      WeCom.configure { |c| c.default_app = :alerts }
      default = WeCom::Client.new

      top_level.send_text("hi", to: "zhangsan")
      default.send_text("hi", to: "ops")

      aggregate_failures do
        expect([top_level.app, default.app]).to eq([nil, :alerts])
        expect(emulator.messages.map { |m| m["agentid"] }).to eq([hr[:agent_id], alerts[:agent_id]])
      end
    end

    it "lets keyword arguments override the app's settings" do
      WeCom.configure do |c|
        configure_apps(c)
        c.app :alerts, **alerts, timeout: 0.1
      end
      emulator.latency = 0.3

      patient = WeCom::Client.new(:alerts, timeout: 5)

      aggregate_failures do
        expect(patient.send_text("Disk full", to: "ops").msgid).to be_a(String)
        expect { WeCom::Client.new(:alerts).send_text("Disk full", to: "ops") }.to raise_error(WeCom::TimeoutError)
        expect(WeCom::Client.new(:alerts, agent_id: 42).agent_id).to eq(42)
      end
    end

    it "takes the top-level settings an app does not give; an app's own setting wins" do
      other = start_emulator(**credentials, apps: [alerts])
      WeCom.configure do |c|
        configure_apps(c)
        c.app :ops, **alerts, base_url: other.base_url
      end
      clients = %i[hr alerts ops].map { |name| WeCom::Client.new(name) }

      clients.each { |client| client.send_text("hi", to: "zhangsan") }

      aggregate_failures do
        expect(clients.map(&:base_url)).to eq([emulator.base_url, emulator.base_url, other.base_url])
        expect(clients.map(&:corp_id)).to all(eq(credentials[:corp_id]))
        expect(emulator.messages.map { |m| m["agentid"] }).to eq([hr[:agent_id], alerts[:agent_id]])
        expect(other.messages.map { |m| m["agentid"] }).to eq([alerts[:agent_id]])
      end
    end

    it "raises WeCom::ConfigurationError for an unknown app, listing the registered ones" do
      WeCom.configure { |c| configure_apps(c) }

      expect { WeCom::Client.new(:payroll) }
        .to raise_error(WeCom::ConfigurationError, "WeCom app :payroll is not registered (registered apps: :hr, :alerts)")
    end

    it "raises WeCom::ConfigurationError when default_app names an unregistered app" do
      WeCom.configure do |c|
        configure_apps(c)
        c.default_app = :payroll
      end

      aggregate_failures do
        expect { WeCom::Client.new }.to raise_error(WeCom::ConfigurationError, /default_app :payroll is not registered/)
        expect(WeCom::Client.new(:hr).agent_id).to eq(hr[:agent_id])
      end
    end

    it "raises WeCom::ConfigurationError naming the app when it misses settings; WECOM_* are not read" do
      env = { "WECOM_CORP_ID" => emulator.corp_id, "WECOM_SECRET" => alerts[:secret], "WECOM_AGENT_ID" => "1000005" }
      WeCom.configure { |c| c.app :alerts, agent_id: alerts[:agent_id] }

      with_env(env) do
        expect { WeCom::Client.new(:alerts) }
          .to raise_error(WeCom::ConfigurationError, /\AWeCom app :alerts: corp_id, secret not set/)
      end
    end

    it "never takes the secret or agent_id of another app from the top level" do
      WeCom.configure do |c|
        configure_apps(c)
        c.secret = hr[:secret]
        c.agent_id = hr[:agent_id]
        c.app :alerts, agent_id: alerts[:agent_id]
        c.app :reports, secret: alerts[:secret]
      end

      aggregate_failures do
        expect { WeCom::Client.new(:alerts) }.to raise_error(WeCom::ConfigurationError, /\AWeCom app :alerts: secret not set/)
        expect { WeCom::Client.new(:reports) }.to raise_error(WeCom::ConfigurationError, /\AWeCom app :reports: agent_id not set/)
      end
    end

    it "names the app when one of its settings is invalid" do
      WeCom.configure { |c| c.app :alerts, **credentials, timeout: 0 }

      expect { WeCom::Client.new(:alerts) }
        .to raise_error(WeCom::ConfigurationError, /\AWeCom app :alerts: timeout must be a positive number/)
    end

    it "shows the app in Client#inspect, never the secret" do
      WeCom.configure { |c| configure_apps(c) }

      expect(WeCom::Client.new(:alerts).inspect)
        .to start_with("#<WeCom::Client app=:alerts corp_id=").and(satisfy { |text| !text.include?(alerts[:secret]) })
    end
  end

  describe "Configuration#app" do
    it "stores names as Symbols, listed by #apps; registering a name again replaces it" do
      WeCom.configure do |c|
        configure_apps(c)
        c.app "hr", secret: alerts[:secret], agent_id: 7
      end

      aggregate_failures do
        expect(WeCom.configuration.apps).to eq(%i[hr alerts])
        expect(WeCom.configuration.app_settings(:hr)).to eq(secret: alerts[:secret], agent_id: 7)
        expect(WeCom::Client.new(:hr).agent_id).to eq(7)
      end
    end

    it "rejects unknown settings with ArgumentError naming them, changing nothing" do
      WeCom.configure { |c| configure_apps(c) }

      expect { WeCom.configure { |c| c.app :ops, secret: "s", agentid: 1, tiemout: 3 } }
        .to raise_error(ArgumentError, /unknown WeCom app setting\(s\): agentid, tiemout/)
      expect(WeCom.configuration.apps).to eq(%i[hr alerts])
    end

    it "redacts every app's secret in Configuration#inspect" do
      WeCom.configure do |c|
        configure_apps(c)
        c.default_app = :hr
      end

      inspected = WeCom.configuration.inspect
      aggregate_failures do
        expect(inspected).to include("default_app=:hr", "hr: {secret=[REDACTED], agent_id=#{hr[:agent_id]}}",
                                     "alerts: {secret=[REDACTED], agent_id=#{alerts[:agent_id]}}")
        expect([hr[:secret], alerts[:secret]]).to all(satisfy { |secret| !inspected.include?(secret) })
      end
    end

    it "redacts the secret when app_settings is shown, and still gives it to a reader" do
      WeCom.configure { |c| configure_apps(c) }
      settings = WeCom.configuration.app_settings(:hr)
      printed = StringIO.new
      $stdout = printed
      p settings
      pp settings
      $stdout = STDOUT
      shown = [settings.inspect, settings.to_s, "#{settings}", printed.string]
      aggregate_failures do
        expect(shown).to all(include(":secret=>[REDACTED]", ":agent_id=>#{hr[:agent_id]}"))
        expect(shown).to all(satisfy { |text| !text.include?(hr[:secret]) })
        expect(settings[:secret]).to eq(hr[:secret])
        expect(settings).to be_a(Hash).and be_frozen
        expect(settings.merge(timeout: 3)).to eq(**hr, timeout: 3)
      end
    ensure
      $stdout = STDOUT
    end

    it "shows no secret, token, robot key or password in any inspect" do
      redis = WeCom::TokenStore::Redis.new(url: "redis://:hunter2@127.0.0.1:6379/0")
      cache = WeCom::TokenStore::RailsCache.new(ActiveSupport::Cache::MemoryStore.new)
      WeCom.configure do |c|
        configure_apps(c)
        c.secret = "top-secret-value"
        c.app :ops, secret: "ops-secret-value", agent_id: 3, token_store: redis,
                    base_url: "https://gateway:pa55word@gw.example.com"
        c.token_store = cache
      end
      client = WeCom::Client.new(:hr)
      token = client.access_token
      key = "robot-key-#{SecureRandom.hex(8)}"
      robot = WeCom::Webhook.new(key: key, base_url: emulator.base_url)
      shown = [client, robot, redis, cache, WeCom.configuration, WeCom.configuration.app_settings(:ops)]
              .flat_map { |object| [object.inspect, object.to_s] }.join("\n")
      [hr[:secret], alerts[:secret], "top-secret-value", "ops-secret-value", token, key, "hunter2",
       "pa55word"].each do |hidden|
        expect(shown).not_to include(hidden)
      end
    end
  end

  describe "WeCom.configure" do
    it "keeps a client's app when the apps are reconfigured after it was built" do
      WeCom.configure { |c| configure_apps(c) }
      client = WeCom::Client.new(:hr)

      WeCom.configure { |c| c.app :hr, **alerts } # :hr now has the alerts app's secret and agent id

      client.send_text("Payday", to: "zhangsan")
      aggregate_failures do
        expect([client.app, client.agent_id]).to eq([:hr, hr[:agent_id]])
        expect(emulator.messages.last["agentid"]).to eq(hr[:agent_id])
        expect(WeCom::Client.new(:hr).agent_id).to eq(alerts[:agent_id])
        expect(WeCom.configuration.apps).to eq(%i[hr alerts]) # the second configure started from the first
      end
    end

    it "freezes the configuration: setters and #app raise FrozenError outside WeCom.configure" do
      configured = nil
      WeCom.configure do |c|
        configure_apps(c)
        configured = c
      end

      aggregate_failures do
        expect(WeCom.configuration).to equal(configured).and be_frozen
        expect { WeCom.configuration.timeout = 1 }.to raise_error(FrozenError, /use WeCom\.configure/)
        expect { configured.app :ops, **alerts }.to raise_error(FrozenError, /use WeCom\.configure/)
        expect { configured.default_app = :hr }.to raise_error(FrozenError, /use WeCom\.configure/)
        expect { WeCom.configuration.app_settings(:hr)[:agent_id] = 1 }.to raise_error(FrozenError)
        expect([WeCom.configuration.timeout, WeCom.configuration.apps]).to eq([nil, %i[hr alerts]])
      end
    end

    it "is frozen before WeCom.configure is ever called" do
      expect { WeCom.configuration.corp_id = "corp" }.to raise_error(FrozenError, /use WeCom\.configure/)
    end

    it "changes nothing when its block raises" do
      WeCom.configure { |c| configure_apps(c) }

      expect do
        WeCom.configure do |c|
          c.app :ops, **alerts
          raise "boom"
        end
      end.to raise_error("boom")
      expect(WeCom.configuration.apps).to eq(%i[hr alerts])
    end

    it "loses no change when threads configure at the same time" do
      8.times.map do |i|
        Thread.new do
          WeCom.configure do |c|
            Thread.pass # a slow block: another configure must wait for this one
            c.app :"app#{i}", **alerts
          end
        end
      end.each(&:join)

      expect(WeCom.configuration.apps).to match_array(8.times.map { |i| :"app#{i}" })
    end

    it "gives every client one consistent app while another thread reconfigures" do
      WeCom.configure do |c|
        configure_apps(c)
        c.secret = hr[:secret]
        c.agent_id = hr[:agent_id]
      end
      reconfiguring = true
      reconfigurer = Thread.new do
        [alerts, hr].cycle do |app|
          break unless reconfiguring

          WeCom.configure do |c|
            c.secret = app[:secret]
            Thread.pass # a slow block: a client built now must not get this secret with the old agent id
            c.agent_id = app[:agent_id]
          end
        end
      end

      senders = 8.times.map do |i|
        Thread.new do
          12.times.map do |j|
            client = WeCom::Client.new(*[nil, :hr, :alerts][j % 3])
            client.send_text("#{i}-#{j}", to: "zhangsan") # a mixed-up secret and agent id raises 301002
            [client.app, client.agent_id]
          end
        end
      end
      used = senders.flat_map(&:value).group_by(&:first).transform_values { |pairs| pairs.map(&:last).uniq.sort }

      aggregate_failures do
        expect(used).to eq(nil => [hr[:agent_id], alerts[:agent_id]], hr: [hr[:agent_id]], alerts: [alerts[:agent_id]])
        expect(emulator.messages.size).to eq(96)
      end
    ensure
      reconfiguring = false
      reconfigurer&.join
    end
  end
end
