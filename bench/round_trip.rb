# frozen_string_literal: true

# Where the time of one sequential send goes, on both sides of the connection.
#
#   ruby bench/round_trip.rb [--rounds N]     # default 5; writes bench/results/round_trip.md
#
# For each server (the emulator, nginx with canned answers) and each sender over one kept-alive
# connection — wrk (C), reqwest alone (Rust, wecom-core's settings, nothing of wecom), wecom, the
# keep-alive Net::HTTP client and the HTTParty client — it measures the rate and the CPU per request of the sender
# and of the server (from /proc/PID/stat). With one request in flight the two processes take
# turns, so a request's wall time is about the two CPU figures added up: what wrk spends is
# what any client must spend on this machine (the kernel's socket work, sleeping and waking), and
# the rest of a client's CPU is its own. Interleaved rounds, medians.
require "json"
require "net/http"
require "optparse"
require_relative "workloads"
require_relative "processes"
require_relative "nginx"
require_relative "wrk"
require_relative "reqwest_alone"

module Bench
  class RoundTrip
    SENDERS = %w[wrk reqwest_alone wecom net_http_keepalive httparty_seed].freeze
    SENDS = { "reqwest_alone" => 20_000, "wecom" => 20_000, "net_http_keepalive" => 6_000, "httparty_seed" => 3_000 }.freeze
    WRK_SECONDS = 3

    def initialize(rounds:)
      @rounds = rounds
      ReqwestAlone.build!
      @emulator = EmulatorProcess.new
      @nginx = Nginx.new
      @servers = {
        "emulator" => { url: @emulator.base_url, pid: @emulator.pid, token: emulator_token },
        "nginx" => { url: @nginx.base_url, pid: @nginx.pid, token: Nginx::TOKEN },
      }
    end

    def call
      runs = Hash.new { |hash, key| hash[key] = [] }
      @rounds.times do |round|
        @servers.each do |server_name, server|
          SENDERS.rotate(round).each do |sender|
            @emulator.clear!
            run = measure(sender, server)
            runs[[server_name, sender]] << run
            warn format("round %d  %-8s %-20s %7.0f req/s  client %5.1f µs  server %5.1f µs", round + 1, server_name,
                        sender, run[:req_per_s], run[:client_us], run[:server_us])
          end
        end
      end
      runs.transform_values { |of| %i[req_per_s client_us server_us].to_h { |k| [k, Bench.median(of.map { |r| r[k] })] } }
    ensure
      @emulator.stop
      @nginx.stop
    end

    private

    def measure(sender, server)
      before = server_cpu(server[:pid])
      figures =
        case sender
        when "wrk"
          wrk = Wrk.run(server[:url], connections: 1, seconds: WRK_SECONDS, token: server[:token])
          { req_per_s: wrk[:req_per_s], client_ms: wrk[:cpu_ms_per_msg], requests: wrk[:requests] }
        when "reqwest_alone"
          alone = ReqwestAlone.run(server[:url], sends: SENDS[sender], threads: 1, token: server[:token])
          { req_per_s: alone[:msg_per_s], client_ms: alone[:cpu_ms_per_msg], requests: alone[:requests] }
        else ruby_client(sender, server[:url])
        end
      server_ms = (server_cpu(server[:pid]) - before) * 1000 / figures[:requests]
      # The Ruby clients' start-up requests (the token, a warm-up) fall in the server's figure
      # too: a few against thousands.
      { req_per_s: figures[:req_per_s], client_us: figures[:client_ms] * 1000, server_us: server_ms * 1000 }
    end

    def ruby_client(client, url)
      n = SENDS[client]
      worker = Child.new("worker.rb", url, client, "sequential", n, 1)
      worker.read
      figures = worker.ask("go")
      worker.close
      { req_per_s: n / figures[:seconds], client_ms: figures[:cpu_seconds] * 1000 / n, requests: n }
    end

    # User + system CPU seconds of a process, every thread.
    def server_cpu(pid)
      File.read("/proc/#{pid}/stat").split(") ").last.split[11, 2].sum { |ticks| Integer(ticks) } / CLOCK_TICKS
    end

    CLOCK_TICKS = Float(`getconf CLK_TCK`)

    def emulator_token
      path = "/cgi-bin/gettoken?corpid=#{CORP_ID}&corpsecret=#{SECRET}"
      JSON.parse(Net::HTTP.get(URI("#{@emulator.base_url}#{path}"))).fetch("access_token")
    end
  end

  def self.round_trip_markdown(medians, rounds)
    rows = ["# One sequential send, both sides", "",
            "- Machine: #{Etc.nprocessors} CPUs, #{Bench.cpu_model}; #{RUBY_DESCRIPTION}",
            "- Date: #{Time.now.utc.iso8601}; `ruby bench/round_trip.rb --rounds #{rounds}` (medians)", "",
            "| server | sender | req/s | wall µs/req | sender CPU µs/req | server CPU µs/req | CPU sum µs |",
            "|---|---|---:|---:|---:|---:|---:|"]
    medians.each do |(server, sender), m|
      rows << format("| %s | %s | %.0f | %.1f | %.1f | %.1f | %.1f |", server, sender.tr("_", " "), m[:req_per_s],
                     1e6 / m[:req_per_s], m[:client_us], m[:server_us], m[:client_us] + m[:server_us])
    end
    rows << ""
    medians.keys.map(&:first).uniq.each do |server|
      wall = ->(sender) { 1e6 / medians.fetch([server, sender])[:req_per_s] }
      rows << format("- **%s:** issue 12's sequential targets need a send in at most %.1f µs (½ of net_http_keepalive's) " \
                     "and %.1f µs (¼ of httparty_seed's); wrk takes %.1f µs, reqwest alone %.1f µs, wecom %.1f µs.",
                     server, wall["net_http_keepalive"] / 2, wall["httparty_seed"] / 4, wall["wrk"],
                     wall["reqwest_alone"], wall["wecom"])
    end
    rows.join("\n") + "\n"
  end
end

if $PROGRAM_NAME == __FILE__
  require "etc"
  require "time"
  rounds = 5
  OptionParser.new { |o| o.on("--rounds N", Integer) { |n| rounds = n } }.parse!(ARGV.dup)
  markdown = Bench.round_trip_markdown(Bench::RoundTrip.new(rounds: rounds).call, rounds)
  File.write(File.join(__dir__, "results", "round_trip.md"), markdown)
  puts markdown
end
