# frozen_string_literal: true

# Where WeCom::Client takes its settings from (keyword arguments, else WeCom.configure, else
# WECOM_* variables), how bad settings are reported, and that the secret never leaks.
RSpec.describe "WeCom configuration" do
  env_names = %w[WECOM_CORP_ID WECOM_SECRET WECOM_AGENT_ID WECOM_BASE_URL].freeze

  # Each example starts without WECOM_* variables and leaves the environment as it found it.
  around do |example|
    saved = env_names.to_h { |name| [name, ENV.fetch(name, nil)] }
    env_names.each { |name| ENV.delete(name) }
    example.run
  ensure
    saved.each { |name, value| ENV[name] = value }
  end

  def configure_emulator(config, emu = emulator)
    config.corp_id = emu.corp_id
    config.secret = emu.secret
    config.agent_id = emu.agent_id
    config.base_url = emu.base_url
    config.retry_base_delay = 0.01
  end

  def set_env_for(emu)
    ENV["WECOM_CORP_ID"] = emu.corp_id
    ENV["WECOM_SECRET"] = emu.secret
    ENV["WECOM_AGENT_ID"] = emu.agent_id.to_s
    ENV["WECOM_BASE_URL"] = emu.base_url
  end

  let(:secret) { credentials[:secret] }

  # A String that contains none of `values`.
  def exclude(*values)
    satisfy("contain none of #{values.inspect}") { |text| values.none? { |value| text.include?(value) } }
  end

  describe "WeCom.configure" do
    it "sets the defaults that WeCom::Client.new uses" do
      WeCom.configure { |config| configure_emulator(config) }

      client = WeCom::Client.new
      client.send_text("hi", to: "zhangsan")

      aggregate_failures do
        expect([client.corp_id, client.agent_id, client.base_url])
          .to eq([credentials[:corp_id], credentials[:agent_id], emulator.base_url])
        expect(emulator.messages.last).to include("agentid" => credentials[:agent_id], "touser" => "zhangsan")
      end
    end

    it "accepts agent_id as a numeric String" do
      WeCom.configure do |config|
        configure_emulator(config)
        config.agent_id = credentials[:agent_id].to_s
      end

      expect(WeCom::Client.new.agent_id).to eq(credentials[:agent_id])
    end

    it "is overridden by keyword arguments" do
      other = start_emulator(**credentials)
      WeCom.configure do |config|
        configure_emulator(config, other)
        config.secret = "not-the-secret"
        config.agent_id = 42
      end

      client = WeCom::Client.new(secret: secret, agent_id: credentials[:agent_id], base_url: emulator.base_url)
      client.send_text("hi", to: "zhangsan")

      aggregate_failures do
        expect(client.agent_id).to eq(credentials[:agent_id])
        expect(emulator.messages.last["agentid"]).to eq(credentials[:agent_id])
        expect(other.requests).to be_empty
      end
    end

    it "falls back to WeCom's public API when base_url is set nowhere" do
      client = WeCom::Client.new(**credentials)

      expect(client.base_url).to eq("https://qyapi.weixin.qq.com")
    end

    it "drops a trailing slash from base_url" do
      client = WeCom::Client.new(**credentials, base_url: "#{emulator.base_url}/")

      expect(client.base_url).to eq(emulator.base_url)
    end
  end

  describe "WECOM_* environment variables" do
    it "are used when neither arguments nor WeCom.configure set anything" do
      set_env_for(emulator)

      client = WeCom::Client.new(retry_base_delay: 0.01)
      client.send_text("hi", to: "zhangsan")

      aggregate_failures do
        expect([client.corp_id, client.agent_id, client.base_url])
          .to eq([credentials[:corp_id], credentials[:agent_id], emulator.base_url])
        expect(emulator.messages.size).to eq(1)
      end
    end

    it "lose to WeCom.configure" do
      other = start_emulator(**credentials)
      set_env_for(other)
      WeCom.configure { |config| configure_emulator(config) }

      WeCom::Client.new.send_text("hi", to: "zhangsan")

      aggregate_failures do
        expect(emulator.messages.size).to eq(1)
        expect(other.requests).to be_empty
      end
    end

    it "fill in what WeCom.configure leaves blank" do
      set_env_for(emulator)
      WeCom.configure { |config| config.corp_id = "" }

      expect(WeCom::Client.new.corp_id).to eq(credentials[:corp_id])
    end
  end

  describe "missing settings" do
    it "raise WeCom::ConfigurationError naming corp_id, secret and agent_id and their variables" do
      expect { WeCom::Client.new }.to raise_error(
        WeCom::ConfigurationError,
        /corp_id \(WECOM_CORP_ID\), secret \(WECOM_SECRET\), agent_id \(WECOM_AGENT_ID\) not set/
      )
    end

    it "name only the setting that is missing" do
      expect { WeCom::Client.new(corp_id: "corp", agent_id: 1, secret: "") }.to raise_error(WeCom::ConfigurationError) do |error|
        expect(error.message).to match(/secret \(WECOM_SECRET\) not set/)
        expect(error.message).not_to match(/corp_id|agent_id/)
      end
    end

    it "count an empty environment variable as missing" do
      ENV["WECOM_AGENT_ID"] = ""

      expect { WeCom::Client.new(corp_id: "corp", secret: "s") }
        .to raise_error(WeCom::ConfigurationError, /agent_id \(WECOM_AGENT_ID\) not set/)
    end
  end

  describe "invalid settings" do
    context "with agent_id \"abc\"" do
      it "raises ArgumentError when it is a keyword argument" do
        expect { WeCom::Client.new(**credentials, agent_id: "abc") }
          .to raise_error(ArgumentError, /agent_id must be an integer from 1 to 2147483647, got "abc"/)
      end

      it "raises WeCom::ConfigurationError when it comes from WeCom.configure" do
        WeCom.configure do |config|
          configure_emulator(config)
          config.agent_id = "abc"
        end

        expect { WeCom::Client.new }.to raise_error(WeCom::ConfigurationError, /agent_id must be an integer from 1 to 2147483647, got "abc"/)
      end

      it "raises WeCom::ConfigurationError when it comes from WECOM_AGENT_ID" do
        set_env_for(emulator)
        ENV["WECOM_AGENT_ID"] = "abc"

        expect { WeCom::Client.new }.to raise_error(WeCom::ConfigurationError, /agent_id must be an integer from 1 to 2147483647, got "abc"/)
      end
    end

    it "rejects agent_id 0 as an argument" do
      expect { WeCom::Client.new(**credentials, agent_id: 0) }.to raise_error(ArgumentError, /agent_id must be an integer from 1 to 2147483647, got 0/)
    end

    it "rejects a corp_id that is not a String" do
      expect { WeCom::Client.new(**credentials, corp_id: 123) }
        .to raise_error(ArgumentError, /corp_id must be a String, got Integer/)
    end

    it "rejects an ftp:// base_url with WeCom::ConfigurationError" do
      expect { WeCom::Client.new(**credentials, base_url: "ftp://x") }
        .to raise_error(WeCom::ConfigurationError, %r{base_url must be an http\(s\) URL.*got "ftp://x"})
    end

    it "refuses a base_url with user info, a query or a fragment, which would be dropped, never showing the user info" do
      ["https://gateway:pa55word@gw.example.com", "https://user@gw.example.com/wecom", "https://gw.example.com/wecom?a=1",
       "https://gw.example.com/#x"].each do |url|
        expect { WeCom::Client.new(**credentials, base_url: url) }.to raise_error(ArgumentError) { |error|
          expect(error.message).to eq("base_url takes a scheme, host, port and optional path only (such as " \
                                      "https://qyapi.weixin.qq.com or https://gateway.example.com/wecom): " \
                                      "user:password@, a query or a fragment would not be sent, and a proxy is not " \
                                      "configured through base_url")
        }
      end
      WeCom.configure { |c| c.app :hr, secret: secret, agent_id: 5, base_url: "https://gateway:pa55word@gw.example.com" }
      expect { WeCom::Client.new(:hr, corp_id: credentials[:corp_id]) }
        .to raise_error(WeCom::ConfigurationError, /\AWeCom app :hr: base_url takes a scheme, host, port/) { |error|
          expect(error.message).not_to include("pa55word")
        }
      ENV["WECOM_BASE_URL"] = "https://gw.example.com/?token=abc"
      expect { WeCom::Client.new(**credentials) }
        .to raise_error(WeCom::ConfigurationError, /\AWeCom base_url takes/) { |error| expect(error.message).not_to include("abc") }
      expect(WeCom::Client.new(**credentials, base_url: "https://gw.example.com:8443/wecom/").base_url)
        .to eq("https://gw.example.com:8443/wecom")
    end

    it "rejects an ftp:// base_url from WECOM_BASE_URL" do
      set_env_for(emulator)
      ENV["WECOM_BASE_URL"] = "ftp://x"

      expect { WeCom::Client.new }.to raise_error(WeCom::ConfigurationError, /base_url must be an http\(s\) URL/)
    end

    [0, -1, "x"].each do |timeout|
      it "rejects timeout: #{timeout.inspect} with ArgumentError, showing the value given" do
        expect { WeCom::Client.new(**credentials, timeout: timeout) }
          .to raise_error(ArgumentError, /timeout must be a positive number of seconds, got #{Regexp.escape(timeout.inspect)}/)
      end
    end

    it "rejects integers too large for WeCom with ArgumentError naming the setting" do
      expect { WeCom::Client.new(**credentials, agent_id: 2**63) }
        .to raise_error(ArgumentError, /agent_id must be an integer from 1 to 2147483647, got #{2**63}/)
      expect { WeCom::Client.new(**credentials, max_retries: 2**40) }
        .to raise_error(ArgumentError, /max_retries must be an integer from 0 to 100/)
    end

    it "rejects timeout 0 from WeCom.configure with WeCom::ConfigurationError" do
      WeCom.configure { |config| config.timeout = 0 }

      expect { WeCom::Client.new(**credentials) }
        .to raise_error(WeCom::ConfigurationError, /timeout must be a positive number of seconds, got 0/)
    end

    it "rejects a negative max_retries" do
      expect { WeCom::Client.new(**credentials, max_retries: -1) }
        .to raise_error(ArgumentError, /max_retries must be an integer from 0 to 100, got -1/)
    end

    it "accepts numeric Strings for seconds and keeps the client usable" do
      client = emulator.client(timeout: "5", open_timeout: "2.5", retry_base_delay: "0.01")

      expect(client.send_text("hi", to: "zhangsan").msgid).to be_a(String)
    end
  end

  describe "the secret" do
    it "is not shown by Client#inspect or #to_s" do
      client = WeCom::Client.new(**credentials)

      aggregate_failures do
        expect(client.inspect).to include(credentials[:corp_id]).and(exclude(secret))
        expect(client.to_s).not_to include(secret)
      end
    end

    it "is redacted by Configuration#inspect" do
      WeCom.configure { |config| configure_emulator(config) }

      aggregate_failures do
        expect(WeCom.configuration.inspect).to include("secret=[REDACTED]", credentials[:corp_id])
        expect(WeCom.configuration.inspect).not_to include(secret)
        expect(WeCom.configuration.to_s).not_to include(secret)
      end
    end

    it "is not in the messages of configuration errors" do
      errors = [
        -> { WeCom::Client.new(secret: secret) },
        -> { WeCom::Client.new(**credentials, agent_id: "abc") },
        -> { WeCom::Client.new(**credentials, timeout: -1) },
        -> { WeCom::Client.new(**credentials, base_url: "ftp://x") }
      ].map do |build|
        build.call
      rescue StandardError => e
        e
      end

      aggregate_failures do
        expect(errors).to all(be_a(StandardError))
        expect(errors.map(&:message)).to all(exclude(secret))
      end
    end

    it "makes send_text raise WeCom::AuthenticationError 40001 when wrong, without showing it" do
      wrong = "wrong-#{SecureRandom.hex(8)}"
      client = emulator.client(secret: wrong, retry_base_delay: 0.01)

      expect { client.send_text("hi", to: "zhangsan") }.to raise_error(WeCom::AuthenticationError) do |error|
        aggregate_failures do
          expect(error.errcode).to eq(40001)
          expect(error.path).to eq("/cgi-bin/gettoken")
          expect(error.retryable?).to be(false)
          expect([error.message, error.errmsg.to_s, error.inspect, error.full_message]).to all(exclude(wrong, secret))
        end
      end
      expect(emulator.messages).to be_empty
    end
  end

  it "makes send_text raise WeCom::AuthenticationError 40013 for a wrong corp_id" do
    client = emulator.client(corp_id: "wrong-corp", retry_base_delay: 0.01)

    expect { client.send_text("hi", to: "zhangsan") }
      .to raise_error(WeCom::AuthenticationError) { |error| expect(error.errcode).to eq(40013) }
    expect(emulator.messages).to be_empty
  end

  describe "WeCom.reset_configuration!" do
    it "forgets every setting and app" do
      WeCom.configure do |config|
        configure_emulator(config)
        config.app :hr, secret: secret, agent_id: credentials[:agent_id]
        config.default_app = :hr
      end

      WeCom.reset_configuration!

      aggregate_failures do
        expect(WeCom::Configuration::SETTINGS.map { |name| WeCom.configuration.public_send(name) }).to all(be_nil)
        expect([WeCom.configuration.apps, WeCom.configuration.default_app]).to eq([[], nil])
        expect(WeCom.configuration).to be_frozen
      end
    end

    # spec_helper resets before each example: whichever of these two runs second proves that
    # the other one's settings did not leak into it.
    2.times do |i|
      it "leaves no settings from another example (#{i + 1} of 2)" do
        expect([WeCom.configuration.corp_id, WeCom.configuration.secret, WeCom.configuration.apps]).to eq([nil, nil, []])

        WeCom.configure do |config|
          configure_emulator(config)
          config.app :hr, secret: secret, agent_id: credentials[:agent_id]
        end
      end
    end
  end
end
