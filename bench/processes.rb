# frozen_string_literal: true

require "json"
require "rbconfig"

module Bench
  LIB = File.expand_path("../lib", __dir__)

  # A child Ruby process speaking one JSON line per line written to it.
  class Child
    def initialize(script, *args)
      @name = ([script] + args).join(" ")
      @io = IO.popen([RbConfig.ruby, "-I", LIB, File.join(__dir__, script), *args.map(&:to_s)], "r+")
    end

    def pid = @io.pid

    def read
      line = @io.gets or abort_with("exited before answering")
      JSON.parse(line, symbolize_names: true)
    end

    def ask(line)
      @io.puts(line)
      read
    end

    def close
      @io.close
      abort_with("failed (#{$?})") unless $?.success?
    end

    private

    def abort_with(problem)
      raise "#{@name} (pid #{@io.pid}) #{problem}; see its error above"
    end
  end

  # The one emulator, in its own process.
  class EmulatorProcess < Child
    attr_reader :base_url

    def initialize
      super("emulator_server.rb")
      @base_url = @io.gets&.chomp or raise "the emulator process did not start"
    end

    def latency=(seconds)
      ask("latency #{seconds}")
    end

    def clear! = ask("clear")
    def stats = ask("stats")
    def round_trip_ms(count) = ask("round_trip #{count}").fetch(:ms)

    # Closing its stdin ends its command loop, which stops the emulator.
    def stop
      @io.close unless @io.closed?
    end
  end
end
