# frozen_string_literal: true

module WeCom
  class Callback
    # Keeps short claims alive while their work runs. A claim held through #hold is renewed to
    # `ttl` seconds every `every` seconds by one thread per keeper, so that when its process dies
    # (SIGKILL, the OOM killer) the claim lapses within `ttl` instead of blocking everyone for a
    # long fixed lifetime. Work that ends within `every` seconds, as most handlers do, costs no
    # store call at all: only claims held that long are renewed.
    class LeaseKeeper
      attr_reader :ttl, :every

      # `claims`: a WeCom::Callback::Claims (or anything with #renew(key, owner, ttl)).
      # `on_lost`: called with the key and the error (nil when the claim was simply gone) when a
      # renewal fails while its work still runs.
      def initialize(claims, ttl:, every:, &on_lost)
        @claims = claims
        @ttl = ttl
        @every = every
        @on_lost = on_lost
        @held = {} # key => [owner, when to renew next]
        @lock = Mutex.new
        @changed = ConditionVariable.new
        @thread = nil
      end

      # Runs the block while `owner`'s claim of `key` is renewed.
      def hold(key, owner)
        @lock.synchronize do
          start unless @thread&.alive? # not started yet, or inherited through fork (threads are not)
          @changed.signal if @held.empty? # the thread sleeps until something is held
          @held[key] = [owner, monotonic + @every]
        end
        yield
      ensure
        @lock.synchronize { @held.delete(key) }
      end

      private

      def start
        @thread = Thread.new { loop { renew_due } }
        @thread.name = "wecom-lease-keeper"
        @thread.report_on_exception = false
      end

      # Sleeps until a held claim is due (while none is held, until one is), then renews the due
      # ones outside the lock, so that #hold never waits for the store.
      def renew_due
        due = @lock.synchronize do
          next_due = @held.each_value.map(&:last).min
          @changed.wait(@lock, next_due && [next_due - monotonic, 0].max)
          now = monotonic
          @held.filter_map do |key, entry|
            next if entry[1] > now

            entry[1] = now + @every
            [key, entry[0]]
          end
        end
        due.each { |key, owner| renew(key, owner) }
      end

      def renew(key, owner)
        lost(key, owner, nil) unless @claims.renew(key, owner, @ttl)
      rescue StandardError => e
        lost(key, owner, e)
      end

      # Reported only while the work still runs: a claim released as it ended is not lost.
      def lost(key, owner, error)
        @on_lost&.call(key, error) if @lock.synchronize { @held.dig(key, 0) == owner }
      end

      def monotonic
        Process.clock_gettime(Process::CLOCK_MONOTONIC)
      end
    end
  end
end
