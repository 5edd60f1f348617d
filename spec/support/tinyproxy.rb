# frozen_string_literal: true

require "socket"
require "tmpdir"

# A real forward proxy for the proxy specs: Debian's tinyproxy (bin/setup installs it), run in
# the foreground on 127.0.0.1 with a free port and a config of its own, stopped after the example.
class Tinyproxy
  BINARY = %w[/usr/bin/tinyproxy /usr/sbin/tinyproxy].find { |path| File.executable?(path) }

  attr_reader :port, :log_file

  def self.available?
    !BINARY.nil?
  end

  # auth: [user, password] for BasicAuth, or nil for an open proxy.
  def initialize(auth: nil)
    @dir = Dir.mktmpdir("wecom-tinyproxy")
    @port = TCPServer.open("127.0.0.1", 0).then { |server| server.addr[1].tap { server.close } }
    @log_file = File.join(@dir, "tinyproxy.log")
    config = File.join(@dir, "tinyproxy.conf")
    File.write(config, <<~CONF)
      Port #{@port}
      Listen 127.0.0.1
      Timeout 30
      LogFile "#{@log_file}"
      LogLevel Info
      MaxClients 20
      Allow 127.0.0.1
      DisableViaHeader Yes
      #{"BasicAuth #{auth[0]} #{auth[1]}" if auth}
    CONF
    @pid = Process.spawn(BINARY, "-d", "-c", config, out: File::NULL, err: File::NULL)
    wait_until_listening
  end

  def url(user: nil, password: nil)
    "http://#{"#{user}:#{password}@" if user}127.0.0.1:#{port}"
  end

  def log
    File.exist?(log_file) ? File.read(log_file) : ""
  end

  def stop
    return unless @pid

    Process.kill("TERM", @pid)
    Process.wait(@pid)
    @pid = nil
    FileUtils.rm_rf(@dir)
  rescue Errno::ESRCH, Errno::ECHILD
    @pid = nil
  end

  private

  def wait_until_listening
    deadline = Process.clock_gettime(Process::CLOCK_MONOTONIC) + 5
    loop do
      TCPSocket.new("127.0.0.1", port).close
      return
    rescue Errno::ECONNREFUSED
      raise "tinyproxy did not start on port #{port}: #{log}" if Process.clock_gettime(Process::CLOCK_MONOTONIC) > deadline

      sleep 0.02
    end
  end
end

# A proxy that accepts connections and never answers.
class HangingProxy
  attr_reader :port

  def initialize
    @server = TCPServer.new("127.0.0.1", 0)
    @port = @server.addr[1]
    @clients = []
    @thread = Thread.new do
      loop { @clients << @server.accept }
    rescue IOError, Errno::EBADF
      nil
    end
  end

  def url(user: nil, password: nil)
    "http://#{"#{user}:#{password}@" if user}127.0.0.1:#{port}"
  end

  def connections
    @clients.size
  end

  def stop
    @server.close
    @thread.join(1)
    @clients.each(&:close)
  end
end
