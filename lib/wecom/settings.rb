# frozen_string_literal: true

module WeCom
  # Reads each setting from the arguments, else the configuration (the app's settings, then the
  # top-level ones), else (unnamed app only) the environment, and checks it: a bad argument is an
  # ArgumentError, a bad configured value a ConfigurationError. Used by Client and Webhook.
  class Settings
    # Why a base_url was refused (the error's text).
    BASE_URL = "takes a scheme, host, port and optional path only (such as #{Configuration::DEFAULTS[:base_url]} or " \
               "https://gateway.example.com/wecom): user:password@, a query or a fragment would not be sent, and a " \
               "proxy is not configured through base_url".freeze

    # value (a number or an ActiveSupport::Duration) as a Float, if it is a positive number of
    # seconds up to Native::MAX_SECONDS; else nil.
    def self.seconds(value)
      value = value.to_f if !(Numeric === value) && Messages::Check.responds?(value, :in_seconds)
      value.to_f if Numeric === value && value.real? && value.positive? && value <= Native::MAX_SECONDS
    end

    # Why `value` is not a duration: for the error naming the setting.
    def self.not_seconds(value)
      "must be a positive number of seconds, got #{Messages::Check.shown(value)} " \
        "(at most #{Native::MAX_SECONDS.to_i}, a day)"
    end

    attr_reader :app

    def initialize(given, configuration, app)
      @given = given
      @configuration = configuration
      @app = app
    end

    # Raises ConfigurationError naming the settings among `names` that are not set; returns self.
    def require!(*names)
      missing = names.select { |name| blank?(value(name)) }
      raise ConfigurationError, not_set(missing) unless missing.empty?

      self
    end

    # The setting `name` as a String (a Symbol is taken too).
    # @return [String]
    # @raise [ArgumentError, WeCom::ConfigurationError] when it is not one
    def string(name)
      value = value(name)
      invalid(name, "must be a String, got #{Messages::Check.class_of(value)}") unless String === value || Symbol === value
      value.to_s
    end

    # The URL requests go to. The native core checks that it is http(s) with a host; anything
    # else a URL can hold would be dropped (a query, a fragment) or sent nowhere (user:password@,
    # which is never echoed).
    def base_url
      url = string(:base_url)
      invalid(:base_url, BASE_URL) if url.match?(%r{\A[^:/?#]*://[^/?#]*@}) || url.match?(/[?#]/)
      url
    end

    # The setting `name` as an Integer in `range` (a String of digits is taken too).
    # @return [Integer]
    # @raise [ArgumentError, WeCom::ConfigurationError] when it is not one
    def integer(name, range)
      value = value(name)
      integer = value if Integer === value
      integer = Integer(value, 10, exception: false) if String === value
      unless range.cover?(integer)
        invalid(name, "must be an integer from #{range.min} to #{range.max}, got #{Messages::Check.shown(value)}")
      end
      integer
    end

    # The native description of the token store: nil for :memory, a spec for the built-in
    # stores, the object itself for a custom store.
    def token_store
      store = value(:token_store)
      return nil if :memory == store || "memory" == store
      return store.native_spec if Messages::Check.responds?(store, :native_spec)
      return store if Messages::Check.responds?(store, :respond_to?) && TokenStore.custom?(store)

      invalid(:token_store, "must be :memory, a WeCom::TokenStore::File, a WeCom::TokenStore::Redis or an " \
                            "object with #{TokenStore::INTERFACE.join(', ')}, got #{Messages::Check.shown(store)}")
    end

    # How to reach WeCom, as the native side takes it: what a Client and a robot share.
    def connection
      { base_url: base_url, timeout: seconds(:timeout), open_timeout: seconds(:open_timeout),
        idle_timeout: seconds(:idle_timeout), max_retries: integer(:max_retries, Client::RETRIES),
        retry_base_delay: seconds(:retry_base_delay), proxy: proxy, ca_file: ca_file }
    end

    # Why a proxy was refused (the error's text).
    PROXY = "must be an http:// URL such as http://proxy.example.com:3128 (with user:password@ if the proxy " \
            "needs them), or false for no proxy at all".freeze

    # The forward proxy: nil (none given: HTTPS_PROXY and the other proxy variables decide, as
    # for curl), false (none, whatever the environment says) or a URL. Its password is never shown.
    def proxy
      value = value(:proxy)
      return value if nil.equal?(value) || false == value

      url = String === value ? value : nil
      unless url&.match?(%r{\Ahttps?://[^/?#]+/?\z}i)
        invalid(:proxy, "#{PROXY}, got #{String === value ? Configuration.shown(:proxy, value) : Messages::Check.class_of(value)}")
      end
      url
    end

    # What an invalid ca_file is told it must be.
    CA_FILE = "must be the path of a PEM file of CA certificates (added to the trusted roots)".freeze

    # The PEM file whose CA certificates are trusted besides the built-in roots (a TLS-inspecting
    # proxy's, a private CA's), as a path String; nil for none. The file is read and checked here:
    # missing, unreadable, or without a usable certificate is an error naming the path.
    def ca_file
      value = value(:ca_file)
      return nil if nil.equal?(value)

      path = Messages::Check.responds?(value, :to_path) ? value.to_path : value
      invalid(:ca_file, "#{CA_FILE}, got #{Messages::Check.class_of(value)}") unless String === path && !path.empty?
      problem = Native.ca_file_problem(path)
      invalid(:ca_file, problem) if problem
      path
    end

    # A configured duration may also be a numeric String (from YAML or the environment).
    def seconds(name)
      value = value(name)
      self.class.seconds(String === value ? Float(value, exception: false) : value) or
        invalid(name, self.class.not_seconds(value))
    end

    private

    def value(name)
      nil.equal?(@given[name]) ? @configuration.resolve(name, app: app) : @given[name]
    end

    def invalid(name, problem)
      raise ArgumentError, "#{name} #{problem}" unless nil.equal?(@given[name])

      raise ConfigurationError, "#{prefix}#{name} #{problem}"
    end

    # A named app never reads the environment: its settings come from WeCom.configure only.
    def not_set(missing)
      if app
        return "#{prefix}#{missing.join(', ')} not set: give them to c.app #{app.inspect} in WeCom.configure " \
               "or pass them to WeCom::Client.new"
      end

      hints = missing.map { |name| "#{name} (#{Configuration::ENV_NAMES[name]})" }
      "WeCom #{hints.join(', ')} not set: pass them to WeCom::Client.new, set them in WeCom.configure, " \
        "or set the environment variables"
    end

    def prefix
      app ? "WeCom app #{app.inspect}: " : "WeCom "
    end

    def blank?(value)
      Messages::Check.blank?(value)
    end
  end
end
