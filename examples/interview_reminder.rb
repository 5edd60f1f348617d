# frozen_string_literal: true

# What a Rails app's job does with wecom, runnable on its own: `bin/demo`.
require "wecom"

# In a Rails app this is `class InterviewReminderJob < ApplicationJob` (see the README).
class InterviewReminderJob
  def perform(interviewer:, starts_at:)
    WeCom::Client.new.send_text("Your interview starts at #{starts_at}. Good luck!", to: interviewer,
                                                                                   duplicate_check: 600)
  end
end

real = %w[WECOM_CORP_ID WECOM_SECRET WECOM_AGENT_ID].all? { |name| ENV[name].to_s != "" }
recipient = ENV.fetch("WECOM_DEMO_TO", "zhangsan")

if real
  puts "Sending to WeCom (#{ENV.fetch('WECOM_BASE_URL', 'https://qyapi.weixin.qq.com')}) as agent #{ENV['WECOM_AGENT_ID']}"
  result = InterviewReminderJob.new.perform(interviewer: recipient, starts_at: "15:00")
  puts "Delivered: msgid #{result.msgid}"
  puts "WeCom could not reach: #{result.invalid_users.join(', ')}" unless result.all_delivered?
else
  WeCom::Emulator.run(corp_id: "demo-corp", secret: "demo-secret", agent_id: 1_000_002) do |emulator|
    puts "No WECOM_* credentials set: using the built-in WeCom emulator at #{emulator.base_url}"
    WeCom.configure do |c|
      c.corp_id = emulator.corp_id
      c.secret = emulator.secret
      c.agent_id = emulator.agent_id
      c.base_url = emulator.base_url
    end
    result = InterviewReminderJob.new.perform(interviewer: recipient, starts_at: "15:00")
    puts "Delivered: msgid #{result.msgid}"
    received = emulator.messages.last
    puts "The emulator received (#{emulator.token_requests} token request, #{emulator.messages.size} message):"
    puts JSON.pretty_generate(received)
  end
end
