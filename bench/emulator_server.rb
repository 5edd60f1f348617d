# frozen_string_literal: true

# The process that holds the one WeCom::Emulator (so its CPU is not counted against any client),
# started by bench/run.rb. It prints the base URL, then answers one line per command on stdin:
#
#   latency SECONDS   set the emulator's added latency          -> {"ok":true}
#   clear             forget recorded messages and counters     -> {"ok":true}
#   stats             what it received since the last clear     -> {"received":N, ...}
#   round_trip N      median ms of N gettoken calls             -> {"ms":51.4}
require "json"
require "net/http"
require "wecom"
require_relative "workloads"

# How long one answer really takes at the current latency, with as little client as possible in the
# way: `count` gettoken calls (which record no message) in a row on one kept-alive connection.
def round_trip_ms(base_url, count)
  uri = URI(base_url)
  path = "/cgi-bin/gettoken?corpid=#{Bench::CORP_ID}&corpsecret=#{Bench::SECRET}"
  times = Net::HTTP.start(uri.host, uri.port) do |http|
    Array.new(count) do
      started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
      http.get(path).value # raises unless 2xx
      (Process.clock_gettime(Process::CLOCK_MONOTONIC) - started) * 1000
    end
  end
  times.sort[count / 2]
end

# Every message of a round is checked (distinct contents, recipients), so the window holds a whole
# round, not the default few thousand.
emulator = WeCom::Emulator.start(corp_id: Bench::CORP_ID, secret: Bench::SECRET, agent_id: Bench::AGENT_ID,
                                 max_records: 100_000)
$stdout.sync = true
puts emulator.base_url

while (line = $stdin.gets)
  command, argument = line.split
  reply =
    case command
    when "latency"
      emulator.latency = Float(argument)
      { ok: true }
    when "clear"
      emulator.clear!
      { ok: true }
    when "round_trip"
      { ms: round_trip_ms(emulator.base_url, Integer(argument)) }
    when "stats"
      cpu_seconds = Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) # before the work of this answer
      messages = emulator.messages
      {
        received: emulator.counts[:messages],
        distinct: messages.map { |m| m.dig("text", "content") }.uniq.size,
        wrong_recipient: messages.count { |m| m["touser"] != Bench::TO },
        max_in_flight: emulator.max_in_flight,
        cpu_seconds: cpu_seconds,
        rss_kb: File.read("/proc/self/status")[/^VmRSS:\s+(\d+) kB/, 1].to_i,
      }
    else { error: "unknown command #{command.inspect}" }
    end
  puts JSON.generate(reply)
end
emulator.stop
