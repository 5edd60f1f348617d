# frozen_string_literal: true

# The soak (rake soak): does memory stay flat over a long run? One process sends SENDS text
# messages through WeCom::Client to a WeCom::Emulator in the same process, and has the emulator
# deliver CALLBACKS signed and encrypted callbacks (each a new connection, as WeCom makes them) to
# a WeCom::Callback::Endpoint served by Puma, also in this process — so the client, the
# callback receiver and the emulator are all measured. Every EVERY sends (with their share of
# the callbacks) it runs a full GC, hands glibc's free memory back to the system
# (malloc_trim), and samples RSS, the bytes malloc has handed out, and the open file descriptors.
#
# Why trim: the process has ten malloc arenas (Ruby, Puma's threads, the emulator's and the
# client's runtimes), and glibc keeps freed memory cached in each; untrimmed, that cache creeps up
# by a fraction of a megabyte per 100,000 sends while malloc's bytes in use stay flat. A leak
# is memory the process holds, as GC.start separates it from garbage; "malloc in use" shows
# the same from the allocator's side.
#
#   ruby -Ilib bench/soak.rb                       1,000,000 sends, 100,000 callbacks (rake soak)
#   ruby -Ilib bench/soak.rb --sends 100000 --callbacks 10000 --every 10000     (bin/test's)
#
# It exits 1 when, after the warm-up (the first --warmup sends, 50,000: the emulator's window of
# records fills, malloc's arenas and Ruby's heap reach their working size), RSS grew by more
# than --max-growth-mb (2) or a file descriptor was left open; --write puts the table in
# bench/results/soak.md.
#
# Callbacks are claimed in Redis (REDIS_URL, default 127.0.0.1:6379) under a namespace of this
# run: a claim is held for an hour by design (Endpoint::CLAIM_TTL), so in the memory store it
# would be growth that is no leak.
require "etc"
require "fiddle"
require "optparse"
require "securerandom"
require "time"
require "wecom"
require_relative "../spec/support/puma_server"

