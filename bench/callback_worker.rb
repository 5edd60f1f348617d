# frozen_string_literal: true

# The process of one implementation for one round of the callback benchmark, started by
# bench/callbacks.rb:
#
#   ruby -Ilib bench/callback_worker.rb IMPLEMENTATION CALLBACKS_FILE SAMPLE_EVERY
#
# It loads only that implementation, reads the signed and encrypted callbacks (Marshal: an
# Array of [params, body]), handles the first WARMUP untimed, then times handling all of them:
# verify, check the timestamp, decrypt, check the receive id, parse, build and seal the text
# reply. It prints one JSON line: its figures and, for every SAMPLE_EVERY-th callback, the
# parsed fields and the reply XML (the parent checks them). Any failure raises: exit non-zero.
require "json"
require_relative "callbacks_common"

name, file, sample_every = ARGV
spec = Bench::Callbacks::IMPLEMENTATIONS.fetch(name)
require_relative "clients/#{spec[:file]}"
ActiveSupport::XmlMini.backend = spec[:xml_backend] if spec[:xml_backend]

callbacks = Marshal.load(File.binread(file))
sample_every = Integer(sample_every)
impl = Bench::Callbacks.const_get(spec[:class]).new(**Bench::Callbacks::KEYS)

callbacks.first(Bench::Callbacks::WARMUP).each { |params, body| impl.handle(params, body) }
samples = []
GC.start

cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
wall = -> { Process.clock_gettime(Process::CLOCK_MONOTONIC) }
gc_before = GC.stat
wall0 = wall.call
cpu0 = cpu.call
callbacks.each_with_index do |(params, body), index|
  message, reply = impl.handle(params, body)
  samples << [index, impl.fields(message), reply] if (index % sample_every).zero?
end
seconds = wall.call - wall0
cpu_seconds = cpu.call - cpu0
gc_after = GC.stat

$stdout.sync = true
puts JSON.generate(
  implementation: name,
  handled: callbacks.size,
  seconds: seconds,
  cpu_seconds: cpu_seconds,
  allocated_objects: gc_after[:total_allocated_objects] - gc_before[:total_allocated_objects],
  gc_runs: gc_after[:count] - gc_before[:count],
  peak_rss_kb: File.read("/proc/self/status")[/^VmHWM:\s+(\d+) kB/, 1].to_i,
  xml_backend: defined?(ActiveSupport::XmlMini) ? ActiveSupport::XmlMini.backend.name : nil,
  samples: samples
)
