# frozen_string_literal: true

require "fileutils"
require "open3"
require "rbconfig"
require "tmpdir"

# The Rails app under spec/rails_app, copied to a temporary folder of its own and driven as a team
# would: bin/rails commands, a Sidekiq process and a Puma (bin/rails server), each a real process
# with the wecom under test on RUBYLIB.
#
#   app = RailsApp.copy(env: { "REDIS_URL" => ..., "DATABASE_SCHEMA" => ..., "WECOM_CORP_ID" => ... })
#   app.rails("generate", "wecom:install"); app.rails("db:migrate")
#   app.start_sidekiq(redis); server = app.start_server; server.url("/wecom/hr")
#   app.stop                       # the server and Sidekiq; app.remove deletes the copy
#
# (spec/rails_app_spec.rb keeps its own copy of these steps.)
class RailsApp
  TEMPLATE = File.expand_path("../rails_app", __dir__)
  LIB = File.expand_path("../../lib", __dir__)
  BOOT_TIMEOUT = 120

  attr_reader :root, :server

  def self.copy(env:)
    new(env)
  end

  def initialize(env)
    @dir = Dir.mktmpdir("wecom-rails-app")
    @root = File.join(@dir, "interview_platform")
    FileUtils.cp_r(TEMPLATE, @root)
    @env = env
  end

  # What the app's processes run with: the wecom under test and `env`.
  def env(rails_env = "development")
    { "RUBYLIB" => LIB, "RAILS_ENV" => rails_env }.merge(@env)
  end

  def path(*parts)
    File.join(@root, *parts)
  end

  def read(*parts)
    File.read(path(*parts))
  end

  def write(relative, text)
    File.write(path(relative), text)
  end

  def log(name)
    file = path("log", name)
    File.exist?(file) ? File.read(file) : ""
  end

  # Runs bin/rails with `arguments` in the app; returns its output.
  def rails(*arguments, rails_env: "development")
    out, status = Open3.capture2e(env(rails_env), RbConfig.ruby, "bin/rails", *arguments, chdir: @root)
    raise "bin/rails #{arguments.join(' ')} failed:\n#{out}" unless status.success?

    out
  end

  # Sidekiq with the app (-r), fetching from `redis` (a Redis client on the app's REDIS_URL):
  # returns once its heartbeat is there.
  def start_sidekiq(redis, concurrency: 2)
    log = path("log", "sidekiq.log")
    @sidekiq = spawn_sidekiq(concurrency: concurrency)
    wait_for("Sidekiq to start (#{log})", seconds: BOOT_TIMEOUT) do
      raise "Sidekiq exited:\n#{File.read(log)}" if Process.wait(@sidekiq, Process::WNOHANG)

      redis.scard("processes").positive? # Sidekiq's heartbeat: it is fetching jobs
    end
  end

  # A Sidekiq process of the app's, not waited for and not stopped by #stop: its pid (a spec that
  # kills it with SIGKILL reaps it). Its output is appended to log/sidekiq.log.
  def spawn_sidekiq(concurrency: 2)
    log = [path("log", "sidekiq.log"), "a"]
    Process.spawn(env, RbConfig.ruby, Gem.bin_path("sidekiq", "sidekiq"), "-r", @root, "-c", concurrency.to_s,
                  chdir: @root, out: log, err: log)
  end

  # `bin/rails server` (Puma) on 127.0.0.1, on `port` (0: a port of its own); returns once it
  # answers HTTP.
  def start_server(rails_env = "development", port: 0)
    @server = PumaServer.spawn_command([RbConfig.ruby, "bin/rails", "server", "-b", "127.0.0.1", "-p", port.to_s,
                                        "-e", rails_env],
                                       env: env(rails_env), chdir: @root, log: path("log", "server.log"),
                                       boot_timeout: BOOT_TIMEOUT)
  end

  def stop
    @server&.stop
    @server = nil
    stop_sidekiq
  end

  def remove
    FileUtils.rm_rf(@dir)
  end

  # Polls the block until it returns a truthy value (returned), for at most `seconds`; then
  # raises with the end of the app's logs.
  def wait_for(what, seconds: 30)
    deadline = monotonic + seconds
    until (value = yield)
      raise "timed out after #{seconds}s waiting for #{what}\n#{log_tails}" if monotonic > deadline

      sleep 0.1
    end
    value
  end

  def log_tails
    %w[sidekiq.log server.log development.log].map do |name|
      "--- log/#{name} ends with:\n#{log(name).lines.last(20).join}"
    end.join("\n")
  end

  private

  def stop_sidekiq
    return unless @sidekiq

    pid = @sidekiq
    @sidekiq = nil
    Process.kill("TERM", pid)
    # Sidekiq finishes its jobs for up to 25 s on TERM; these are done or not worth waiting for.
    return if wait_for_exit(pid, 10)

    Process.kill("KILL", pid)
    Process.wait(pid)
  rescue Errno::ESRCH, Errno::ECHILD
    nil
  end

  def wait_for_exit(pid, seconds)
    deadline = monotonic + seconds
    until Process.wait(pid, Process::WNOHANG)
      return false if monotonic > deadline

      sleep 0.05
    end
    true
  end

  def monotonic
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end
end
