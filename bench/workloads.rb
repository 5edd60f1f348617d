# frozen_string_literal: true

# What the benchmark measures, shared by bench/run.rb (the parent) and bench/worker.rb (the
# process of one client): the emulator's credentials, the clients, the workloads, and how a
# workload drives a client.
module Bench
  CORP_ID = "bench-corp"
  SECRET = "bench-secret"
  AGENT_ID = 1_000_002
  TO = "zhangsan"

  # Each name is bench/clients/NAME.rb, which defines Bench::Clients::<CamelCaseName>.
  CLIENTS = %w[wecom httparty_seed net_http_keepalive].freeze

  BATCH_CONCURRENCY = 64

  # mode: "sequential" (one thread), "pool" (`threads` threads drain one shared queue of `n`
  # jobs) or "best" (the client's best way: send_batch if it has one, else the pool).
  Workload = Struct.new(:key, :title, :n, :quick_n, :threads, :latency, :mode, keyword_init: true)

  WORKLOADS = [
    Workload.new(key: "A", title: "sequential, no latency", n: 3000, quick_n: 300,
                 threads: 1, latency: 0, mode: "sequential"),
    Workload.new(key: "B", title: "8 threads, no latency", n: 3000, quick_n: 300,
                 threads: 8, latency: 0, mode: "pool"),
    Workload.new(key: "C", title: "8 threads, 50 ms latency", n: 400, quick_n: 80,
                 threads: 8, latency: 0.05, mode: "pool"),
    Workload.new(key: "D", title: "best way, 50 ms latency", n: 1000, quick_n: 200,
                 threads: 8, latency: 0.05, mode: "best"),
  ].freeze

  # Distinct contents, so the emulator can tell that each message arrived exactly once.
  def self.contents(count, label = "Interview")
    Array.new(count) { |i| "#{label} reminder ##{i + 1}: today at 15:00" }
  end

  # Sends every content through `client` as `mode` says.
  def self.drive(client, mode, contents, threads)
    case mode
    when "sequential" then contents.each { |content| client.send_text(content, TO) }
    when "pool" then pool(contents, threads) { |content| client.send_text(content, TO) }
    when "best"
      if client.respond_to?(:send_batch)
        client.send_batch(contents, TO, concurrency: BATCH_CONCURRENCY)
      else
        pool(contents, threads) { |content| client.send_text(content, TO) }
      end
    else raise ArgumentError, "unknown mode #{mode.inspect}"
    end
  end

  # `threads` threads drain one shared queue of jobs. An exception in any thread is re-raised
  # by join, so a failing client fails the run.
  def self.pool(jobs, threads, &block)
    queue = Queue.new
    jobs.each { |job| queue << job }
    queue.close
    Array.new(threads) do
      Thread.new do
        while (job = queue.pop)
          block.call(job)
        end
      end
    end.each(&:join)
  end

  # The CPU model, as /proc/cpuinfo names it (every figure is quoted with it).
  def self.cpu_model = File.read("/proc/cpuinfo")[/^model name\s*:\s*(.+)$/, 1]

  # The median (the mean of the two middle values of an even count).
  def self.median(values)
    sorted = values.sort
    (sorted[(sorted.size - 1) / 2] + sorted[sorted.size / 2]) / 2.0
  end
end
