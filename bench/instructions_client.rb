# frozen_string_literal: true

# The client bench/instructions.sh counts: 200 warm-up sends, then ARGV[1] sequential sends to the
# emulator at ARGV[0].
require "wecom"
client = WeCom::Client.new(corp_id: "corp", secret: "secret", agent_id: 1000002, base_url: ARGV[0])
200.times { client.send_text("warm", to: "zhangsan") }
Integer(ARGV[1]).times { |i| client.send_text("Interview at 15:00 ##{i}", to: "zhangsan") }
