# frozen_string_literal: true

require "open3"

# The emulator keeps a bounded window of what it received, so one left running for days (or a
# soak, or a long benchmark) stays small: the newest max_records of each kind, and counts of all.
RSpec.describe "The emulator's bounded records" do
  it "keeps the newest max_records of each kind and counts every one" do
    emu = start_emulator(**credentials, max_records: 3)
    client = emu.client
    msgids = (1..5).map { |i| client.send_text("message #{i}", to: "zhangsan").msgid }
    robot = WeCom::Webhook.new(key: emu.robot_url("k"))
    (1..4).each { |i| robot.send_text("robot #{i}") }

    expect(emu.max_records).to eq(3)
    expect(emu.messages.map { |m| m["text"]["content"] }).to eq(["message 3", "message 4", "message 5"])
    expect(emu.robot_messages.map { |m| m["text"]["content"] }).to eq(["robot 2", "robot 3", "robot 4"])
    expect(emu.requests.size).to eq(3)
    expect(emu.requests.last[:path]).to eq("/cgi-bin/webhook/send")
    expect(emu.counts).to include(messages: 5, robot_messages: 4, requests: 1 + 5 + 4, uploads: 0)

    # Who sent a message is kept for the same window: the newest can be recalled, the oldest
    # is as unknown as one WeCom no longer lets anyone recall.
    expect(client.recall(msgids.last)).to be(true)
    expect { client.recall(msgids.first) }.to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(40058) }
    expect(emu.counts[:recalled]).to eq(1)
  end

  it "forgets a robot's upload with its record, so its media_id stops being usable" do
    emu = start_emulator(**credentials, max_records: 1)
    robot = WeCom::Webhook.new(key: emu.robot_url("k"))
    first = robot.upload_media(StringIO.new("first file"), filename: "a.txt")
    second = robot.upload_media(StringIO.new("second file"), filename: "b.txt")
    expect(emu.uploads.map { |u| u[:media_id] }).to eq([second])
    expect(robot.send_file(second)).to be(true)
    expect { robot.send_file(first) }.to raise_error(WeCom::APIError)
  end

  it "follows what arrived with received_since, missing nothing past the window" do
    emu = start_emulator(**credentials, max_records: 2)
    client = emu.client
    client.send_text("one", to: "zhangsan")
    first = emu.received_since({})
    expect(first[:messages].map { |m| m["text"]["content"] }).to eq(["one"])
    expect(first[:counts][:messages]).to eq(1)

    %w[two three four].each { |text| client.send_text(text, to: "zhangsan") }
    later = emu.received_since(first[:counts])
    # Three arrived, two are kept: the poller gets those two and counts that say three.
    expect(later[:messages].map { |m| m["text"]["content"] }).to eq(%w[three four])
    expect(later[:counts][:messages]).to eq(4)
    expect(emu.received_since(later[:counts])[:messages]).to eq([])

    emu.clear!
    client.send_text("after clear", to: "zhangsan")
    expect(emu.received_since(later[:counts])[:messages].map { |m| m["text"]["content"] }).to eq(["after clear"])
  end

  it "resets the counts on clear!, callback attempts included" do
    emu = start_emulator(**credentials)
    emu.client.send_text("hi", to: "zhangsan")
    emu.clear!
    expect(emu.counts.values.uniq).to eq([0])
    expect(emu.counts.keys).to contain_exactly(:requests, :messages, :uploads, :robot_messages, :chat_messages,
                                               :card_updates, :recalled, :callback_attempts)
  end

  it "keeps 0 records when asked (counts only), and refuses a bad max_records naming it" do
    emu = start_emulator(**credentials, max_records: 0)
    emu.client.send_text("counted, not kept", to: "zhangsan")
    expect([emu.messages, emu.counts[:messages]]).to eq([[], 1])

    [-1, 1.5, "10", WeCom::Emulator::MAX_RECORDS_LIMIT + 1].each do |bad|
      expect { WeCom::Emulator.start(max_records: bad) }
        .to raise_error(ArgumentError, /max_records must be an Integer from 0 to 1000000, got /)
    end
    expect { emu.received_since(messages: -1) }.to raise_error(ArgumentError, /seen\[:messages\] must be an Integer count/)
  end

  it "stays the same size over many sends (a bounded window, not a growing log)" do
    emu = start_emulator(**credentials, max_records: 100)
    client = emu.client
    2_000.times { |i| client.send_text("soak #{i}", to: "zhangsan") }
    expect(emu.messages.size).to eq(100)
    expect(emu.requests.size).to eq(100)
    expect(emu.messages.last["text"]["content"]).to eq("soak 1999")
    expect(emu.counts[:messages]).to eq(2_000)
  end
end
