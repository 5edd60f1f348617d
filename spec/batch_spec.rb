# frozen_string_literal: true

RSpec.describe "WeCom::Client#send_batch" do
  def rss_kb
    File.read("/proc/self/status")[/^VmRSS:\s+(\d+)/, 1].to_i
  end

  it "returns one result per message, in input order" do
    emu = start_emulator(**credentials, users: %w[alice])
    batch = Array.new(30) { |i| { type: :text, content: "m#{i}", to: ["alice", "ghost#{i}"] } }
    emu.latency = 0.01
    results = emu.client.send_batch(batch, concurrency: 8)
    expect(results.map(&:invalid_users)).to eq(Array.new(30) { |i| ["ghost#{i}"] })
    expect(results.map(&:msgid).uniq.size).to eq(30)
  end

  it "reports each failure in its place without stopping the others" do
    emu = start_emulator(**credentials, users: %w[alice])
    batch = [{ type: :text, content: "ok", to: "alice" }, { type: :text, content: "lost", to: "nobody" },
             { type: :markdown, content: "**ok**", to: "alice" }]
    first, failed, last = emu.client.send_batch(batch)
    expect(first).to be_a(WeCom::Result)
    expect(failed).to be_a(WeCom::APIError).and(have_attributes(errcode: 81_013, retryable?: false))
    expect(last).to be_a(WeCom::Result)
    expect(emu.messages.map { |m| m["msgtype"] }).to match_array(%w[text markdown]) # sent concurrently
  end

  it "keeps at most `concurrency` requests in flight, and really overlaps them" do
    client.access_token
    emulator.latency = 0.05
    batch = Array.new(64) { |i| { type: :text, content: "m#{i}", to: "u" } }
    took = elapsed { client.send_batch(batch, concurrency: 8) }
    expect(emulator.max_in_flight).to eq(8)
    expect(took).to be_between(0.35, 1.5) # 8 rounds of 50 ms, not 64
  end

  it "fetches the token once for the whole batch" do
    emulator.latency = 0.05
    client.send_batch(Array.new(32) { { type: :text, content: "x", to: "u" } }, concurrency: 32)
    expect(emulator.token_requests).to eq(1)
  end

  it "sends every message type" do
    batch = [
      { type: :text, content: "t", to: "u" },
      { type: :markdown, content: "**m**", to: "u" },
      { type: :textcard, title: "T", description: "D", url: "https://example.com", button_text: "Go", to: "u" },
      { type: :news, articles: [{ title: "N", url: "https://example.com" }], party: 2 },
      { type: :image, media_id: "MEDIA", tag: 3 },
      { type: :video, media_id: "MEDIA", title: "V", to: "u" },
      { type: :template_card, card: { card_type: "text_notice", main_title: { title: "C" } }, to: "u" },
      { "type" => "message", "msgtype" => "text", "body" => { "content" => "raw" }, "to" => "u", "safe" => true }
    ]
    results = client.send_batch(batch)
    expect(results).to all(be_a(WeCom::Result))
    expect(emulator.messages.map { |m| m["msgtype"] }).to match_array(
      %w[text markdown textcard news image video template_card text]
    )
    raw = emulator.messages.find { |m| m.dig("text", "content") == "raw" }
    expect(raw["safe"]).to eq(1)
    expect(emulator.messages.find { |m| m["msgtype"] == "textcard" }["textcard"]["btntxt"]).to eq("Go")
  end

  describe "bad input" do
    it "raises ArgumentError naming the index before anything is sent" do
      batch = [{ type: :text, content: "fine", to: "u" }, { type: :text, content: "x" * 2049, to: "u" }]
      expect { client.send_batch(batch) }.to raise_error(ArgumentError, /\Amessages\[1\]: content is 2049 bytes/)
      expect { client.send_batch([{ type: :text, content: "x" }]) }.to raise_error(ArgumentError, /messages\[0\]: no recipients/)
      expect { client.send_batch([{ type: :fax, content: "x", to: "u" }]) }.to raise_error(ArgumentError, /messages\[0\]: type must be/)
      expect { client.send_batch([{ content: "x", to: "u" }]) }.to raise_error(ArgumentError, /messages\[0\]: type is required/)
      expect { client.send_batch([{ type: :text, content: "x", to: "u", urgent: 1 }]) }.to raise_error(ArgumentError, /unknown :urgent/)
      expect { client.send_batch(["text"]) }.to raise_error(ArgumentError, /messages\[0\]: must be a Hash/)
      expect { client.send_batch([], concurrency: 0) }.to raise_error(ArgumentError, /concurrency/)
      expect(emulator.requests).to eq([])
    end
  end

  describe "failures a retry can fix" do
    it "retries -1 per message, as single sends do" do
      client.access_token
      emulator.fail_next(-1, times: 2)
      results = client.send_batch(Array.new(4) { |i| { type: :text, content: "m#{i}", to: "u" } }, concurrency: 1)
      expect(results).to all(be_a(WeCom::Result))
      expect(emulator.messages.size).to eq(4)
    end

    it "pauses the whole batch on 45009, then goes on instead of failing the rest" do
      client.access_token
      emulator.fail_next(45_009)
      batch = Array.new(6) { |i| { type: :text, content: "m#{i}", to: "u" } }
      results = nil
      took = elapsed { results = client.send_batch(batch, concurrency: 2, rate_limit_pause: 0.3) }
      expect(results).to all(be_a(WeCom::Result))
      expect(emulator.messages.size).to eq(6)
      expect(took).to be >= 0.3
    end

    it "gives a message RateLimitError when the limit outlasts its retries" do
      client.access_token
      emulator.fail_next(45_009, times: 10)
      c = emulator.client(max_retries: 1, retry_base_delay: 0.01)
      results = c.send_batch([{ type: :text, content: "x", to: "u" }], rate_limit_pause: 0.05)
      expect(results.first).to be_a(WeCom::RateLimitError).and(have_attributes(retry_after: 60))
    end
  end

  describe "as a good citizen" do
    it "releases the GVL while the batch waits" do
      client.access_token
      emulator.latency = 0.3
      batch = Thread.new { client.send_batch(Array.new(8) { { type: :text, content: "x", to: "u" } }) }
      count = 0
      count += 1 while batch.alive? && count < 50_000_000
      expect(batch.value).to all(be_a(WeCom::Result))
      expect(count).to be > 100_000
    end

    it "ends at once on Thread#kill and leaves the client usable" do
      client.access_token
      emulator.latency = 5
      thread = Thread.new { client.send_batch(Array.new(20) { { type: :text, content: "x", to: "u" } }, concurrency: 4) }
      sleep 0.01 until emulator.messages.size >= 4
      took = elapsed do
        thread.kill
        thread.join(3)
      end
      expect(took).to be < 0.1
      emulator.latency = 0
      expect(client.send_text("after", to: "u").msgid).to be_a(String)
      expect(emulator.messages.size).to eq(5) # the queued 16 were never sent
    end
  end

  # The emulator runs in a child process here, so this process's memory is the client's alone.
  it "stays bounded for 100,000 messages", :slow do
    creds = credentials # evaluated once, before the fork
    commands, child_in = IO.pipe
    child_out, replies = IO.pipe
    pid = fork do
      child_in.close
      child_out.close
      emu = WeCom::Emulator.start(**creds)
      replies.puts(emu.base_url)
      commands.gets
      replies.puts("#{emu.max_in_flight} #{emu.counts[:messages]}")
      exit!(0)
    end
    commands.close
    replies.close
    c = WeCom::Client.new(**creds, base_url: child_out.gets.chomp)
    c.access_token
    batch = Array.new(100_000) { |i| { type: :text, content: "reminder #{i}", to: "u" } }
    before = rss_kb
    results = c.send_batch(batch, concurrency: 32)
    grown = rss_kb - before
    child_in.puts("report")
    max_in_flight, received = child_out.gets.split.map(&:to_i)
    Process.wait(pid)

    expect(results.size).to eq(100_000)
    expect(results).to all(be_a(WeCom::Result))
    expect(received).to eq(100_000)
    expect(max_in_flight).to be <= 32
    # The input Hashes and the results are O(n) Ruby objects whatever the client does; per
    # message in flight state (a task, a connection, buffers) would add far more than this.
    expect(grown).to be < 300_000 # about 2 KB per message was measured
  end
end
