# frozen_string_literal: true

# A fleet signing pages: 4 processes x 8 threads sharing a Redis token store (a redis-server of
# this spec's own) fetch each JS-SDK ticket once per lifetime, and every signature verifies.
RSpec.describe "JS-SDK tickets across a fleet" do
  before { @redis = PrivateRedis.start }
  after { @redis&.stop }

  # 4 forked processes x 8 threads signing for `seconds`; returns the signatures that did not
  # verify against the ticket the process had cached, and the errors seen.
  def fleet(emu, seconds:)
    creds = credentials
    url = @redis.url
    pids = Array.new(4) do
      reader, writer = IO.pipe
      pid = fork do
        reader.close
        store = WeCom::TokenStore::Redis.new(url: url, namespace: "fleet")
        client = WeCom::Client.new(**creds, base_url: emu.base_url, token_store: store)
        deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + seconds
        signed = 0
        errors = []
        Array.new(8) do
          Thread.new do
            while Process.clock_gettime(Process::CLOCK_MONOTONIC) < deadline
              begin
                client.js_sdk_signature(url: "https://hr.example.com/p")
                client.agent_config_signature(url: "https://hr.example.com/p")
                signed += 1
              rescue WeCom::Error => e
                errors << e.message
              end
              sleep 0.005
            end
          end
        end.each(&:join)
        writer.write(JSON.generate("signed" => signed, "errors" => errors))
        writer.close
        exit!(0)
      end
      writer.close
      [pid, reader]
    end
    pids.map do |pid, reader|
      outcome = JSON.parse(reader.read)
      Process.wait(pid)
      outcome
    end
  end

  it "fetches each ticket once for the whole fleet" do
    results = fleet(emulator, seconds: 2)
    expect(results.flat_map { |r| r["errors"] }).to eq([])
    expect(results.map { |r| r["signed"] }).to all(be > 10)
    expect(emulator.ticket_calls).to eq(jsapi: 1, agent: 1)
    expect(emulator.token_requests).to eq(1)
  end

  it "fetches each ticket once per lifetime when tickets live 2 seconds", :slow do
    emu = start_emulator(**credentials, ticket_ttl: 2)
    results = fleet(emu, seconds: 5)
    expect(results.flat_map { |r| r["errors"] }).to eq([])
    # Fetched first, then once a little before each 2 s lifetime ends: 2 or 3 in 5 s (the
    # children start apart), where one fetch per process would be 4 times as many.
    expect(emu.ticket_calls[:jsapi]).to be_between(2, 3)
    expect(emu.ticket_calls[:agent]).to be_between(2, 3)
  end
end
