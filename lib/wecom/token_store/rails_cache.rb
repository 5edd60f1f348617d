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
    #
    # Cache stores swallow connection errors (Redis down: a read answers nil, a write false), so
    # a write that is not kept, and a lock that cannot be taken while no holder can be read back,
    # raise Unreachable: wecom then fails fast, or fetches for its process alone, instead of
    # waiting for a lock no one can take.
    class RailsCache
      # The cache's backend did not answer (ActiveSupport swallows the error itself).
      class Unreachable < StandardError; end

      attr_reader :cache, :namespace

      def initialize(cache = default_cache, namespace: "wecom")
        unless %i[read write delete].all? { |method| cache.respond_to?(method) }
          raise ArgumentError, "cache must be an ActiveSupport::Cache::Store (such as Rails.cache), got #{cache.inspect}"
        end

        @cache = cache
        @namespace = namespace
      end

      # The cached token under `key`, or nil.
      # @return [String, nil]
      def read(key)
        cache.read(name(key))
      end

      # Caches `value` under `key` for `ttl` seconds.
      # @raise [Unreachable] when the cache did not write it
      def write(key, value, ttl)
        cache.write(name(key), value, expires_in: ttl) or unreachable("the token was not written")
      end

      # Drops the token under `key` if it still is `value` (compare and delete).
      # @return [Boolean] whether it was dropped
      def delete(key, value)
        cache.read(name(key)) == value && cache.delete(name(key)) ? true : false
      end

      # Takes the refresh lock of `key` for `owner` for `ttl` seconds.
      # @return [Boolean] whether it was taken
      # @raise [Unreachable] when the cache neither took nor holds it
      def lock(key, owner, ttl)
        # Twice: a holder may unlock between our write and our read.
        2.times do
          return true if cache.write(name("#{key}:lock"), owner, unless_exist: true, expires_in: ttl)
          return false if cache.read(name("#{key}:lock"))
        end
        unreachable("the lock was neither taken nor held")
      end

      # Releases the refresh lock of `key` if `owner` holds it.
      # @return [void]
      def unlock(key, owner)
        cache.delete(name("#{key}:lock")) if cache.read(name("#{key}:lock")) == owner
      end

      # Extends `owner`'s lock of `key` to `ttl` seconds from now (the callback endpoint's lease
      # while a handler runs). Read then write, as #delete: renewed with seconds to spare, it
      # cannot lapse in between in practice; a renewal racing the owner's own unlock may keep the
      # lock for up to `ttl` more, which delays a retry and never runs a handler twice.
      # @return [Boolean] whether `owner` still held it
      def renew(key, owner, ttl)
        return false unless cache.read(name("#{key}:lock")) == owner

        cache.write(name("#{key}:lock"), owner, expires_in: ttl) or unreachable("the lock was not renewed")
        true
      end

      # The cache's class and the namespace.
      # @return [String]
      def inspect
        "#<#{self.class.name} #{cache.class.name} namespace=#{namespace.inspect}>"
      end

      private

      def unreachable(what)
        raise Unreachable, "#{cache.class.name} is unreachable or not writable: #{what}"
      end

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
