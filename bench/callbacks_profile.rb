# frozen_string_literal: true

# Where wecom's time per callback goes (bench/callbacks.rb's workload E), step by step:
#
#   ruby bench/callbacks_profile.rb [N]     # default 10,000; in this one process, best of 5
#
# Each line times one step over the same N callbacks: the native call alone, then what the Ruby
# layer adds around it (Callback#parse's parameter handling, Message.new's frozen deep copy,
# Reply.build's checks, Native::Callback#seal).
require "benchmark"
$LOAD_PATH.unshift(File.expand_path("../lib", __dir__))
require_relative "callbacks"

n = Integer(ARGV[0] || 10_000)
_, callbacks = Bench::Callbacks.generate(n)
keys = Bench::Callbacks::KEYS
cb = WeCom::Callback.new(**keys)
native = WeCom::Native::Callback.new(keys[:token], keys[:encoding_aes_key], keys[:receive_id])
window = WeCom::Callback::REPLAY_WINDOW.to_f
fields = callbacks.map { |params, body| native.open(params["msg_signature"], params["timestamp"], params["nonce"], body, window) }
messages = fields.map { |f| WeCom::Callback::Message.new(f) }
text = ->(message) { Bench::Callbacks.reply_text(message.from_user) }
trees = messages.map { |m| WeCom::Callback::Reply.build(m, { text: text.call(m) }) }

steps = {
  "Native::Callback#open (verify, decrypt, parse, to a Ruby Hash)" => lambda {
    callbacks.each { |params, body| native.open(params["msg_signature"], params["timestamp"], params["nonce"], body, window) }
  },
  "Callback#parse (open + params + Message.new)" => -> { callbacks.each { |params, body| cb.parse(params, body) } },
  "Message.new (frozen deep copy of the fields)" => -> { fields.each { |f| WeCom::Callback::Message.new(f) } },
  "reply text (the handler's string)" => -> { messages.each { |m| text.call(m) } },
  "Reply.build (checks, the reply tree)" => -> { messages.each { |m| WeCom::Callback::Reply.build(m, { text: text.call(m) }) } },
  "Native::Callback#seal (tree to XML, encrypt, sign)" => -> { trees.each { |t| native.seal(t) } },
  "Callback#reply (build + seal)" => -> { messages.each { |m| cb.reply(m, text: text.call(m)) } },
  "all: parse + reply" => -> { callbacks.each { |params, body| m = cb.parse(params, body); cb.reply(m, text: text.call(m)) } },
}
steps.each_value(&:call) # warm up
width = steps.keys.map(&:size).max
steps.each do |name, step|
  best = Array.new(5) { GC.start; Benchmark.realtime(&step) }.min
  objects = GC.stat(:total_allocated_objects).then { |before| step.call; GC.stat(:total_allocated_objects) - before }
  puts format("%-#{width}s %7.2f µs  %5.0f objects", name, best * 1e6 / n, objects.to_f / n)
end
