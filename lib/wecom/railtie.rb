# frozen_string_literal: true

require "erb"
require "yaml"

module WeCom
  # Rails integration, loaded by `require "wecom"` when Rails is present.
  #
  # Settings, later sources winning: config/wecom.yml (ERB, the section of the current
  # environment), then Rails.application.credentials.wecom, then the WECOM_* environment
  # variables; config/initializers may still call WeCom.configure after that. Each source may
  # hold top-level settings, `apps:` (name => settings) and `default_app:`.
  #
  # Also: WeCom.logger is Rails.logger (unless set), the log subscriber is attached, and the test
  # environment records sends (WeCom.delivery_method = :test) as ActionMailer does, unless
  # config.wecom.delivery_method says otherwise.
  class Railtie < Rails::Railtie
    config.wecom = ActiveSupport::OrderedOptions.new

    initializer "wecom.configure", before: :load_config_initializers do |app|
      settings = Railtie.settings(app)
      WeCom.configure { |c| Railtie.apply(c, settings) }
      WeCom.logger ||= Rails.logger
      method = app.config.wecom.delivery_method || (Rails.env.test? ? :test : :live)
      WeCom.delivery_method = method
      require "wecom/log_subscriber"
    end

    # wecom_js_sdk_config in every view (pages inside WeCom: the classic wx.config script).
    initializer "wecom.js_sdk_helper" do
      ActiveSupport.on_load(:action_view) { include WeCom::JsSdk::Helper }
    end

    # The settings config/wecom.yml may give at its top level (token_store is built from its
    # own description).
    TOP_LEVEL = (Configuration::SETTINGS - %i[token_store]).freeze

    class << self
      # The merged settings of config/wecom.yml, credentials and ENV (Symbol keys).
      def settings(app)
        [yaml(app), credentials(app), environment].reduce({}) { |merged, source| merge(merged, source) }
      end

      # Sets `settings` (from .settings) on `config`: the top-level ones, the apps, default_app
      # and the delivery log.
      # @return [void]
      def apply(config, settings)
        TOP_LEVEL.each { |name| config.public_send(:"#{name}=", settings[name]) if settings.key?(name) }
        config.token_store = token_store(settings[:token_store]) if settings.key?(:token_store)
        (settings[:apps] || {}).each do |name, app_settings|
          app_settings = app_settings.transform_keys(&:to_sym)
          app_settings[:token_store] = token_store(app_settings[:token_store]) if app_settings.key?(:token_store)
          config.app(name, **app_settings)
        end
        config.default_app = settings[:default_app] if settings[:default_app]
        config.delivery_log = settings[:delivery_log] if settings.key?(:delivery_log)
      end

      # memory | rails_cache | { file: "tmp/wecom-tokens" } | { redis: { url:, namespace:, timeout: } }
      def token_store(value)
        case value
        when nil, "memory", :memory then :memory
        when "rails_cache", :rails_cache then TokenStore::RailsCache.new(Rails.cache)
        when Hash
          kind, options = value.first
          case kind.to_s
          when "file" then TokenStore::File.new(Rails.root.join(options.to_s))
          when "redis" then TokenStore::Redis.new(**options.to_h.transform_keys(&:to_sym))
          else raise ConfigurationError, "WeCom token_store #{kind.inspect} is unknown (file, redis, rails_cache, memory)"
          end
        else
          raise ConfigurationError, "WeCom token_store #{value.inspect} is unknown (file, redis, rails_cache, memory)"
        end
      end

      private

      def yaml(app)
        path = app.root.join("config", "wecom.yml")
        return {} unless path.exist?

        all = YAML.safe_load(ERB.new(path.read).result, aliases: true) || {}
        symbolize(all.fetch(Rails.env.to_s, {}) || {})
      end

      def credentials(app)
        symbolize(app.credentials.config.fetch(:wecom, {}) || {})
      end

      def environment
        Configuration::ENV_NAMES.filter_map do |name, variable|
          [name, ENV[variable]] unless ENV[variable].to_s.empty?
        end.to_h
      end

      # Later sources win; apps merge setting by setting.
      def merge(base, other)
        base.merge(other) do |key, old, new|
          key == :apps ? old.merge(new) { |_, a, b| a.merge(b) } : new
        end
      end

      def symbolize(hash)
        hash.to_h.each_with_object({}) do |(key, value), result|
          result[key.to_sym] = if key.to_sym == :apps
                                 value.to_h.to_h { |name, settings| [name.to_sym, symbolize(settings)] }
                               else
                                 value
                               end
        end
      end
    end
  end
end
