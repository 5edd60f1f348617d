# frozen_string_literal: true

# The benchmark: wecom against two common Ruby ways of calling WeCom, over a local emulator.
#
#   ruby bench/run.rb              # 5 rounds, medians (a few minutes)
#   ruby bench/run.rb --rounds 9
#   ruby bench/run.rb --quick      # 1 round, small N: a smoke test
#
# One WeCom::Emulator runs in its own process (bench/emulator_server.rb); every client runs
# each workload in a fresh process of its own (bench/worker.rb). It prints a Markdown table and
# writes bench/results/latest.{md,json} (a --quick run, which measures nothing, writes
# bench/results/quick.{md,json} instead and leaves the last measurement alone). The no-latency workloads (A, B) run a second time against
# nginx with canned answers (bench/nginx.rb), a server none of the clients was written against,
# and wrk measures over one and eight connections what the machine gets from that nginx with no
# Ruby in the client: the ceiling the clients are compared with. Beside them, reqwest alone (a
# Rust program with wecom-core's reqwest settings and nothing of wecom) shows the floor of the
# transport under every wecom send. A client that fails, or a run where the emulator did
# not receive exactly the messages sent, aborts the benchmark: no number is reported for it.
require "digest"
require "etc"
require "fileutils"
require "json"
require "optparse"
require "rbconfig"
require "time"
require_relative "workloads"
require_relative "processes"
require_relative "report"
require_relative "nginx"
require_relative "wrk"
require_relative "reqwest_alone"

