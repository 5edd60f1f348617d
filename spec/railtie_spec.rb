# frozen_string_literal: true

require "open3"
require "tmpdir"

# WeCom::Railtie in a real (minimal) Rails application, booted in a subprocess per example.
RSpec.describe "WeCom::Railtie" do
  let(:root) { File.expand_path("..", __dir__) }

  around do |example|
    Dir.mktmpdir("wecom-rails") do |dir|
      @app = dir
      FileUtils.mkdir_p(File.join(dir, "config"))
      example.run
    end
  end

  def write(path, text)
    File.write(File.join(@app, path), text)
  end

  # Rails' encrypted credentials, written the way `rails credentials:edit` writes them.
  def write_credentials(yaml)
    require "active_support"
    require "active_support/encrypted_configuration"
    key = ActiveSupport::EncryptedConfiguration.generate_key
    write("config/master.key", key)
    ActiveSupport::EncryptedConfiguration.new(
      config_path: File.join(@app, "config", "credentials.yml.enc"),
      key_path: File.join(@app, "config", "master.key"), env_key: "RAILS_MASTER_KEY", raise_if_missing_key: true
    ).write(yaml)
  end

  def boot(env: "development", **variables)
    clean = %w[WECOM_CORP_ID WECOM_SECRET WECOM_AGENT_ID WECOM_BASE_URL].to_h { |name| [name, nil] }
    out, status = Open3.capture2e(
      clean.merge("RUBYLIB" => File.join(root, "lib"), "DEMO_ROOT" => @app, "RAILS_ENV" => env, **variables),
      RbConfig.ruby, File.join(__dir__, "fixtures", "rails", "boot.rb"), chdir: @app
    )
    raise "the Rails app failed to boot:\n#{out}" unless status.success?

    JSON.parse(out.lines.last, symbolize_names: true)
  end

  let(:yaml) do
    <<~YAML
      default: &default
        corp_id: ww-from-yaml
        agent_id: <%= 1_000_000 + 2 %>
        timeout: 3
        apps:
          hr:
            agent_id: 1000005
            token_store:
              file: tmp/wecom-tokens
      development:
        <<: *default
        secret: yaml-secret
      test:
        <<: *default
        secret: yaml-test-secret
    YAML
  end

  it "is loaded with Rails and reads config/wecom.yml, with ERB, for the environment" do
    write("config/wecom.yml", yaml)
    config = boot
    expect(config).to include(railtie: true, corp_id: "ww-from-yaml", agent_id: 1_000_002, timeout: 3,
                              secret: "yaml-secret", client_agent_id: 1_000_002)
    expect(config[:apps]).to eq(["hr"])
    expect(config[:hr]).to include(agent_id: 1_000_005, token_store: "WeCom::TokenStore::File")
  end

  it "lets credentials override the file, and WECOM_* variables override both" do
    write("config/wecom.yml", yaml)
    write_credentials(<<~YAML)
      wecom:
        secret: credentials-secret
        apps:
          hr:
            secret: hr-credentials-secret
        default_app: hr
    YAML
    config = boot
    expect(config).to include(secret: "credentials-secret", default_app: "hr", client_agent_id: 1_000_005)
    expect(config[:hr]).to include(secret: "hr-credentials-secret", agent_id: 1_000_005) # merged per setting

    config = boot("WECOM_SECRET" => "env-secret", "WECOM_CORP_ID" => "ww-from-env")
    expect(config).to include(secret: "env-secret", corp_id: "ww-from-env")
  end

  it "records sends in the test environment, and sends elsewhere, unless told otherwise" do
    write("config/wecom.yml", yaml)
    expect(boot(env: "test")[:delivery_method]).to eq("test")
    expect(boot(env: "development")[:delivery_method]).to eq("live")
    expect(boot(env: "test", "DEMO_DELIVERY_METHOD" => "live")[:delivery_method]).to eq("live")
  end

  it "turns the delivery log on from config/wecom.yml" do
    write("config/wecom.yml", yaml)
    expect(boot[:delivery_log]).to be(false)
    write("config/wecom.yml", yaml.sub("  timeout: 3\n", "  timeout: 3\n  delivery_log: true\n"))
    expect(boot[:delivery_log]).to be(true)
  end

  it "logs to Rails.logger through the log subscriber" do
    write("config/wecom.yml", yaml)
    config = boot
    expect(config).to include(logger_is_rails_logger: true, log_subscriber: true)
  end

  it "installs config/wecom.yml and the initializer with rails generate wecom:install" do
    env = { "RUBYLIB" => File.join(root, "lib"), "DEMO_ROOT" => @app, "RAILS_ENV" => "development" }
    out, status = Open3.capture2e(env, RbConfig.ruby, File.join(__dir__, "fixtures", "rails", "generate.rb"), chdir: @app)
    expect(status).to be_success, out
    expect(out).to include("create  config/wecom.yml").and include("create  config/initializers/wecom.rb")
    expect(File.read(File.join(@app, "config", "wecom.yml"))).to include('<%= ENV.fetch("WECOM_CORP_ID"')
    # The generated settings boot: ERB, the environment's section, the token store.
    config = boot("WECOM_SECRET" => "s")
    expect(config).to include(corp_id: "your-corp-id", agent_id: 1_000_002, timeout: 10, token_store: "Symbol")
  end

  it "is not loaded without Rails" do
    out, = Open3.capture2e({ "RUBYLIB" => File.join(root, "lib") }, RbConfig.ruby, "-e",
                           'require "wecom"; print defined?(WeCom::Railtie).inspect, " ", defined?(Rails).inspect')
    expect(out).to eq("nil nil")
  end
end