module Bench
  # The soak's run: its options, the parts it starts, its samples and verdict.
  class Soak
    TOKEN = "soakToken#{SecureRandom.alphanumeric(8)}".freeze
    ENCODING_AES_KEY = SecureRandom.alphanumeric(43).freeze
    MIB = 1024.0

    # The receiver's bot: one rule that answers, as an app's would.
    class Bot < WeCom::Callback::Handler
      on(:text) { |message| reply text: "got #{message.content}" }
    end

    def initialize(sends:, callbacks:, every:, warmup:, max_growth_mb:, write:, command:)
      @command = command
      @sends = sends
      @warmup = warmup
      @callbacks = callbacks
      @every = every
      @max_growth_mb = max_growth_mb
      @write = write
      @samples = []
    end

    def run
      started_at = Time.now
      emulator = WeCom::Emulator.start
      server = start_receiver(emulator)
      client = WeCom::Client.new(:soak)
      sent = 0
      delivered = 0
      while sent < @sends
        chunk = [@every, @sends - sent].min
        chunk.times { |i| client.send_text("soak #{sent + i}", to: "zhangsan") }
        sent += chunk
        due = @callbacks * sent / @sends
        (delivered...due).each { |i| deliver(emulator, server, i) }
        delivered = due
        sample(sent, delivered)
      end
      report(started_at, emulator)
    ensure
      server&.stop
      emulator&.stop
    end

    private

    def start_receiver(emulator)
      redis_url = ENV.fetch("REDIS_URL", "redis://127.0.0.1:6379/0")
      WeCom.configure do |c|
        c.corp_id = emulator.corp_id
        c.token_store = WeCom::TokenStore::Redis.new(url: redis_url, namespace: "wecom-soak-#{Process.pid}-#{Time.now.to_i}")
        c.app :soak, secret: emulator.secret, agent_id: emulator.agent_id, base_url: emulator.base_url,
                     callback_token: TOKEN, callback_encoding_aes_key: ENCODING_AES_KEY
      end
      # A fixed pool: a thread Puma starts or trims opens or closes its own connections (and the
      # native side's per-thread runtime), which would read as descriptors leaked or freed.
      server = PumaServer.start(WeCom::Callback::Endpoint.new(:soak, Bot), threads: 2, min_threads: 2)
      emulator.register_callback(server.url("/wecom/soak"), token: TOKEN, encoding_aes_key: ENCODING_AES_KEY)
      server
    end

    def deliver(emulator, server, index)
      reply = emulator.deliver_callback(server.url("/wecom/soak"),
                                        { MsgType: "text", Content: "callback #{index}", FromUserName: "zhangsan",
                                          MsgId: (8_000_000_000 + index).to_s },
                                        token: TOKEN, encoding_aes_key: ENCODING_AES_KEY)
      return if reply&.fetch("Content", nil) == "got callback #{index}"

      raise "callback #{index}: the receiver answered #{reply.inspect}"
    end

    def sample(sent, delivered)
      # Puma closes its side of the last callback's connection on its own thread.
      sleep 0.1
      GC.start
      Malloc.trim
      rss_kb = File.read("/proc/self/status")[/^VmRSS:\s+(\d+) kB/, 1].to_i
      fds = Dir.children("/proc/self/fd").to_h { |fd| [fd, (File.readlink("/proc/self/fd/#{fd}") rescue "?")] }
      @samples << { sends: sent, callbacks: delivered, rss_mb: rss_kb / MIB, malloc_mb: Malloc.in_use_mb,
                    fds: fds.size, open: fds }
      warn format("soak: %<sends>9d sends %<callbacks>8d callbacks  RSS %<rss_mb>7.1f MB  malloc in use %<malloc_mb>6.2f MB  " \
                  "%<fds>3d fds", @samples.last)
    end

    def report(started_at, emulator)
      warm = @samples.find { |s| s[:sends] >= @warmup } || @samples.last
      last = @samples.last
      growth = last[:rss_mb] - warm[:rss_mb]
      fd_growth = last[:fds] - warm[:fds]
      counts = emulator.counts
      verdict = format("soak: after warm-up (%<from>d sends → %<to>d) RSS grew %<growth>+.1f MB (malloc in use " \
                       "%<malloc>+.2f MB), open fds %<fds>+d; the emulator counted %<messages>d messages and kept %<kept>d",
                       from: warm[:sends], to: last[:sends], growth: growth, malloc: last[:malloc_mb] - warm[:malloc_mb],
                       fds: fd_growth, messages: counts[:messages], kept: emulator.messages.size)
      puts verdict
      write_results(started_at, verdict) if @write
      problems = []
      problems << "RSS grew #{growth.round(1)} MB (limit #{@max_growth_mb} MB)" if growth > @max_growth_mb
      if fd_growth.positive?
        opened = last[:open].reject { |fd, target| warm[:open][fd] == target }.values.tally
        problems << "#{fd_growth} file descriptors were left open (#{opened.map { |t, n| "#{n}× #{t}" }.join(', ')})"
      end
      problems << "the emulator counted #{counts[:messages]} messages, not #{@sends}" if counts[:messages] != @sends
      return true if problems.empty?

      warn "soak: FAILED: #{problems.join('; ')}"
      false
    end

    def write_results(started_at, verdict)
      cpu = File.read("/proc/cpuinfo")[/^model name\s*:\s*(.+)$/, 1]
      lines = ["# Soak (bench/soak.rb)", "",
               "- Machine: #{Etc.nprocessors} CPUs (nproc), #{cpu}", "- Ruby: #{RUBY_DESCRIPTION}",
               "- Date: #{started_at.iso8601}", "- Command: #{@command}", "",
               "| sends | callbacks | RSS (MB) | malloc in use (MB) | open fds |", "|---:|---:|---:|---:|---:|"]
      @samples.each { |s| lines << format("| %<sends>d | %<callbacks>d | %<rss_mb>.1f | %<malloc_mb>.2f | %<fds>d |", s) }
      lines << "" << verdict.delete_prefix("soak: ").capitalize << ""
      File.write(File.join(__dir__, "results", "soak.md"), lines.join("\n"))
    end
  end

  # glibc's allocator, through Fiddle: malloc_trim gives its cached free memory back, malloc_info
  # tells how much it has handed out (over every arena). Elsewhere (musl), neither: 0.
  module Malloc
    LIBC = Fiddle.dlopen(nil)

    def self.function(name, arguments, result)
      Fiddle::Function.new(LIBC[name], arguments, result)
    rescue Fiddle::DLError
      nil
    end

    TRIM = function("malloc_trim", [Fiddle::TYPE_SIZE_T], Fiddle::TYPE_INT)
    INFO = function("malloc_info", [Fiddle::TYPE_INT, Fiddle::TYPE_VOIDP], Fiddle::TYPE_INT)
    OPEN_MEMSTREAM = function("open_memstream", [Fiddle::TYPE_VOIDP, Fiddle::TYPE_VOIDP], Fiddle::TYPE_VOIDP)
    FCLOSE = function("fclose", [Fiddle::TYPE_VOIDP], Fiddle::TYPE_INT)
    FREE = function("free", [Fiddle::TYPE_VOIDP], Fiddle::TYPE_VOID)

    def self.trim
      TRIM&.call(0)
    end

    # Bytes from the system (arenas and mmapped chunks) less what is free in the arenas, in MB;
    # malloc_info's last totals cover every arena.
    def self.in_use_mb
      return 0.0 unless INFO && OPEN_MEMSTREAM

      xml = info_xml
      totals = xml[xml.rindex("</heap>").to_i..]
      free = totals.scan(/<total type="(?:fast|rest)" count="\d+" size="(\d+)"/).flatten.sum(&:to_i)
      mmapped = totals[/<total type="mmap" count="\d+" size="(\d+)"/, 1].to_i
      system = totals[/<system type="current" size="(\d+)"/, 1].to_i
      (system - free + mmapped) / 1_048_576.0
    end

    # malloc_info's XML, written to a memory stream.
    def self.info_xml
      buffer = Fiddle::Pointer.malloc(Fiddle::SIZEOF_VOIDP, Fiddle::RUBY_FREE)
      size = Fiddle::Pointer.malloc(Fiddle::SIZEOF_SIZE_T, Fiddle::RUBY_FREE)
      stream = OPEN_MEMSTREAM.call(buffer, size)
      INFO.call(0, stream)
      FCLOSE.call(stream)
      text = buffer.ptr.to_s(size[0, Fiddle::SIZEOF_SIZE_T].unpack1("J"))
      FREE.call(buffer.ptr)
      text
    end
  end
