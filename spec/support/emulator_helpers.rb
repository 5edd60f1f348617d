# frozen_string_literal: true

require "socket"

# Every example gets its own emulator (each on a free port, so examples cannot see each
# other's traffic) and its own credentials (so examples do not share cached tokens).
module EmulatorHelpers
  def self.included(base)
    base.let(:credentials) do
      { corp_id: "corp-#{SecureRandom.hex(4)}", secret: "secret-#{SecureRandom.hex(8)}", agent_id: 1_000_002 }
    end
    base.let(:emulator) { start_emulator(**credentials) }
    # A short backoff keeps retry examples fast; the retry policy itself is the production one.
    base.let(:client) { emulator.client(retry_base_delay: 0.01) }
    base.after { @emulators&.each(&:stop) }
  end

  # Starts an emulator that is stopped after the example.
  def start_emulator(**options)
    (@emulators ||= []) << WeCom::Emulator.start(**options)
    @emulators.last
  end

  # A port on 127.0.0.1 that nothing listens on.
  def free_port
    TCPServer.open("127.0.0.1", 0).then { |server| server.addr[1].tap { server.close } }
  end

  # Runs the block, which should raise `error_class`; returns that error (nil if none was
  # raised) and the seconds the block took.
  def raised_and_seconds(error_class)
    error = nil
    seconds = elapsed do
      yield
    rescue error_class => e
      error = e
    end
    [error, seconds]
  end

  # Seconds taken by the block.
  def elapsed
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    yield
    Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
  end
end
