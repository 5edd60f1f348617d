# frozen_string_literal: true

# Sidekiq reads REDIS_URL. Scheduled jobs (WeCom::DeliveryJob's retries) are looked for every
# second, not every 5 s, to keep the spec short.
Sidekiq.configure_server do |config|
  config.options[:poll_interval_average] = 1
end

# Debian pairs Sidekiq 6.4 with redis-rb 4.8, which warns about every call Sidekiq makes.
Redis.silence_deprecations = true if Redis.respond_to?(:silence_deprecations=)