end

command = (["ruby bench/soak.rb"] + ARGV).join(" ")
options = { sends: 1_000_000, callbacks: 100_000, every: 50_000, warmup: 50_000, max_growth_mb: 2.0, write: false }
OptionParser.new do |o|
  o.banner = "Usage: ruby -Ilib bench/soak.rb [options]"
  o.on("--sends N", Integer, "messages to send (1000000)") { |v| options[:sends] = v }
  o.on("--callbacks N", Integer, "callbacks to deliver (100000)") { |v| options[:callbacks] = v }
  o.on("--every N", Integer, "sends between samples (50000)") { |v| options[:every] = v }
  o.on("--warmup N", Integer, "sends before the baseline sample (50000)") { |v| options[:warmup] = v }
  o.on("--max-growth-mb MB", Float, "RSS growth allowed after the first sample (2)") { |v| options[:max_growth_mb] = v }
  o.on("--write", "write bench/results/soak.md") { options[:write] = true }
end.parse!
abort "soak: --sends and --every must be positive, --callbacks and --warmup at least 0, --warmup below --sends" unless
  options[:sends].positive? && options[:every].positive? && !options[:callbacks].negative? &&
  options[:warmup].between?(0, options[:sends] - 1)

exit(Bench::Soak.new(**options, command: command).run ? 0 : 1)
