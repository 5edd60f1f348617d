# frozen_string_literal: true

module WeCom
  module TokenStore
    # A token store on an ActiveSupport cache, for apps that already share one between their
    # processes (Rails.cache on Redis or Memcached):
    #
    #   WeCom.configure { |c| c.token_store = WeCom::TokenStore::RailsCache.new(Rails.cache) }
    #
    # The refresh lock is `write(..., unless_exist: true, expires_in: ttl)`, atomic on the Redis,
    # Memcached and memory stores. Compare-and-delete reads and then deletes: a cache has no
    # atomic form of it, so in a rare race a process may delete a token another has just
    # written, which costs one extra gettoken, never a wrong token.
    class RailsCache
      attr_reader :cache, :namespace

      def initialize(cache = default_cache, namespace: "wecom")
        unless %i[read write delete].all? { |method| cache.respond_to?(method) }
          raise ArgumentError, "cache must be an ActiveSupport::Cache::Store (such as Rails.cache), got #{cache.inspect}"
        end

        @cache = cache
        @namespace = namespace
      end

      def read(key)
        cache.read(name(key))
      end

      def write(key, value, ttl)
        cache.write(name(key), value, expires_in: ttl)
      end

      def delete(key, value)
        cache.read(name(key)) == value && cache.delete(name(key)) ? true : false
      end

      def lock(key, owner, ttl)
        cache.write(name("#{key}:lock"), owner, unless_exist: true, expires_in: ttl) ? true : false
      end

      def unlock(key, owner)
        cache.delete(name("#{key}:lock")) if cache.read(name("#{key}:lock")) == owner
      end

      def inspect
        "#<#{self.class.name} #{cache.class.name} namespace=#{namespace.inspect}>"
      end

      private

      def name(key)
        "#{namespace}:#{key}"
      end

      def default_cache
        return ::Rails.cache if defined?(::Rails) && ::Rails.respond_to?(:cache) && ::Rails.cache

        raise ArgumentError, "no Rails.cache here: pass the cache, RailsCache.new(cache)"
      end
    end
  end
end
