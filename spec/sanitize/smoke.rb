# frozen_string_literal: true

# What `rake sanitize` runs under valgrind's memcheck: one pass through each kind of native entry
# point (sends and their results, batches, uploads from bytes, a robot, tokens, callbacks in both
# directions, JSON checks, errors raised from Rust into Ruby), small enough to finish in a minute
# under valgrind. memcheck reports any invalid read or write, use after free or uninitialised
# value that reaches a branch outside libruby's own conservative stack scan (ruby.supp).
$LOAD_PATH.unshift File.expand_path("../../lib", __dir__)
require "wecom"

def expect_error(kind)
  yield
  raise "expected #{kind}"
rescue kind
  nil
end

emu = WeCom::Emulator.start(corp_id: "ww-sanitize", secret: "sanitize-secret", agent_id: 1_000_002,
                            users: %w[zhangsan lisi])
client = emu.client
3.times { |i| client.send_text("hello #{i}", to: "zhangsan") }
client.send_markdown("**bold** and `code`", to: %w[zhangsan lisi])
client.send_news([{ title: "Interview", url: "https://example.com/i/1", description: "at 15:00" }], to: "zhangsan")
client.send_text("one unknown", to: %w[zhangsan nobody]) # answered with invaliduser
media = client.upload_media("bytes".b * 100, type: :file, filename: "notes.txt")
client.send_file(media, to: "zhangsan")
client.access_token
expect_error(ArgumentError) { client.send_text("x" * 3000, to: "zhangsan") }
expect_error(ArgumentError) { client.send_text("hi", to: []) }
emu.fail_next(40_014)
client.send_text("after a rejected token", to: "zhangsan")

robot = WeCom::Webhook.new(key: "sanitize-robot", base_url: emu.base_url)
robot.send_text("robot says hi", mention: ["zhangsan"])
robot.send_markdown("# robot")

token = "sanitizeToken"
aes_key = "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C"
keys = WeCom::Native::Callback.new(token, aes_key, "ww-sanitize")
callback = WeCom::Callback.new(token: token, encoding_aes_key: aes_key, receive_id: "ww-sanitize")
signature, timestamp, nonce, echostr = keys.sign_url_check("1616140317555161061", Time.now.to_i.to_s)
params = { "msg_signature" => signature, "timestamp" => timestamp, "nonce" => nonce, "echostr" => echostr }
raise "URL check" unless callback.verify_url(params) == "1616140317555161061"

fields = { "ToUserName" => "ww-sanitize", "FromUserName" => "zhangsan", "CreateTime" => Time.now.to_i.to_s,
           "MsgType" => "text", "Content" => "today", "MsgId" => "1", "AgentID" => "1000002" }
signature, timestamp, nonce, body = keys.sign_message(fields, Time.now.to_i.to_s)
query = { "msg_signature" => signature, "timestamp" => timestamp, "nonce" => nonce }
message = callback.parse(query, body)
raise "parse" unless message[:Content] == "today"

reply = callback.reply(message, text: "Your interviews today: 15:00")
raise "reply" unless keys.open_reply(reply)["Content"] == "Your interviews today: 15:00"

expect_error(WeCom::CallbackError) { callback.parse(query.merge("msg_signature" => "0" * 40), body) }
expect_error(WeCom::CallbackError) { callback.parse(query, "<xml><Encrypt>not base64</Encrypt></xml>") }
WeCom::Native.check_json({ "a" => [1, 2.5, nil, true, "字"], b: { c: :d } }, "text")
expect_error(ArgumentError) { WeCom::Native.check_json({ "a" => Object.new }, "text") }

GC.start
GC.compact if GC.respond_to?(:compact)
emu.stop
puts "sanitize smoke: #{emu.messages.size} messages, #{emu.robot_messages.size} robot messages"
