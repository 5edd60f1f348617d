# frozen_string_literal: true

require "open3"

# `require "wecom"` loads what a send needs and nothing more: a job process that only sends pays
# for no URI, ERB or JSON parser, no token stores, robots, callbacks, sign-in, emulator or test
# mode. Each part loads when first used. Checked in a fresh Ruby, which sends through the emulator.
RSpec.describe 'require "wecom"' do
  lib = File.expand_path("../lib", __dir__)
  # Features a send must not need: stdlib parts that are slow to load, and wecom's own parts
  # that load on first use.
  not_for_a_send = %r{/(uri|erb|json|net/http|yaml|openssl)\.rb\z|
                      /wecom/(token_store|media|chat|webhook|testing|emulator|callback|sign_in|
                              delivery|delivery_job|railtie|log_subscriber|cli|js_sdk/endpoint|
                              js_sdk/helper)\.rb\z}x

  define_method(:run_ruby) do |script, *args|
    out, status = Open3.capture2e(RbConfig.ruby, "-I", lib, "-e", script, *args.map(&:to_s))
    expect(status).to be_success, out
    out.lines(chomp: true).to_h { |line| line.split(": ", 2) }
  end

  it "loads what a send needs, and the send loads nothing more" do
    script = <<~RUBY
      require "wecom"
      loaded = $LOADED_FEATURES.dup
      client = WeCom::Client.new(corp_id: ARGV[1], secret: ARGV[2], agent_id: 1000002, base_url: ARGV[0])
      puts "msgid: " + client.send_text("Interview at 15:00", to: "zhangsan").msgid
      puts "loaded: " + loaded.join(" ")
      puts "by the send: " + ($LOADED_FEATURES - loaded).join(" ")
    RUBY
    out = run_ruby(script, emulator.base_url, credentials[:corp_id], credentials[:secret])

    expect(out.fetch("msgid")).not_to be_empty
    expect(emulator.messages.map { |m| [m["touser"], m.dig("text", "content")] }).to eq([["zhangsan", "Interview at 15:00"]])
    loaded = out.fetch("loaded").split
    expect(loaded).to include(File.join(lib, "wecom", "client.rb"))
    expect(loaded.grep(not_for_a_send)).to eq([])
    expect(out.fetch("by the send").split).to eq([])
  end

  it "loads each part when it is first used" do
    script = <<~RUBY
      require "wecom"
      { "WeCom::JsSdk::Endpoint" => "uri", "WeCom::JsSdk::Helper" => "erb", "WeCom::TokenStore" => "wecom/token_store",
        "WeCom::Callback" => "wecom/callback", "WeCom::Testing" => "wecom/testing", "WeCom::Media" => "wecom/media",
        "WeCom::Webhook" => "wecom/webhook", "WeCom::Chat" => "wecom/chat" }.each do |constant, feature|
        before = $LOADED_FEATURES.any? { |f| f.end_with?("/\#{feature}.rb") }
        Object.const_get(constant)
        after = $LOADED_FEATURES.any? { |f| f.end_with?("/\#{feature}.rb") }
        puts "\#{constant}: \#{before} \#{after}"
      end
    RUBY
    # Media before Webhook: a robot's uploads load Media with it.
    out = run_ruby(script)

    expect(out).to eq(
      "WeCom::JsSdk::Endpoint" => "false true", "WeCom::JsSdk::Helper" => "false true",
      "WeCom::TokenStore" => "false true", "WeCom::Callback" => "false true", "WeCom::Testing" => "false true",
      "WeCom::Webhook" => "false true", "WeCom::Media" => "false true", "WeCom::Chat" => "false true"
    )
  end
end
