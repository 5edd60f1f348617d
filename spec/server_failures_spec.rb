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
end
