# frozen_string_literal: true

require "net/http"
require "rbconfig"
require "stringio"

# A real Puma serving a Rack app on 127.0.0.1, on a port of its own.
#
#   server = PumaServer.start(app)                      # in this process: Puma::Server, its own threads
#   server = PumaServer.spawn("config.ru", env: {...})  # a separate `puma` process loading a rackup file
#                                                       # (workers: 2 for Puma's cluster mode)
#   server = PumaServer.spawn_command(%w[ruby bin/rails server -b 127.0.0.1 -p 0], chdir: app, log: ...)
#                                                       # any command that starts Puma on 127.0.0.1 (port 0)
#   server.url("/wecom/hr"); server.port; server.stop
#
# Both wait until the server answers HTTP before returning, and stop only what they started.
class PumaServer
  BOOT_TIMEOUT = 60

  attr_reader :port, :pid, :log_path

  def initialize(boot_timeout = BOOT_TIMEOUT)
    @boot_timeout = boot_timeout
  end

  # Puma::Server in this process, so that a spec sees its handler's side effects directly.
  # min_threads: keeps that many threads even when idle (0: Puma starts and trims them as load
  # comes and goes).
  def self.start(app, threads: 8, min_threads: 0)
    require "puma"
    require "puma/server"
    new.tap { |server| server.start_in_process(app, threads, min_threads) }
  end

  # `puma` as its own process (Debian's /usr/bin/puma, or Puma's own executable), loading `rackup`
  # with `env`; its output goes to `log` (a path). `workers:` forks that many worker processes
  # (Puma's cluster mode), each loading `rackup` itself.
  def self.spawn(rackup, env: {}, threads: 4, workers: 0, log:)
    new.tap { |server| server.spawn_process(rackup, env, threads, workers, log) }
  end

  # `command` (an Array) in `chdir` with `env`, which starts Puma listening on 127.0.0.1 (on a
  # port of its own: port 0); the port is read from Puma's "Listening on" line in `log`. It has
  # `boot_timeout` seconds to listen, and as many again to answer.
  def self.spawn_command(command, chdir:, log:, env: {}, boot_timeout: BOOT_TIMEOUT)
    new(boot_timeout).tap { |server| server.spawn_listening(command, env, chdir, log) }
  end

  def url(path = "/")
    "http://127.0.0.1:#{port}#{path}"
  end

  # A Puma::Server for `app` whose log goes to a String, on Puma 5 (Debian 12: events carry the
  # log) and Puma 6 (Debian 13: a LogWriter does, and Events.strings is gone).
  def self.build(app, threads:, min_threads: 0)
    require "puma"
    require "puma/server"
    options = { min_threads: min_threads, max_threads: threads, environment: "test" }
    if defined?(Puma::LogWriter)
      Puma::Server.new(app, nil, options.merge(log_writer: Puma::LogWriter.strings))
    else
      Puma::Server.new(app, Puma::Events.strings, options)
    end
  end

  def start_in_process(app, threads, min_threads)
    @server = PumaServer.build(app, threads: threads, min_threads: min_threads)
    @server.add_tcp_listener("127.0.0.1", 0)
    @port = @server.connected_ports.first
    @server.run
    wait_until_answering
  end

  def spawn_process(rackup, env, threads, workers, log)
    command = puma_command + ["--bind", "tcp://127.0.0.1:0", "--threads", "#{threads}:#{threads}",
                              "--workers", workers.to_s, "--environment", "test", rackup]
    spawn_listening(command, env, File.dirname(rackup), log)
  end

  def spawn_listening(command, env, chdir, log)
    @log_path = log
    @pid = Process.spawn(env, *command, out: log, err: log, chdir: chdir)
    deadline = monotonic + @boot_timeout
    until (@port = File.read(log)[%r{Listening on (?:http|tcp)://127\.0\.0\.1:(\d+)}, 1]&.to_i)
      raise "puma exited before listening:\n#{File.read(log)}" if Process.wait(@pid, Process::WNOHANG)
      raise "puma did not listen within #{@boot_timeout}s:\n#{File.read(log)}" if monotonic > deadline

      sleep 0.05
    end
    wait_until_answering
  rescue StandardError
    stop
    raise
  end

  def stop
    if @server
      @server.stop(true)
      @server = nil
    elsif @pid
      terminate(@pid)
      @pid = nil
    end
  end

  private

  def puma_command
    if File.executable?("/usr/bin/puma")
      ["/usr/bin/puma"]
    else
      [RbConfig.ruby, Gem.bin_path("puma", "puma")]
    end
  end

  # Any HTTP answer will do (a GET without WeCom's parameters is a 400).
  def wait_until_answering
    deadline = monotonic + @boot_timeout
    begin
      Net::HTTP.start("127.0.0.1", port, open_timeout: 2, read_timeout: 5) { |http| http.get("/") }
    rescue SystemCallError, IOError, Net::OpenTimeout, Net::ReadTimeout
      raise "puma on port #{port} did not answer within #{@boot_timeout}s" if monotonic > deadline

      sleep 0.05
      retry
    end
  end

  def terminate(pid)
    Process.kill(:TERM, pid)
    deadline = monotonic + 20
    until Process.wait(pid, Process::WNOHANG)
      if monotonic > deadline
        Process.kill(:KILL, pid)
        Process.wait(pid)
        break
      end
      sleep 0.05
    end
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end

  def monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end
