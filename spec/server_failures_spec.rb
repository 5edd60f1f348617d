# frozen_string_literal: true

# What servers, proxies and gateways do in production that the emulator does not: close idle
# connections, answer 200 with something that is not WeCom's JSON, echo the URL in errmsg.
# Each server here is PlainServer (spec/support/plain_server.rb), plain Ruby on 127.0.0.1.
RSpec.describe "Server failures" do
  let(:servers) { [] }
  after { servers.each(&:stop) }

  def plain_server(**options, &handler)
    PlainServer.start(**options, &handler).tap { |server| servers << server }
  end

  def client_of(server, **settings)
    WeCom::Client.new(**credentials, base_url: server.base_url, max_retries: 0, **settings)
  end

  describe "idle keep-alive connections the server closed" do
    it "are never reused: every send after an idle pause arrives once, and none is called unknown" do
      server = plain_server(idle_close: 0.3)
      client = client_of(server, idle_timeout: 60)
      4.times do
        expect(client.send_text("x", to: "u").msgid).to start_with("msg-")
        sleep 0.5
      end
      expect(server.requests_to("/cgi-bin/message/send")).to eq(4)
      expect(server.connections).to be >= 4
    end

    it "lose no message of a 16-wide batch after the pool sat idle" do
      server = plain_server(idle_close: 0.5)
      client = client_of(server, idle_timeout: 60)
      batch = Array.new(16) { |i| { type: :text, content: "m#{i}", to: "u" } }
      expect(client.send_batch(batch, concurrency: 16)).to all(be_a(WeCom::Result))
      sleep 1
      expect(client.send_batch(batch, concurrency: 16)).to all(be_a(WeCom::Result))
      expect(server.requests_to("/cgi-bin/message/send")).to eq(32)
    end

    it "are not kept longer than idle_timeout (default 4 s)" do
      server = plain_server
      patient = client_of(server, idle_timeout: 60)
      2.times { patient.send_text("x", to: "u") }
      expect(server.connections).to eq(1)

      # The thread's pool is shared: the first send reuses the connection, the second opens one.
      brief = client_of(server, idle_timeout: 0.2)
      brief.send_text("x", to: "u")
      sleep 0.3
      brief.send_text("x", to: "u")
      expect(server.connections).to eq(2)
      expect(WeCom::Configuration::DEFAULTS[:idle_timeout]).to eq(4)
    end
  end

  describe "a 200 that is not WeCom's answer" do
    def gateway(send_answer, content_type: "application/json")
      plain_server(content_type: content_type) do |request|
        if request.path.end_with?("/gettoken")
          [200, { "errcode" => 0, "errmsg" => "ok", "access_token" => "t-#{SecureRandom.hex(8)}", "expires_in" => 7200 }]
        else
          [200, send_answer]
        end
      end
    end

    ["{}", "null", "[]", '{"oops":true}', '{"errcode":"0","msgid":"m"}', '{"errcode":0.0,"msgid":"m"}'].each do |body|
      it "is a NetworkError naming what came back (#{body})" do
        client = client_of(gateway(body))
        expect { client.send_text("x", to: "u") }.to raise_error(WeCom::NetworkError) { |e|
          expect(e.message).to include("not WeCom's (no integer errcode)").and include(body.inspect)
          expect(e.delivery_unknown?).to be(true) # the message request was written
          expect(e.path).to eq("/cgi-bin/message/send")
        }
      end
    end

    it "is a NetworkError for an HTML page, with its first bytes" do
      client = client_of(gateway("<html><body>Please log in to the Wi-Fi</body></html>", content_type: "text/html"))
      expect { client.send_text("x", to: "u") }.to raise_error(WeCom::NetworkError, /not JSON \(52 bytes: "<html><body>Please log in/)
    end

    it "from gettoken never makes a send 'delivery unknown': no message request was made" do
      server = plain_server(content_type: "text/html") { [200, "<html>gateway</html>"] }
      expect { client_of(server).send_text("x", to: "u") }.to raise_error(WeCom::NetworkError) { |e|
        expect(e.path).to eq("/cgi-bin/gettoken")
        expect(e.delivery_unknown?).to be(false)
        expect(e.message).not_to include("delivery is unknown")
      }
      expect(server.requests_to("/cgi-bin/message/send")).to eq(0)
    end

    it "from gettoken without a token is a NetworkError, not a wecom bug" do
      server = plain_server { [200, { "errcode" => 0, "errmsg" => "ok" }] }
      expect { client_of(server).access_token }.to raise_error(WeCom::NetworkError, /errcode 0 but no access_token/) { |e|
        expect(e.delivery_unknown?).to be(false)
      }
    end
  end

  describe "an errmsg that echoes the request URL" do
    it "never carries the secret or the token into the error" do
      secret = credentials[:secret]
      echo = plain_server do |request|
        [200, { "errcode" => 40_013, "errmsg" => "invalid corpid, hint: url #{request.path}?#{request.query}" }]
      end
      expect { client_of(echo).send_text("x", to: "u") }.to raise_error(WeCom::AuthenticationError) { |e|
        expect(e.message).to include("corpsecret=[REDACTED]")
        expect([e.message, e.errmsg, e.inspect]).to all(satisfy { |text| !text.include?(secret) })
      }

      token = nil
      echo_token = plain_server do |request|
        if request.path.end_with?("/gettoken")
          token = "tok-#{SecureRandom.hex(16)}"
          [200, { "errcode" => 0, "errmsg" => "ok", "access_token" => token, "expires_in" => 7200 }]
        else
          [200, { "errcode" => 40_003, "errmsg" => "invalid userid, request #{request.path}?#{request.query}" }]
        end
      end
      expect { client_of(echo_token).send_text("x", to: "u") }.to raise_error(WeCom::APIError) { |e|
        expect(e.errmsg).to include("access_token=[REDACTED]")
        expect([e.message, e.errmsg]).to all(satisfy { |text| !text.include?(token) })
      }
    end
  end
end
