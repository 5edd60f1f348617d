# frozen_string_literal: true

module WeCom
  # Settings of the WeCom apps that Clients talk to. Set them once at boot:
  #
  #   WeCom.configure do |c|
  #     c.corp_id = "ww..."                 # top-level settings: the unnamed app, and shared by all apps
  #     c.app :hr,     secret: ENV["WECOM_HR_SECRET"],     agent_id: 1000002
  #     c.app :alerts, secret: ENV["WECOM_ALERTS_SECRET"], agent_id: 1000005, timeout: 3
  #     c.default_app = :hr
  #   end
  #
  # A Client takes each setting from its keyword arguments, else from its app's settings, else
  # from the top-level settings, else (for the unnamed app only) from the WECOM_CORP_ID,
  # WECOM_SECRET, WECOM_AGENT_ID and WECOM_BASE_URL environment variables, else the default.
  # A named app never takes secret or agent_id from the top level: they identify the app.
  #
  # WeCom.configure yields a copy and freezes it when the block returns; WeCom.configuration is
  # that frozen object, so it never changes under a thread reading it.
  class Configuration
    # The native core owns the defaults (base_url https://qyapi.weixin.qq.com, timeout 10,
    # open_timeout 5, idle_timeout 4, max_retries 3, retry_base_delay 0.2).
    DEFAULTS = Native::DEFAULTS.merge(token_store: :memory, directory_cache_ttl: 86_400).freeze

    # The WECOM_* environment variable each setting falls back to (unnamed app only).
    ENV_NAMES = {
      corp_id: "WECOM_CORP_ID",
      secret: "WECOM_SECRET",
      agent_id: "WECOM_AGENT_ID",
      base_url: "WECOM_BASE_URL",
      callback_token: "WECOM_CALLBACK_TOKEN",
      callback_encoding_aes_key: "WECOM_CALLBACK_ENCODING_AES_KEY"
    }.freeze

    # Every setting: each has a reader and a writer.
    SETTINGS = %i[corp_id secret agent_id base_url timeout open_timeout idle_timeout max_retries
                  retry_base_delay proxy token_store callback_token callback_encoding_aes_key ca_file
                  directory_cache_ttl].freeze

    # Settings a named app must give itself: a secret is valid only with its own agent id, and
    # each app has its own "receive messages" URL with its own token and key.
    APP_OWN = %i[secret agent_id callback_token callback_encoding_aes_key].freeze

    # Settings never shown, only whether they are set.
    SECRET = %i[secret callback_token callback_encoding_aes_key token encoding_aes_key].freeze

    # The settings of a callback endpoint that is not an app's (c.callback).
    CALLBACK_SETTINGS = %i[token encoding_aes_key receive_id].freeze

    # How a setting's value is shown by #inspect: never a secret, nor a password in a URL.
    def self.shown(name, value)
      return "[REDACTED]" if SECRET.include?(name) && value
      return value.sub(%r{(//)[^/@]*@}, '\\1[REDACTED]@').inspect if name == :base_url && String === value
      return value.sub(%r{(//[^/:@]*):[^/]*@}, '\\1:[REDACTED]@').inspect if name == :proxy && String === value

      Messages::Check.shown(value)
    end

    # An app's settings (app_settings): a frozen Hash whose #inspect redacts the secret.
    class AppSettings < Hash
      # The settings with the secrets redacted.
      # @return [String]
      def inspect
        "{#{map { |name, value| "#{name.inspect}=>#{Configuration.shown(name, value)}" }.join(', ')}}"
      end
      alias to_s inspect

      # For pp: the same as #inspect, secrets redacted.
      # @return [void]
      def pretty_print(printer)
        printer.text(inspect)
      end
    end

    # @!attribute [rw] corp_id
    #   The corp id (企业ID).
    #   @return [String, nil]
    # @!attribute [rw] secret
    #   The app's secret (never shown by #inspect).
    #   @return [String, nil]
    # @!attribute [rw] agent_id
    #   The app's agent id (AgentId).
    #   @return [Integer, String, nil]
    # @!attribute [rw] base_url
    #   Where requests go (default https://qyapi.weixin.qq.com).
    #   @return [String, nil]
    # @!attribute [rw] timeout
    #   Seconds a whole request may take.
    #   @return [Numeric, nil]
    # @!attribute [rw] open_timeout
    #   Seconds a connection may take to open.
    #   @return [Numeric, nil]
    # @!attribute [rw] idle_timeout
    #   Seconds an idle pooled connection is kept.
    #   @return [Numeric, nil]
    # @!attribute [rw] max_retries
    #   Retries of a call that failed in a way safe to retry.
    #   @return [Integer, nil]
    # @!attribute [rw] retry_base_delay
    #   The first retry's delay in seconds (then doubled, with jitter).
    #   @return [Numeric, nil]
    # @!attribute [rw] proxy
    #   A forward proxy URL; false ignores HTTPS_PROXY and the like.
    #   @return [String, false, nil]
    # @!attribute [rw] token_store
    #   Where access tokens are cached (:memory, a WeCom::TokenStore, or a custom store).
    #   @return [Symbol, Object, nil]
    # @!attribute [rw] callback_token
    #   The app's callback Token (never shown by #inspect).
    #   @return [String, nil]
    # @!attribute [rw] callback_encoding_aes_key
    #   The app's callback EncodingAESKey (never shown by #inspect).
    #   @return [String, nil]
    # @!attribute [rw] directory_cache_ttl
    #   How long userid_by_email / userid_by_mobile answers (misses too) are cached, in seconds
    #   (default 86400, a day).
    #   @return [Numeric, nil]
    # @!attribute [r] default_app
    #   The app WeCom::Client.new without a name uses (nil: the top-level settings).
    #   @return [Symbol, nil]
    attr_reader(*SETTINGS, :default_app)

    # True: WeCom::DeliveryJob keeps a row per delivery in wecom_deliveries (WeCom::Delivery,
    # ActiveRecord; `rails generate wecom:install --delivery-log` writes the migration), which
    # makes idempotency keys hold beyond WeCom's duplicate-check window.
    def delivery_log
      @delivery_log ? true : false
    end

    SETTINGS.each do |name|
      define_method(:"#{name}=") do |value|
        writable!
        instance_variable_set(:"@#{name}", own(value))
      end
    end

    def initialize
      @apps = {}
      @callbacks = {}
    end

    # Registers (or replaces) the app `name` with any of SETTINGS.
    def app(name, **settings)
      register(@apps, name, settings, SETTINGS, "app")
    end

    # Registers (or replaces) a callback endpoint that is not an app's "receive messages" URL,
    # such as the contact-sync assistant's: its token and EncodingAESKey, and the receive id its
    # callbacks carry (default: corp_id). WeCom::Callback.new(name) uses it.
    def callback(name, **settings)
      register(@callbacks, name, settings, CALLBACK_SETTINGS, "callback")
    end

    # The names of the callback endpoints registered with #callback (Symbols).
    def callbacks
      @callbacks.keys
    end

    # The settings registered with #callback for `name` (a frozen Hash), or nil.
    def callback_settings(name)
      @callbacks[app_name(name)]
    end

    # The names of the registered apps (Symbols).
    def apps
      @apps.keys
    end

    # The settings registered for app `name` (a frozen Hash), or nil.
    def app_settings(name)
      @apps[app_name(name)]
    end

    # The app a client asked for `name` uses: that app, else default_app, else nil (the unnamed,
    # top-level app). Raises ConfigurationError for an app that is not registered.
    def app_for(name)
      app = nil.equal?(name) ? default_app : app_name(name)
      return app if app.nil? || @apps.key?(app)

      registered = apps.empty? ? "none" : apps.map(&:inspect).join(", ")
      raise ConfigurationError, "WeCom #{'default_' if name.nil?}app #{app.inspect} is not registered " \
                                "(registered apps: #{registered})"
    end

    # The app (a registered name) that WeCom::Client.new without a name uses; nil: the
    # top-level settings.
    # @param name [Symbol, String, nil]
    def default_app=(name)
      writable!
      @default_app = nil.equal?(name) ? nil : app_name(name)
    end

    # Turns the delivery log on or off (see #delivery_log).
    # @param enabled [Boolean]
    def delivery_log=(enabled)
      writable!
      unless [true, false].include?(enabled)
        raise ArgumentError, "delivery_log must be true or false, got #{Messages::Check.shown(enabled)}"
      end

      @delivery_log = enabled
    end

    # The value of one setting for `app` (nil: the unnamed app): the app's, else this
    # configuration's top-level one, else (unnamed app only) the environment's, else the default.
    def resolve(name, env = ENV, app: nil)
      value = app ? @apps.fetch(app)[name] : nil
      value = public_send(name) if blank?(value) && !(app && APP_OWN.include?(name))
      value = env[ENV_NAMES[name]] if blank?(value) && app.nil? && ENV_NAMES.key?(name)
      value = DEFAULTS[name] if blank?(value)
      value
    end

    # Freezes the settings and the app and callback registries (WeCom.configure does).
    # @return [self]
    def freeze
      @apps.freeze
      @callbacks.freeze
      super
    end

    # Every setting, app and callback, with secrets, tokens, keys and proxy passwords redacted.
    # @return [String]
    def inspect
      apps = @apps.map { |name, settings| "#{name}: {#{shown(settings)}}" }
      callbacks = @callbacks.map { |name, settings| "#{name}: {#{shown(settings)}}" }
      "#<#{self.class.name} #{shown(SETTINGS.to_h { |name| [name, public_send(name)] })}, " \
        "default_app=#{default_app.inspect}, delivery_log=#{delivery_log}, apps={#{apps.join(', ')}}, " \
        "callbacks={#{callbacks.join(', ')}}>"
    end
    alias to_s inspect

    private

    def initialize_copy(source)
      super
      @apps = @apps.dup
      @callbacks = @callbacks.dup
    end

    # Registers `settings` (only names among `allowed`) under `name` in `table`: our own frozen copy.
    def register(table, name, settings, allowed, kind)
      writable!
      unknown = settings.keys - allowed
      raise ArgumentError, "unknown WeCom #{kind} setting(s): #{unknown.join(', ')}" unless unknown.empty?

      table[app_name(name)] = AppSettings[settings.transform_values { |value| own(value) }].freeze
    end

    def writable!
      return unless frozen?

      raise FrozenError.new("WeCom.configuration is frozen: use WeCom.configure { |c| ... } to change it", receiver: self)
    end

    # Our own frozen copy of a String, so that changing the caller's String changes nothing here.
    def own(value)
      String === value ? value.dup.freeze : value
    end

    def app_name(name)
      return name.to_sym if (Symbol === name || String === name) && !name.empty?

      raise ArgumentError, "a WeCom app name must be a non-empty Symbol or String, got #{Messages::Check.shown(name)}"
    end

    def shown(settings)
      settings.map { |name, value| "#{name}=#{Configuration.shown(name, value)}" }.join(", ")
    end

    def blank?(value)
      Messages::Check.blank?(value)
    end
  end

  @configuration = Configuration.new.freeze
  @configure_lock = Mutex.new
  @delivery_method = :live

  class << self
    # The name of the delivery method every send goes through (see WeCom::DeliveryMethod):
    # :live (the default) sends; :test records every send in WeCom::Testing.deliveries instead,
    # as ActionMailer's :test delivery method does. wecom/testing/rspec and
    # wecom/testing/minitest switch to :test and clear the record before each test.
    attr_reader :delivery_method

    def delivery_method=(name)
      name = name.to_sym if String === name
      unless DeliveryMethod.names.include?(name)
        raise ArgumentError, "delivery_method must be one of #{DeliveryMethod.names.join(', ')}, " \
                             "got #{Messages::Check.shown(name)}"
      end

      @delivery_method = name
    end

    # The current delivery method object.
    def delivery
      DeliveryMethod[@delivery_method]
    end

    # The current settings: a frozen Configuration, replaced as a whole by WeCom.configure.
    attr_reader :configuration

    # Yields a copy of the current configuration; when the block returns, freezes the copy and
    # makes it the current one (if the block raises, nothing changes). Clients already built keep
    # their settings.
    def configure
      @configure_lock.synchronize do
        configuration = @configuration.dup
        yield configuration
        @configuration = configuration.freeze
      end
    end

    # Forget every setting and app (for tests).
    def reset_configuration!
      @configure_lock.synchronize { @configuration = Configuration.new.freeze }
    end

    # Makes a configuration taken earlier from WeCom.configuration current again (for test
    # helpers that change it for one test).
    def restore_configuration(configuration)
      raise ArgumentError, "a frozen WeCom::Configuration is needed" unless configuration.is_a?(Configuration) && configuration.frozen?

      @configure_lock.synchronize { @configuration = configuration }
    end
  end
end
