# frozen_string_literal: true

module WeCom
  # Reads each setting from the arguments, else the configuration (the app's settings, then the
  # top-level ones), else (unnamed app only) the environment, and checks it: a bad argument is an
  # ArgumentError, a bad configured value a ConfigurationError. Used by Client and Webhook.
  class Settings
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

    def string(name)
      value = value(name)
      invalid(name, "must be a String, got #{value.class}") unless value.is_a?(String) || value.is_a?(Symbol)
      value.to_s
    end

    def integer(name, range)
      value = value(name)
      integer = value if value.is_a?(Integer)
      integer = Integer(value, 10, exception: false) if value.is_a?(String)
      invalid(name, "must be an integer from #{range.min} to #{range.max}, got #{value.inspect}") unless range.cover?(integer)
      integer
    end

    # The native description of the token store: nil for :memory, a spec for the built-in
    # stores, the object itself for a custom store.
    def token_store
      store = value(:token_store)
      return nil if store == :memory || store == "memory"
      return store.native_spec if store.respond_to?(:native_spec)
      return store if TokenStore.custom?(store)

      invalid(:token_store, "must be :memory, a WeCom::TokenStore::File, a WeCom::TokenStore::Redis or an " \
                            "object with #{TokenStore::INTERFACE.join(', ')}, got #{store.inspect}")
    end

    def seconds(name)
      value = value(name)
      seconds = value.is_a?(String) ? Float(value, exception: false) : value
      unless seconds.is_a?(Numeric) && seconds.positive? && seconds.to_f.finite?
        invalid(name, "must be a positive number of seconds, got #{value.inspect}")
      end
      seconds.to_f
    end

    private

    def value(name)
      @given[name].nil? ? @configuration.resolve(name, app: app) : @given[name]
    end

    def invalid(name, problem)
      raise ArgumentError, "#{name} #{problem}" unless @given[name].nil?

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
      value.nil? || (value.respond_to?(:empty?) && value.empty?)
    end
  end
end
