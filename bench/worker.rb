# frozen_string_literal: true

# The process of one client for one run, started by bench/run.rb:
#
#   ruby -Ilib bench/worker.rb BASE_URL CLIENT MODE N THREADS [LABEL]
#
# It loads only its client, fetches the token, prints {"ready":true}, waits for a line on
# stdin (so several workers can start together), sends N messages (their texts start with
# LABEL, so workers that run together send distinct texts), and prints its figures as
# one JSON line. Any failure raises, which exits non-zero: the parent then aborts.
require "json"
require_relative "workloads"

base_url, client_name, mode, count, threads, label = ARGV
require_relative "clients/#{client_name}"

klass = Bench::Clients.const_get(client_name.split("_").map(&:capitalize).join)
client = klass.new(base_url: base_url, corp_id: Bench::CORP_ID, secret: Bench::SECRET, agent_id: Bench::AGENT_ID)
client.access_token
contents = Bench.contents(Integer(count), label || "Interview")

$stdout.sync = true
puts JSON.generate(ready: true)
$stdin.gets

cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) } # user + sys, every thread
wall = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }

started_at = Process.clock_gettime(Process::CLOCK_REALTIME) # to line up workers that run together
wall0 = wall.call
cpu0 = cpu.call
Bench.drive(client, mode, contents, Integer(threads))
seconds = wall.call - wall0
cpu_seconds = cpu.call - cpu0

puts JSON.generate(
  sent: contents.size,
  seconds: seconds,
  cpu_seconds: cpu_seconds,
  started_at: started_at,
  finished_at: started_at + seconds,
  peak_rss_kb: File.read("/proc/self/status")[/^VmHWM:\s+(\d+) kB/, 1].to_i
)
