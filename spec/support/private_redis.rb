# frozen_string_literal: true

require "socket"
require "tmpdir"
require "fileutils"

# A redis-server of the example's own on a free port, which the example may stop and start again
# (the shared one on 6379 is never touched). A persistent one writes every command to an
# append-only file in a folder of its own before answering, so a restart (even after SIGKILL)
# keeps what it had, as a production Redis with `appendfsync always` would.
#
#   redis = PrivateRedis.start; redis.url; redis.stop; redis.start; redis.stop
#   redis = PrivateRedis.start(persistent: true)
class PrivateRedis
  attr_reader :port

  def self.start(persistent: false)
    new(persistent: persistent).tap(&:start)
  end

  def initialize(persistent: false)
    @port = TCPServer.open("127.0.0.1", 0).then { |server| server.addr[1].tap { server.close } }
    @dir = Dir.mktmpdir("wecom-redis") if persistent
  end

  def url
    "redis://127.0.0.1:#{port}/0"
  end

  def start
    persistence = @dir ? ["--appendonly", "yes", "--appendfsync", "always", "--dir", @dir] : %w[--appendonly no]
    @pid = Process.spawn("redis-server", "--port", port.to_s, "--bind", "127.0.0.1", "--save", "", *persistence,
                         out: File::NULL, err: File::NULL)
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 10
    until ping?
      raise "redis-server did not start on port #{port}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.02
    end
    self
  end

  def stop
    return unless @pid

    Process.kill(:KILL, @pid)
    Process.wait(@pid)
    @pid = nil
  rescue Errno::ESRCH, Errno::ECHILD
    @pid = nil
  end

  # Stops it and deletes a persistent one's files.
  def remove
    stop
    FileUtils.rm_rf(@dir) if @dir
  end

  def ping?
    TCPSocket.open("127.0.0.1", port) do |socket|
      socket.write("PING\r\n")
      socket.gets == "+PONG\r\n"
    end
  rescue SystemCallError
    false
  end
end
