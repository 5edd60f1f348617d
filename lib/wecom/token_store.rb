# frozen_string_literal: true

require "uri"

module WeCom
  # Where access tokens are kept, set with `c.token_store = ...` (or per app, or per client):
  #
  #   :memory                                      # this process only (the default)
  #   WeCom::TokenStore::File.new("tmp/wecom-tokens")                        # one host
  #   WeCom::TokenStore::Redis.new(url: "redis://127.0.0.1:6379/0", namespace: "wecom")  # many hosts
  #
  # With a shared store, the processes share one token per app and refresh it once: the first
  # process whose copy is due takes the store's lock, fetches, and writes the new token; the
  # others read it instead of fetching. Both stores live in the native core, so a refresh never
  # needs the GVL. Keys are the namespace, the corp id and a digest of the secret, never the
  # secret itself.
  #
  # Or your own store: any object with these methods (see README, "A store of your own"):
  #
  #   read(key)                   # => the String last written under key, or nil
  #   write(key, value, ttl)      # keep value under key for ttl seconds (a Float)
  #   delete(key, value)          # delete key only if it still holds value; true if it did
  #   lock(key, owner, ttl)       # take key's lock for owner if free, for ttl seconds; true if taken
  #   unlock(key, owner)          # release key's lock if owner still holds it
  #
  # wecom calls them with the GVL, between the network waits of a send; a StandardError they
  # raise becomes a WeCom::NetworkError.
  module TokenStore
    # The methods a custom token store answers.
    INTERFACE = %i[read write delete lock unlock].freeze

    autoload :RailsCache, "wecom/token_store/rails_cache"

    # Whether `store` has the interface of a custom token store.
    def self.custom?(store)
      INTERFACE.all? { |method| store.respond_to?(method) }
    end
    # Files in a directory: every process of one host. Tokens are written to a temporary file
    # and renamed (a reader never sees half a file), with mode 0600; the refresh lock is an
    # flock, which the kernel releases when its holder dies, even by SIGKILL.
    class File
      attr_reader :dir

      def initialize(dir)
        unless dir.is_a?(String) || dir.respond_to?(:to_path)
          raise ArgumentError, "dir must be a directory path, got #{dir.class}"
        end

        @dir = ::File.expand_path(dir.to_s)
        freeze
      end

      # How the native core opens this store.
      # @return [Hash]
      def native_spec
        ["file", dir]
      end

      # The directory.
      # @return [String]
      def inspect
        "#<#{self.class.name} #{dir}>"
      end
    end

    # A Redis server: every process of every host. The refresh lock is `SET NX PX` with an owner
    # token, released by compare-and-delete; a holder that dies blocks the others at most the
    # lock's lifetime (twice the client's timeout). Every Redis call has `timeout` seconds; an
    # unreachable Redis raises a WeCom::NetworkError instead of hanging.
    class Redis
      attr_reader :url, :namespace, :timeout

      def initialize(url: ENV.fetch("REDIS_URL", "redis://127.0.0.1:6379/0"), namespace: "wecom", timeout: 1)
        raise ArgumentError, "url must be a redis:// or rediss:// URL" unless url.is_a?(String) && url.match?(%r{\Arediss?://}i)
        raise ArgumentError, "namespace must be a String" unless namespace.is_a?(String)
        unless timeout.is_a?(Numeric) && timeout.positive? && timeout.to_f <= Native::MAX_SECONDS
          raise ArgumentError, "timeout must be a positive number of seconds, at most #{Native::MAX_SECONDS.to_i} " \
                               "(a day), got #{timeout.inspect}"
        end

        @url = url.dup.freeze
        @namespace = namespace.dup.freeze
        @timeout = timeout
        freeze
      end

      # How the native core opens this store (Redis through its own client).
      # @return [Hash]
      def native_spec
        ["redis", url, namespace, timeout.to_f]
      end

      # The URL without its password.
      def inspect
        shown = URI.parse(url).tap { |uri| uri.password = "[REDACTED]" if uri.password }.to_s
        "#<#{self.class.name} #{shown} namespace=#{namespace.inspect}>"
      rescue URI::Error
        "#<#{self.class.name} namespace=#{namespace.inspect}>"
      end
    end
  end
end
