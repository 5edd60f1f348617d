# frozen_string_literal: true

require "base64"
require "digest/md5"

# WeCom::Webhook (group robots) against the emulator's /cgi-bin/webhook/* endpoints.
RSpec.describe WeCom::Webhook do
  let(:key) { "robot-#{SecureRandom.hex(8)}" }
  let(:robots) { start_emulator(**credentials, robots: [key]) }
  let(:robot) { described_class.new(key: key, base_url: robots.base_url, retry_base_delay: 0.01) }

  def png(size = 1000)
    "\x89PNG\r\n\x1A\n".b + Random.new(size).bytes(size - 8)
  end

  def received
    robots.robot_messages.map { |message| message.except("key") }
  end

  it "sends text with mentions, and markdown" do
    expect(robot.send_text("Deploy done", mention: ["@all", "zhangsan"], mention_mobiles: ["13800000000"])).to be(true)
    expect(robot.send_markdown("**3** interviews today")).to be(true)
    expect(received).to eq([
                             { "msgtype" => "text",
                               "text" => { "content" => "Deploy done", "mentioned_list" => ["@all", "zhangsan"],
                                           "mentioned_mobile_list" => ["13800000000"] } },
                             { "msgtype" => "markdown", "markdown" => { "content" => "**3** interviews today" } }
                           ])
    expect(robots.robot_messages.map { |m| m["key"] }).to eq([key, key])
  end

  it "takes the whole webhook URL as the key" do
    url = robots.robot_url(key)
    described_class.new(key: url).send_text("via URL")
    expect(received.last["text"]["content"]).to eq("via URL")
  end

  it "sends an image as base64 with the md5 of its raw bytes" do
    bytes = png(5000)
    robot.send_image(tmp_file("chart.png", bytes))
    image = received.last.fetch("image")
    expect(Base64.strict_decode64(image["base64"])).to eq(bytes)
    expect(image["md5"]).to eq(Digest::MD5.hexdigest(bytes))
  end

  it "uploads a file for a file message, and sends news and template cards" do
    report = tmp_file("report.pdf", "%PDF-1.4 #{'x' * 500}")
    robot.send_file(report)
    upload = robots.uploads.last
    expect(upload).to include(type: "file", filename: "report.pdf", size: File.size(report))
    expect(received.last).to eq("msgtype" => "file", "file" => { "media_id" => upload[:media_id] })

    robot.send_news([{ title: "Schedule", url: "https://hr.example.com/s" }])
    robot.send_template_card({ card_type: "text_notice", main_title: { title: "Interview" },
                               card_action: { type: 1, url: "https://hr.example.com" } })
    expect(received.last(2).map { |m| m["msgtype"] }).to eq(%w[news template_card])
  end

  it "checks WeCom's limits before sending" do
    expect { robot.send_markdown("x" * 4097) }.to raise_error(ArgumentError, /4097 bytes; WeCom allows at most 4096/)
    expect { robot.send_text("x" * 2049) }.to raise_error(ArgumentError, /at most 2048 bytes/)
    expect { robot.send_image(tmp_file("big.png", png((2 * 1024 * 1024) + 1))) }
      .to raise_error(ArgumentError, /at most 2 MB/)
    expect { robot.send_image(tmp_file("chart.gif", "GIF89a#{'x' * 100}")) }.to raise_error(ArgumentError, /jpg, jpeg, png/)
    expect { robot.send_text("hi", mention_mobiles: ["call me"]) }.to raise_error(ArgumentError, /not a phone number/)
    expect { robot.send_file(tmp_file("tiny.txt", "12345")) }.to raise_error(ArgumentError, /more than 5 bytes/)
    expect(robots.requests).to be_empty
  end

  it "answers an unknown key with an APIError, errcode 93000" do
    stranger = described_class.new(key: "not-#{key}", base_url: robots.base_url)
    expect { stranger.send_text("hi") }.to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(93_000) }
  end

  it "never shows the key: not in #inspect, errors or logs" do
    expect(robot.inspect).not_to include(key)
    robots.fail_next(-1, times: 10)
    error = nil
    begin
      robot.send_text("hi")
    rescue WeCom::Error => e
      error = e
    end
    expect(error).to be_a(WeCom::APIError)
    expect([error.message, error.path, error.inspect].join).not_to include(key)
  end

  context "with the per-minute limit" do
    let(:robots) { start_emulator(**credentials, robots: [key], robot_limit_per_minute: 100) }

    it "sends 20 a minute, then raises RateLimitError with retry_after when told not to wait" do
      fast = described_class.new(key: key, base_url: robots.base_url, wait: false)
      20.times { |i| fast.send_text("message #{i}") }
      error, seconds = raised_and_seconds(WeCom::RateLimitError) { fast.send_text("21st") }
      expect(error).to be_retryable
      expect(error.retry_after).to be_between(55, 60)
      expect(seconds).to be < 0.5
      expect(received.size).to eq(20) # the 21st never left

      # Another robot object with the same key shares the window; waiting is bounded by the timeout.
      patient = described_class.new(key: key, base_url: robots.base_url, timeout: 0.3)
      error, seconds = raised_and_seconds(WeCom::RateLimitError) { patient.send_text("still 21st") }
      expect(error.retry_after).to be > 50
      expect(seconds).to be < 0.5 # no slot within 0.3 s: it says so at once rather than wait in vain

      # wait: false for one call of a robot that otherwise waits.
      error, seconds = raised_and_seconds(WeCom::RateLimitError) do
        described_class.new(key: key, base_url: robots.base_url, timeout: 70).send_markdown("**x**", wait: false)
      end
      expect(error.retry_after).to be > 50
      expect(seconds).to be < 0.5
    end
  end

  it "waits for a slot with the GVL released, and the wait can be interrupted" do
    patient = described_class.new(key: key, base_url: robots.base_url, timeout: 70)
    20.times { |i| patient.send_text("message #{i}") }
    ticks = 0
    ticker = Thread.new { loop { ticks += 1; sleep 0.01 } }
    error, seconds = raised_and_seconds(Timeout::Error) { Timeout.timeout(0.5) { patient.send_text("21st") } }
    ticker.kill
    expect(error).to be_a(Timeout::Error)
    expect(seconds).to be_between(0.45, 1.5)
    expect(ticks).to be > 20 # other threads ran while it waited
    expect(received.size).to eq(20)
  end

  it "maps WeCom's own 45009 to RateLimitError" do
    limited = start_emulator(**credentials, robots: [key], robot_limit_per_minute: 2)
    fast = described_class.new(key: key, base_url: limited.base_url)
    2.times { fast.send_text("ok") }
    expect { fast.send_text("third") }.to raise_error(WeCom::RateLimitError) { |e| expect(e.errcode).to eq(45_009) }
  end

  it "is recorded, not sent, in test mode, and the matcher finds it" do
    WeCom.delivery_method = :test
    WeCom::Testing.clear!
    ops = described_class.new(key: nil, name: "ops")
    ops.send_text("Deploy done", mention: ["zhangsan"])
    ops.send_file("report bytes", filename: "report.txt")
    expect(WeCom::Testing.matching(robot: "ops", type: :text, to: "zhangsan", content: "Deploy").size).to eq(1)
    expect(WeCom::Testing.uploads.map(&:filename)).to eq(["report.txt"])
    expect(WeCom::Testing.describe(WeCom::Testing.deliveries)).to include('text by robot ops mentioning zhangsan: "Deploy done"')
  ensure
    WeCom.delivery_method = :live
    WeCom::Testing.clear!
  end

  it "checks its settings like a Client, naming the one that is wrong" do
    expect { described_class.new(key: key, timeout: "soon") }
      .to raise_error(ArgumentError, /timeout must be a positive number of seconds, got "soon"/)
    expect { described_class.new(key: key, max_retries: -1) }.to raise_error(ArgumentError, /max_retries must be an integer/)
  end

  it "refuses durations over a day, naming the setting and the limit" do
    limit = WeCom::Native::MAX_SECONDS.to_i
    %i[timeout open_timeout retry_base_delay].each do |name|
      [1e19, Float::INFINITY, Float::NAN, 0, "abc"].each do |value|
        expect { described_class.new(key: key, name => value) }
          .to raise_error(ArgumentError, /\A#{name} must be a positive number of seconds, got #{Regexp.escape(value.inspect)} \(at most #{limit}, a day\)\z/)
      end
      WeCom.configure { |c| c.public_send(:"#{name}=", 1e19) }
      expect { described_class.new(key: key) }
        .to raise_error(WeCom::ConfigurationError, /\AWeCom #{name} must be a positive number of seconds, got 1.0e\+19 \(at most #{limit}/)
      WeCom.reset_configuration!
    end
  end

  it "refuses any object where a String or list belongs, naming the field" do
    broken = Object.new
    def broken.to_s = raise("to_s failed")
    def broken.inspect = raise("inspect failed")
    [BasicObject.new, broken].each do |value|
      {
        /\Akey must be a String, got (Basic)?Object/ => -> { described_class.new(key: value) },
        /\Aname must be a String, got (Basic)?Object/ => -> { described_class.new(key: key, name: value) },
        /\Abase_url must be a String, got (Basic)?Object/ => -> { described_class.new(key: key, base_url: value) },
        /\Acontent must be a String/ => -> { robot.send_text(value) },
        /\Amention must be a String/ => -> { robot.send_text("hi", mention: ["a", value]) },
        /\Amention must be an Array/ => -> { robot.send_text("hi", mention: value) },
        /\Amention_mobiles must be a String/ => -> { robot.send_text("hi", mention_mobiles: [value]) },
        /\Acontent must be a String, got/ => -> { robot.send_markdown(value) },
        /\Aarticles\[0\] must be a Hash/ => -> { robot.send_news([value]) },
        /\Acard must be a Hash/ => -> { robot.send_template_card(value) },
        /\Amedia_id must be a String/ => -> { robot.send_file(value) },
        /\Aa file must be a path/ => -> { robot.upload_media(value) }
      }.each { |message, call| expect(&call).to raise_error(ArgumentError, message) }
    end
    expect(robots.requests).to be_empty
  end

  it "converts mentions in other encodings to UTF-8 and refuses invalid bytes, naming the field" do
    robot.send_text("hi", mention: ["zhangsan".encode("UTF-16LE")], mention_mobiles: ["13800000000".encode("UTF-16LE")])
    expect(received.last["text"]).to include("mentioned_list" => ["zhangsan"], "mentioned_mobile_list" => ["13800000000"])
    expect { robot.send_text("hi", mention: ["\xff".b]) }.to raise_error(ArgumentError, /\Amention is not valid UTF-8/)
    expect { robot.send_text("hi", mention_mobiles: ["\xff".b]) }
      .to raise_error(ArgumentError, /\Amention_mobiles is not valid UTF-8/)
  end

  it "refuses a base_url or webhook URL with user info, a query or a fragment, never showing the user info" do
    ["https://robot:pa55word@gw.example.com", "https://gw.example.com/wecom?via=proxy", "https://gw.example.com#top"]
      .each do |url|
        expect { described_class.new(key: key, base_url: url) }.to raise_error(ArgumentError) { |error|
          expect(error.message).to start_with("base_url takes a scheme, host, port and optional path only")
          expect(error.message).to include("a proxy is not configured through base_url")
          expect(error.message).not_to include("pa55word", "robot:")
        }
      end
    expect { described_class.new(key: "https://robot:pa55word@gw.example.com/cgi-bin/webhook/send?key=#{key}") }
      .to raise_error(ArgumentError, /\Abase_url takes a scheme, host, port and optional path only/) { |error|
        expect(error.message).not_to include("pa55word")
      }
    WeCom.configure { |c| c.base_url = "https://robot:pa55word@gw.example.com" }
    expect { described_class.new(key: key) }
      .to raise_error(WeCom::ConfigurationError, /\AWeCom base_url takes a scheme/) { |error|
        expect(error.message).not_to include("pa55word")
      }
  end

  it "needs a key outside test mode" do
    expect { described_class.new(key: nil) }.to raise_error(WeCom::ConfigurationError, /key is missing/)
  end
end
