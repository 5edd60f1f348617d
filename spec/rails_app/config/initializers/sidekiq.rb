# frozen_string_literal: true

# Sidekiq reads REDIS_URL. Scheduled jobs (WeCom::DeliveryJob's retries) are looked for every
# second, not every 5 s, to keep the spec short.
Sidekiq.configure_server do |config|
  if config.respond_to?(:options)
    config.options[:poll_interval_average] = 1 # Sidekiq 6 (Debian 12)
  else
    config[:poll_interval_average] = 1 # Sidekiq 7's Sidekiq::Config (Debian 13)
  end
end

# Debian 12 pairs Sidekiq 6.4 with redis-rb 4.8, which warns about every call Sidekiq makes.
# (Sidekiq 7 talks to Redis through redis-client and does not load redis-rb at all.)
Redis.silence_deprecations = true if defined?(Redis) && Redis.respond_to?(:silence_deprecations=)
