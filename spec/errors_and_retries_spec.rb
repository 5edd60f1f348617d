# frozen_string_literal: true

RSpec.describe "Errors and retries" do
  def send_attempts(emu = emulator)
    emu.requests.count { |r| r[:path] == "/cgi-bin/message/send" }
  end

  before { client.access_token } # so only message/send is counted below

  describe "the error classes" do
    it "form one hierarchy under WeCom::Error < StandardError" do
      expect(WeCom::Error.ancestors).to include(StandardError)
      expect(WeCom::AuthenticationError.superclass).to eq(WeCom::APIError)
      expect(WeCom::RateLimitError.superclass).to eq(WeCom::APIError)
      expect(WeCom::APIError.superclass).to eq(WeCom::Error)
      expect(WeCom::TimeoutError.superclass).to eq(WeCom::NetworkError)
      expect(WeCom::ConfigurationError.superclass).to eq(WeCom::Error)
    end
  end

  describe "failures a retry can fix" do
    it "retries -1 (system busy) with backoff" do
      emulator.fail_next(-1, times: 2)
      expect(client.send_text("x", to: "u").msgid).to be_a(String)
      expect(send_attempts).to eq(3)
    end

    it "retries 45033 (too many concurrent calls)" do
      emulator.fail_next(45_033)
      expect(client.send_text("x", to: "u").msgid).to be_a(String)
      expect(send_attempts).to eq(2)
    end

    it "retries HTTP 5xx from a gateway" do
      emulator.fail_next_http(502, times: 2)
      expect(client.send_text("x", to: "u").msgid).to be_a(String)
      expect(send_attempts).to eq(3)
    end

    it "retries HTTP 429" do
      emulator.fail_next_http(429)
      expect(client.send_text("x", to: "u").msgid).to be_a(String)
      expect(send_attempts).to eq(2)
    end

    it "gives up after max_retries and raises a retryable error" do
      emulator.fail_next(-1, times: 10)
      expect { client.send_text("x", to: "u") }.to raise_error(WeCom::APIError) { |e|
        expect(e.errcode).to eq(-1)
        expect(e.retryable?).to be(true)
      }
      expect(send_attempts).to eq(4)
    end

    it "honours max_retries: 0" do
      emulator.fail_next_http(503, times: 2)
      c = emulator.client(max_retries: 0)
      expect { c.send_text("x", to: "u") }.to raise_error(WeCom::NetworkError) { |e|
        expect(e.status).to eq(503)
        expect(e.message).to include("HTTP 503")
        expect(e.retryable?).to be(true)
      }
      expect(send_attempts).to eq(1)
    end

    it "backs off exponentially between attempts" do
      emulator.fail_next(-1, times: 3)
      c = emulator.client(retry_base_delay: 0.1)
      # Delays of 0.1, 0.2 and 0.4 s, each with jitter between half and all of it.
      expect(elapsed { c.send_text("x", to: "u") }).to be_between(0.35, 1.5)
    end

    it "retries a connection that cannot have reached WeCom (refused)" do
      port = free_port
      c = WeCom::Client.new(**credentials, base_url: "http://127.0.0.1:#{port}", retry_base_delay: 0.05,
                                           max_retries: 2)
      error, took = raised_and_seconds(WeCom::NetworkError) do
        c.send_text("x", to: "u")
      end
      expect(error).to be_a(WeCom::NetworkError)
      expect(error.delivery_unknown?).to be(false)
      expect(error.retryable?).to be(true)
      expect(took).to be >= 0.075 # two backoffs happened
    end
  end

  describe "the frequency limit (45009)" do
    it "raises RateLimitError at once with retry_after instead of blocking" do
      emulator.fail_next(45_009, times: 5)
      error, took = raised_and_seconds(WeCom::RateLimitError) do
        client.send_text("x", to: "u")
      end
      expect(error.retry_after).to eq(60)
      expect(error.errcode).to eq(45_009)
      expect(error.retryable?).to be(true)
      expect(took).to be < 1
      expect(send_attempts).to eq(1)
    end
  end

  describe "failures that are the caller's" do
    it "raises APIError with errcode, errmsg and path, without retrying" do
      emulator.fail_next(40_003)
      expect { client.send_text("x", to: "u") }.to raise_error(WeCom::APIError) { |e|
        expect(e).not_to be_a(WeCom::AuthenticationError)
        expect(e.errcode).to eq(40_003)
        expect(e.errmsg).to be_a(String).and(satisfy { |m| !m.empty? })
        expect(e.path).to eq("/cgi-bin/message/send")
        expect(e.message).to include("40003").and include(e.errmsg)
        expect(e.retryable?).to be(false)
      }
      expect(send_attempts).to eq(1)
    end

    it "says an untrusted IP (60020) is fixed in the app's trusted IPs or with the proxy setting" do
      emulator.fail_next(60_020)
      expect { client.send_text("x", to: "u") }.to raise_error(WeCom::AuthenticationError) { |e|
        expect(e.errcode).to eq(60_020)
        expect(e.errmsg).to include("not allow to access from your ip")
        expect(e.message).to include("not among the app's trusted IPs", "the proxy setting")
        expect(e.retryable?).to be(false)
      }
      expect(send_attempts).to eq(1)
    end
  end

  describe "ambiguous failures (the request may have been delivered)" do
    it "raises a retryable NetworkError saying delivery is unknown when the connection drops" do
      emulator.drop_next
      expect { client.send_text("x", to: "u") }.to raise_error(WeCom::NetworkError) { |e|
        expect(e.delivery_unknown?).to be(true)
        expect(e.retryable?).to be(true)
        expect(e.message).to include("delivery is unknown")
      }
      expect(send_attempts).to eq(1)
    end

    it "retries a dropped connection when duplicate_check is on" do
      emulator.drop_next
      expect(client.send_text("x", to: "u", duplicate_check: true).msgid).to be_a(String)
      expect(send_attempts).to eq(2)
      expect(emulator.messages.size).to eq(1)
    end

    it "raises TimeoutError after timeout seconds, without retrying" do
      emulator.latency = 1.0
      c = emulator.client(timeout: 0.3, retry_base_delay: 0.01)
      error, took = raised_and_seconds(WeCom::TimeoutError) do
        c.send_text("x", to: "u")
      end
      expect(error).to be_a(WeCom::TimeoutError)
      expect(error.delivery_unknown?).to be(true)
      expect(error.message).to include("timed out after 0.300s").and include("delivery is unknown")
      expect(took).to be_between(0.25, 0.9)
      expect(send_attempts).to eq(1)
    end

    it "does not call a gettoken timeout a delivery problem" do
      emu = start_emulator(**credentials, corp_id: "cold-#{credentials[:corp_id]}") # no cached token
      emu.latency = 1.0
      c = emu.client(timeout: 0.2, max_retries: 0)
      expect { c.access_token }.to raise_error(WeCom::TimeoutError) { |e|
        expect(e.delivery_unknown?).to be(false)
        expect(e.message).not_to include("delivery")
        expect(e.path).to eq("/cgi-bin/gettoken")
      }
    end

    it "retries a timeout when duplicate_check is on, and WeCom keeps one copy" do
      emulator.latency = 0.5
      c = emulator.client(timeout: 0.2, max_retries: 1, retry_base_delay: 0.01)
      expect { c.send_text("x", to: "u", duplicate_check: 60) }.to raise_error(WeCom::TimeoutError)
      expect(send_attempts).to eq(2)
      sleep 0.4 # let the emulator finish the slow requests
      expect(emulator.messages.size).to eq(1)
    end
  end

  describe "secrets" do
    it "never appear in an error message, inspect or backtrace" do
      token = client.access_token
      errors = []
      [[:fail_next, 40_003], [:fail_next, 45_009], [:fail_next_http, 502], [:drop_next]].each do |fault, arg|
        emulator.public_send(fault, *arg, **(fault == :drop_next ? {} : { times: 5 }))
        begin
          client.send_text("x", to: "u")
        rescue WeCom::Error => e
          errors << e
        end
      end
      begin
        emulator.client(secret: "wrong-#{credentials[:secret]}").send_text("x", to: "u")
      rescue WeCom::Error => e
        errors << e
      end
      expect(errors.size).to eq(5)
      errors.each do |e|
        text = [e.message, e.inspect, e.errmsg.to_s, e.full_message].join("\n")
        expect(text).not_to include(credentials[:secret])
        expect(text).not_to include(token)
      end
    end
  end
end
