# frozen_string_literal: true

# send_text with a "deliver.wecom" subscriber, as in every Rails app (its log subscriber): the
# native path, which reads and sends the message natively inside the event, against the Ruby
# path that such sends took before (WeCom::AppMessage, Recipients, the payload from Ruby objects).
# One process; an emulator in a child process; rounds alternate between the two, medians of CPU
# µs per send (the client process's user+sys).
#
#   ruby -Ilib bench/subscribed_send.rb [ROUNDS] [SENDS]
require "etc"
require "wecom"
require "active_support"
require "active_support/notifications"

rounds = Integer(ARGV[0] || 7)
sends = Integer(ARGV[1] || 3000)

reader, writer = IO.pipe
emulator_pid = fork do
  reader.close
  emulator = WeCom::Emulator.start
  writer.puts [emulator.corp_id, emulator.secret, emulator.agent_id, emulator.base_url].join(" ")
  writer.close
  sleep
end
writer.close
corp_id, secret, agent_id, base_url = reader.gets.split
at_exit { Process.kill(:KILL, emulator_pid) }

# The Ruby path on demand: quick_send answering nil is what made a send take it.
RUBY_PATH = [false] # rubocop:disable Style/MutableConstant
WeCom::Client.prepend(Module.new do
  private

  def quick_send(*)
    RUBY_PATH[0] ? nil : super
  end
end)

WeCom.configure do |c|
  c.corp_id = corp_id
  c.app :bench, secret: secret, agent_id: Integer(agent_id), base_url: base_url
end
client = WeCom::Client.new(:bench)
ActiveSupport::Notifications.subscribe("deliver.wecom") { |*| nil }
cpu = -> { Process.clock_gettime(Process::CLOCK_PROCESS_CPUTIME_ID) }
measure = lambda do |ruby_path|
  RUBY_PATH[0] = ruby_path
  started = cpu.call
  sends.times { |i| client.send_text("Interview reminder ##{i}", to: "zhangsan") }
  (cpu.call - started) * 1e6 / sends
end
2.times { measure.call(true) && measure.call(false) } # warm-up

samples = { native: [], ruby: [] }
rounds.times do
  samples[:ruby] << measure.call(true)
  samples[:native] << measure.call(false)
end
median = ->(values) { values.sort[values.size / 2] }
native = median.call(samples[:native])
ruby = median.call(samples[:ruby])
cpu_model = File.read("/proc/cpuinfo")[/^model name\s*:\s*(.+)$/, 1]
puts "#{Etc.nprocessors} CPUs, #{cpu_model}, #{RUBY_DESCRIPTION}"
puts format("send_text with a deliver.wecom subscriber, medians of %d rounds × %d sends:", rounds, sends)
puts format("  native path %.1f µs CPU per send; Ruby path %.1f µs: %.2f× less CPU", native, ruby, ruby / native)
