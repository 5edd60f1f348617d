# frozen_string_literal: true

module WeCom
  # Settings of the WeCom app a Client talks to. Set them once at boot:
  #
  #   WeCom.configure do |c|
  #     c.corp_id = "ww..."; c.secret = ENV["WECOM_SECRET"]; c.agent_id = 1000002
  #   end
  #
  # A Client takes each setting from its keyword arguments, else from here, else from the
  # WECOM_CORP_ID, WECOM_SECRET, WECOM_AGENT_ID and WECOM_BASE_URL environment variables.
  class Configuration
    DEFAULTS = {
      base_url: "https://qyapi.weixin.qq.com",
      timeout: 10,
      open_timeout: 5,
      max_retries: 3,
      retry_base_delay: 0.2
    }.freeze

    ENV_NAMES = {
      corp_id: "WECOM_CORP_ID",
      secret: "WECOM_SECRET",
      agent_id: "WECOM_AGENT_ID",
      base_url: "WECOM_BASE_URL"
    }.freeze

    SETTINGS = %i[corp_id secret agent_id base_url timeout open_timeout max_retries retry_base_delay].freeze

    attr_accessor(*SETTINGS)

    # The value of one setting: this configuration's, else the environment's, else the default.
    def resolve(name, env = ENV)
      value = public_send(name)
      value = env[ENV_NAMES[name]] if blank?(value) && ENV_NAMES.key?(name)
      value = DEFAULTS[name] if blank?(value)
      value
    end

    def inspect
      shown = SETTINGS.map do |name|
        value = public_send(name)
        "#{name}=#{name == :secret && value ? '[REDACTED]' : value.inspect}"
      end
      "#<#{self.class.name} #{shown.join(', ')}>"
    end
    alias to_s inspect

    private

    def blank?(value)
      value.nil? || (value.respond_to?(:empty?) && value.empty?)
    end
  end

  class << self
    # The process-wide default settings.
    def configuration
      @configuration ||= Configuration.new
    end

    def configure
      yield configuration
      configuration
    end

    # Forget every setting (for tests).
    def reset_configuration!
      @configuration = Configuration.new
    end
  end
end