module Bench
  RESULTS = File.join(__dir__, "results")
  NATIVE = File.join(LIB, "wecom", RUBY_VERSION[/\A\d+\.\d+/], "wecom_native.so") # `rake compile` writes it per Ruby

  class Runner
    # How the emulator's ceiling is probed: wecom with no latency, from one or two processes.
    CEILING_SETUPS = [
      { name: "1 process, send_batch(#{BATCH_CONCURRENCY})", processes: 1, mode: "best", threads: 1 },
      { name: "2 processes at once, send_batch(#{BATCH_CONCURRENCY}) each", processes: 2, mode: "best", threads: 1 },
      { name: "2 processes at once, 8 threads of send_text each", processes: 2, mode: "pool", threads: 8 },
    ].freeze

    # The workloads that also run against nginx, and the connections wrk uses there.
    NGINX_WORKLOADS = %w[A B].freeze
    WRK_CONNECTIONS = [1, 8].freeze

    def initialize(rounds:, quick:)
      @rounds = rounds
      @quick = quick
      raise "bench/run.rb needs nginx and wrk: apt-get install nginx-light wrk" unless Nginx.available? && Wrk.available?

      warn "CPU: #{Bench.cpu_model}, #{Etc.nprocessors} CPUs"
      @emulator = EmulatorProcess.new
      @nginx = Nginx.new
      ReqwestAlone.build!
    end

    def call
      started_at = Time.now.utc
      native_before = native_digest
      runs = []
      ceiling = []
      round_trips = Hash.new { |hash, key| hash[key] = [] }
      nginx_runs = []
      wrk_runs = []
      alone_runs = []
      @rounds.times do |round|
        WORKLOADS.each do |workload|
          @emulator.latency = workload.latency
          round_trips[workload.key.to_sym] << @emulator.round_trip_ms(20)
          CLIENTS.rotate(round).each { |client| runs << measure(round, workload, client) }
        end
        @emulator.latency = 0
        CEILING_SETUPS.each { |setup| ceiling << measure_ceiling(setup) }
        WORKLOADS.select { |w| NGINX_WORKLOADS.include?(w.key) }.each do |workload|
          CLIENTS.rotate(round).each { |client| nginx_runs << measure_nginx(round, workload, client) }
          alone_runs << measure_reqwest_alone(round, workload)
        end
        WRK_CONNECTIONS.each { |connections| wrk_runs << measure_wrk(round, connections) }
      end
      {
        machine: machine(started_at, native_before),
        config: { rounds: @rounds, quick: @quick, workloads: WORKLOADS.map { |w| w.to_h.merge(n: size(w)) } },
        runs: runs,
        medians: medians(runs),
        ceiling: summarize_ceiling(ceiling),
        emulator_round_trip_ms: round_trips.transform_values { |times| Bench.median(times) },
        require: require_time,
        nginx: { runs: nginx_runs, medians: medians(nginx_runs), wrk_runs: wrk_runs, wrk: wrk_medians(wrk_runs),
                 reqwest_alone_runs: alone_runs, reqwest_alone: reqwest_alone_medians(alone_runs) },
      }
    ensure
      @emulator.stop
      @nginx&.stop
    end

    private

    def size(workload) = @quick ? workload.quick_n : workload.n

    # One client, one workload, in a fresh process; checked against what the emulator received.
    def measure(round, workload, client)
      n = size(workload)
      result = run_workers([[client, workload.mode, n, workload.threads]]) do |before, after|
        verify!("#{workload.key}/#{client}", after, n)
        { emulator_cpu_seconds: after[:cpu_seconds] - before[:cpu_seconds], emulator_max_in_flight: after[:max_in_flight] }
      end
      worker = result[:workers].first
      run = {
        round: round + 1, workload: workload.key, client: client, n: n,
        seconds: worker[:seconds],
        msg_per_s: n / worker[:seconds],
        cpu_ms_per_msg: worker[:cpu_seconds] * 1000 / n,
        peak_rss_mb: worker[:peak_rss_kb] / 1024.0,
        emulator_cpu_ms_per_msg: result[:emulator_cpu_seconds] * 1000 / n,
        emulator_max_in_flight: result[:emulator_max_in_flight],
      }
      warn format("round %d  %s  %-20s %8.0f msg/s  %6.3f CPU ms/msg  %5.1f MB",
                  run[:round], workload.key, client, run[:msg_per_s], run[:cpu_ms_per_msg], run[:peak_rss_mb])
      run
    end

    # One client, one workload, in a fresh process, against nginx; checked against the sends
    # nginx logged.
    def measure_nginx(round, workload, client)
      n = size(workload)
      worker = Child.new("worker.rb", @nginx.base_url, client, workload.mode, n, workload.threads)
      worker.read # {"ready":true}
      before = @nginx.sends
      figures = worker.ask("go")
      worker.close
      received = @nginx.sends - before
      raise "nginx #{workload.key}/#{client}: nginx logged #{received} sends, expected #{n}" if received != n

      run = {
        round: round + 1, workload: workload.key, client: client, n: n, seconds: figures[:seconds],
        msg_per_s: n / figures[:seconds], cpu_ms_per_msg: figures[:cpu_seconds] * 1000 / n,
        peak_rss_mb: figures[:peak_rss_kb] / 1024.0, emulator_cpu_ms_per_msg: 0.0
      }
      warn format("round %d  %s  %-20s %8.0f msg/s  %6.3f CPU ms/msg  %5.1f MB  (nginx)",
                  run[:round], workload.key, client, run[:msg_per_s], run[:cpu_ms_per_msg], run[:peak_rss_mb])
      run
    end

    def measure_wrk(round, connections)
      rate = Wrk.rate(@nginx.base_url, connections: connections, seconds: @quick ? 2 : 5)
      warn format("round %d  wrk over %d connection%s %8.0f req/s  (nginx)", round + 1, connections,
                  connections == 1 ? "" : "s", rate)
      { round: round + 1, connections: connections, req_per_s: rate }
    end

    # reqwest alone against nginx, checked against the sends nginx logged (its warm-up included).
    def measure_reqwest_alone(round, workload)
      before = @nginx.sends
      run = ReqwestAlone.run(@nginx.base_url, sends: size(workload), threads: workload.threads)
      received = @nginx.sends - before
      raise "nginx #{workload.key}/reqwest alone: nginx logged #{received} sends, expected #{run[:requests]}" if received != run[:requests]

      warn format("round %d  %s  %-20s %8.0f msg/s  %6.3f CPU ms/msg          (nginx)", round + 1, workload.key,
                  "reqwest alone", run[:msg_per_s], run[:cpu_ms_per_msg])
      run.slice(:msg_per_s, :cpu_ms_per_msg).merge(round: round + 1, workload: workload.key)
    end

    def reqwest_alone_medians(runs)
      runs.group_by { |r| r[:workload].to_sym }.transform_values do |of|
        %i[msg_per_s cpu_ms_per_msg].to_h { |metric| [metric, Bench.median(of.map { |r| r[metric] })] }
      end
    end

    def wrk_medians(runs)
      runs.group_by { |r| r[:connections] }.to_h { |connections, of| [connections, Bench.median(of.map { |r| r[:req_per_s] })] }
    end

    # The emulator's ceiling: wecom with no latency, as hard as it can, in one setup.
    def measure_ceiling(setup)
      n = @quick ? 2_000 : 20_000
      total = setup[:processes] * n
      specs = Array.new(setup[:processes]) { |i| ["wecom", setup[:mode], n, setup[:threads], "Process #{i + 1}"] }
      result = run_workers(specs) do |before, after|
        verify!("ceiling (#{setup[:name]})", after, total)
        { emulator_cpu_seconds: after[:cpu_seconds] - before[:cpu_seconds] }
      end
      workers = result[:workers]
      seconds = workers.map { |w| w[:finished_at] }.max - workers.map { |w| w[:started_at] }.min
      warn format("ceiling           %8.0f msg/s  %s", total / seconds, setup[:name])
      { setup: setup[:name], messages: total, seconds: seconds, msg_per_s: total / seconds,
        emulator_cpu_ms_per_msg: result[:emulator_cpu_seconds] * 1000 / total }
    end

    # Starts the workers, waits until every one is ready (token fetched), lets them all go,
    # collects their figures, then yields the emulator's stats before and after.
    def run_workers(specs)
      @emulator.clear!
      workers = specs.map { |spec| Child.new("worker.rb", @emulator.base_url, *spec) }
      workers.each(&:read) # {"ready":true}
      before = @emulator.stats
      figures = workers.map { |w| w.ask("go") }
      workers.each(&:close)
      after = @emulator.stats
      yield(before, after).merge(workers: figures)
    end

    def verify!(what, stats, expected)
      problems = []
      problems << "received #{stats[:received]} messages, expected #{expected}" if stats[:received] != expected
      problems << "#{stats[:distinct]} distinct contents, expected #{expected}" if stats[:distinct] != expected
      problems << "#{stats[:wrong_recipient]} sent to the wrong user" if stats[:wrong_recipient].positive?
      raise "#{what}: #{problems.join('; ')}" if problems.any?
    end

    def medians(runs)
      runs.group_by { |r| r[:workload].to_sym }.transform_values do |of_workload|
        of_workload.group_by { |r| r[:client].to_sym }.transform_values do |of_client|
          %i[msg_per_s seconds cpu_ms_per_msg peak_rss_mb emulator_cpu_ms_per_msg].to_h do |metric|
            [metric, Bench.median(of_client.map { |r| r[metric] })]
          end
        end
      end
    end

    # The median of each setup; the ceiling is the highest.
    def summarize_ceiling(runs)
      setups = runs.group_by { |r| r[:setup] }.map do |setup, of_setup|
        { setup: setup, messages: of_setup.first[:messages],
          msg_per_s: Bench.median(of_setup.map { |r| r[:msg_per_s] }),
          emulator_cpu_ms_per_msg: Bench.median(of_setup.map { |r| r[:emulator_cpu_ms_per_msg] }) }
      end
      { msg_per_s: setups.map { |c| c[:msg_per_s] }.max, setups: setups, runs: runs }
    end

    # `ruby -e 'require "wecom"'` against `ruby -e ''`, interleaved, median of each.
    def require_time
      count = @quick ? 3 : 10
      timings = { baseline: [], wecom: [] }
      count.times do
        timings[:baseline] << time_ruby("")
        timings[:wecom] << time_ruby('require "wecom"')
      end
      baseline = Bench.median(timings[:baseline])
      with_wecom = Bench.median(timings[:wecom])
      { runs: count, baseline_ms: baseline, with_wecom_ms: with_wecom, added_ms: with_wecom - baseline }
    end

    def time_ruby(code)
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      system(RbConfig.ruby, "-I", LIB, "-e", code, exception: true)
      (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000
    end

    def machine(started_at, native_before)
      native_after = native_digest
      {
        nproc: Etc.nprocessors,
        cpu: Bench.cpu_model,
        ruby: RUBY_DESCRIPTION,
        date: started_at.iso8601,
        command: (["ruby bench/run.rb"] + ARGV).join(" "),
        wecom_native_sha256: native_before,
        wecom_native_sha256_after_run: native_after,
      }
    end

    def native_digest = File.exist?(NATIVE) ? Digest::SHA256.file(NATIVE).hexdigest[0, 16] : nil
  end
end

if $PROGRAM_NAME == __FILE__
  options = { rounds: 5, quick: false }
  OptionParser.new do |parser|
    parser.banner = "Usage: ruby bench/run.rb [--rounds N] [--quick]"
    parser.on("--rounds N", Integer, "rounds to take the median of (default 5)") { |n| options[:rounds] = n }
    parser.on("--quick", "1 round with small N: a smoke test") { options[:quick] = true }
  end.parse!(ARGV.dup)
  options[:rounds] = 1 if options[:quick]
  abort "--rounds must be at least 1" if options[:rounds] < 1

  results = Bench::Runner.new(**options).call
  markdown = Bench::Report.markdown(results)
  FileUtils.mkdir_p(Bench::RESULTS)
  name = options[:quick] ? "quick" : "latest"
  File.write(File.join(Bench::RESULTS, "#{name}.json"), JSON.pretty_generate(results.merge(targets: Bench::Report.targets(results))))
  File.write(File.join(Bench::RESULTS, "#{name}.md"), markdown)
  puts markdown
end
