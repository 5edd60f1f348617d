# frozen_string_literal: true

module WeCom
  class Callback
    # Where WeCom::Callback::Endpoint claims each delivery, so that WeCom's retries of one message
    # run its handler once: the token store of the callback's app (memory: this process only;
    # a WeCom::TokenStore::File: every process of one host; Redis or Rails.cache: every host),
    # through its lock primitive with a lifetime.
    class Claims
      # The claims of `callback`'s endpoint, in its app's token store (c.callback endpoints use
      # the top-level token_store).
      def self.for(callback, configuration: WeCom.configuration)
        name = callback.name
        app = configuration.app_for(name) unless !name.nil? && configuration.callback_settings(name)
        settings = Settings.new({}, configuration, app)
        new(settings.token_store, timeout: settings.seconds(:timeout))
      end

      # `store`: nil (this process), or what WeCom::Settings#token_store gives the native side.
      def initialize(store = nil, timeout: Configuration::DEFAULTS[:timeout])
        @native = Native::Claims.new(store, timeout)
      end

      # Claims `key` for `ttl` seconds: the owner's name (for #release) when this caller got it,
      # else nil (someone holds it).
      def claim(key, ttl)
        @native.claim(key, ttl.to_f)
      end

      # Gives up a claim (a handler failed: let WeCom's retry run it again).
      def release(key, owner)
        @native.release(key, owner)
        nil
      end

      # Extends `owner`'s claim of `key` to `ttl` seconds from now: false when it is no longer
      # theirs (it lapsed, and someone else may hold it now).
      def renew(key, owner, ttl)
        @native.renew(key, owner, ttl.to_f)
      end

      # Whether #renew works with this store: every built-in store's does; a store written in
      # Ruby needs a `renew(key, owner, ttl)` method.
      def renews?
        @native.renews?
      end
    end
  end
end
