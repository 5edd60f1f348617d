# frozen_string_literal: true

require "spec_helper"

# What the native extension owes the Ruby process that hosts it: it must not hold the GVL while
# a send waits, must honour every way Ruby interrupts a thread, must survive fork, must never let
# a Rust panic escape, and must be safe to share between threads.
module NativeHostSpec
  # Raised into a waiting thread; deliberately not a StandardError, like Interrupt, so nothing
  # in the library can swallow it by accident.
  class Interrupt < Exception; end # rubocop:disable Lint/InheritException
end

RSpec.describe "The native extension as a good Ruby citizen: the GVL, interrupts, fork, panics" do
  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  # Polls until the block is truthy; fails the example (instead of hanging) after `timeout`.
  def wait_until(timeout: 3, what: "condition")
    deadline = now + timeout
    until yield
      raise "timed out after #{timeout}s waiting for #{what}" if now > deadline

      sleep 0.002
    end
  end

  # Waits until the emulator has received `count` messages: the sends are then in flight,
  # waiting for the (delayed) answer.
  def wait_for_messages(count)
    wait_until(what: "#{count} message(s) at the emulator") { emulator.messages.size >= count }
  end

  def native_thread_count
    File.read("/proc/self/status")[/^Threads:\s+(\d+)/, 1].to_i
  end

  # Process.wait2 with a deadline: a child that hangs is killed and fails the example.
  def wait_child(pid, timeout: 10)
    deadline = now + timeout
    loop do
      _, status = Process.wait2(pid, Process::WNOHANG)
      return status if status
      next sleep(0.01) if now < deadline

      Process.kill(:KILL, pid)
      Process.wait(pid)
      raise "child #{pid} hung for #{timeout}s and was killed"
    end
  end

  # Forks a child that sends one message and writes its msgid back through a pipe. Exits 0 only
  # when the send returned a msgid. exit! skips at_exit hooks and finalizers inherited from the
  # parent (RSpec's, and the emulator's).
  def fork_sender(text)
    reader, writer = IO.pipe
    pid = Process.fork do
      reader.close
      code = begin
        msgid = client.send_text(text, to: "child").msgid
        writer.write(msgid.to_s)
        msgid.is_a?(String) && !msgid.empty? ? 0 : 1
      rescue Exception => e # rubocop:disable Lint/RescueException
        writer.write("#{e.class}: #{e.message}")
        2
      end
      writer.close
      exit!(code)
    end
    writer.close
    status = wait_child(pid)
    [status, reader.read]
  ensure
    reader&.close
  end

  # Rust's panic hook prints to fd 2; keep the spec output clean.
  def silence_native_stderr
    saved = $stderr.dup
    File.open(File::NULL, "w") { |null| $stderr.reopen(null) }
    yield
  ensure
    $stderr.reopen(saved)
    saved.close
  end

  describe "releasing the GVL while a send waits" do
    it "lets 8 threads wait on slow sends at the same time" do
      client.access_token # warm the token so only the sends are timed
      emulator.latency = 0.4

      results = nil
      seconds = elapsed do
        results = Array.new(8) { |i| Thread.new { client.send_text("parallel #{i}", to: "u") } }.map(&:value)
      end

      expect(seconds).to be < 1.6 # 3.2 s if each send held the GVL
      expect(results.map(&:msgid).uniq.size).to eq(8)
      expect(emulator.messages.size).to eq(8)
    end

    it "lets pure Ruby code run in another thread during the wait" do
      client.access_token
      emulator.latency = 0.5

      sender = Thread.new { elapsed { client.send_text("slow", to: "u") } }
      wait_for_messages(1) # the send is now waiting for its answer
      iterations = 0
      iterations += 1 while sender.alive?

      expect(sender.value).to be >= 0.4 # the send really waited
      expect(iterations).to be > 100_000
    end
  end

  describe "interrupting a waiting send" do
    # Examples that install a USR1 handler leave the suite's own as it was.
    around(:each, :traps_usr1) do |example|
      previous = Signal.trap("USR1", "DEFAULT")
      example.run
    ensure
      Signal.trap("USR1", previous)
    end

    before do
      client.access_token
      emulator.latency = 5
    end

    # Starts a send in a thread and returns it once its request is at the emulator.
    def start_waiting_send(expected_messages = 1)
      thread = Thread.new { client.send_text("doomed", to: "u") }
      thread.report_on_exception = false
      wait_for_messages(expected_messages)
      thread
    end

    # After an interruption the client is free: a new send is not queued behind the old one.
    def expect_fresh_send_to_work_immediately
      emulator.latency = 0
      result = nil
      seconds = elapsed { result = client.send_text("after the interruption", to: "u") }
      expect(result.msgid).to be_a(String)
      expect(seconds).to be < 1
      expect(emulator.messages.last["text"]["content"]).to eq("after the interruption")
    end

    describe "with Thread#kill" do
      it "ends the thread within 100 ms and frees the client" do
        thread = start_waiting_send
        seconds = elapsed do
          thread.kill
          thread.join(3)
        end

        expect(thread).not_to be_alive
        expect(seconds).to be < 0.1
        expect_fresh_send_to_work_immediately
      end
    end

    describe "with Thread#raise" do
      it "surfaces the raised exception from the thread within 100 ms and frees the client" do
        thread = start_waiting_send
        started = now
        thread.raise(NativeHostSpec::Interrupt, "stop waiting")
        expect { thread.value }.to raise_error(NativeHostSpec::Interrupt, "stop waiting")

        expect(now - started).to be < 0.1
        expect_fresh_send_to_work_immediately
      end
    end

    describe "with Timeout.timeout" do
      it "raises Timeout::Error at the deadline and frees the client" do
        seconds = elapsed do
          expect { Timeout.timeout(0.2) { client.send_text("doomed", to: "u") } }.to raise_error(Timeout::Error)
        end

        expect(seconds).to be >= 0.19
        expect(seconds).to be < 0.2 + 0.1
        expect(emulator.messages.size).to eq(1) # it was interrupted while waiting, not before sending
        expect_fresh_send_to_work_immediately
      end
    end

    # Process.kill from another Ruby thread while the main thread waits in a send. The signalling
    # thread ends at once, so no other Ruby thread is left to pass the signal on: the send itself
    # must notice the pending trap handler.
    describe "with a signal handler that raises", :traps_usr1 do
      it "ends the send within 100 ms with the handler's exception" do
        Signal.trap("USR1") { raise NativeHostSpec::Interrupt, "from the trap" }
        signalled_at = Queue.new
        Thread.new do
          wait_for_messages(1)
          signalled_at << now
          Process.kill("USR1", Process.pid)
        end

        expect { client.send_text("doomed", to: "u") }.to raise_error(NativeHostSpec::Interrupt, "from the trap")
        expect(now - signalled_at.pop).to be < 0.1
        expect_fresh_send_to_work_immediately
      end
    end

    # The same signal sent to a process whose main thread is its only Ruby thread: Ruby then
    # calls the extension's unblocking function straight from its signal handler. A forked
    # child is such a process (this one may have other threads, e.g. ActiveSupport's).
    describe "with a signal to a single-threaded process" do
      it "ends the send within 100 ms with the handler's exception" do
        emulator.latency = 0 # until the child has its own token
        reader, writer = IO.pipe
        go_reader, go_writer = IO.pipe
        sender = fork do
          reader.close
          go_writer.close
          Signal.trap("USR1") { raise NativeHostSpec::Interrupt, "from the trap" }
          outcome = begin
            raise "not single-threaded: #{Thread.list.size} threads" unless Thread.list == [Thread.main]

            client.access_token
            writer.puts("ready")
            go_reader.gets
            client.send_text("doomed", to: "u")
            "no exception"
          rescue NativeHostSpec::Interrupt => e
            "#{e.message} #{now}"
          end
          writer.puts(outcome)
          exit!(0)
        end
        writer.close
        go_reader.close
        expect(reader.gets).to eq("ready\n")
        emulator.latency = 5
        go_writer.puts("go")
        wait_for_messages(1) # the child is waiting on the emulator's 5 s latency now
        signalled_at = now
        Process.kill("USR1", sender)
        outcome = reader.gets.to_s
        wait_child(sender)

        expect(outcome).to start_with("from the trap ")
        expect(Float(outcome.split.last) - signalled_at).to be < 0.1
      ensure
        [reader, go_writer].each { |io| io&.close }
      end
    end

    describe "with a signal handler that does not raise", :traps_usr1 do
      it "still completes the send, once, with its result" do
        emulator.latency = 0.5
        handled = Queue.new
        Signal.trap("USR1") { handled << :ran }
        done = Queue.new
        # Stays asleep until the send is over, which usually lets the handler run mid-wait.
        signaller = Thread.new do
          wait_for_messages(1)
          Process.kill("USR1", Process.pid)
          done.pop
        end

        result = nil
        seconds = elapsed { result = client.send_text("survives the signal", to: "u") }
        done << true
        signaller.join(3)
        wait_until(what: "the signal handler") { handled.size.positive? }

        expect(handled.size).to eq(1)
        expect(result).to be_a(WeCom::Result)
        expect(result.msgid).to be_a(String)
        expect(seconds).to be >= 0.4 # it waited for the real answer
        expect(emulator.messages.map { |m| m["text"]["content"] }).to eq(["survives the signal"])
        expect(emulator.requests.count { |r| r[:path] == "/cgi-bin/message/send" }).to eq(1)
      ensure
        done << true
      end
    end

    describe "many times in a row" do
      it "leaves no Ruby or native threads behind" do
        interrupt = lambda do |i|
          thread = start_waiting_send(i)
          i.even? ? thread.kill : thread.raise(NativeHostSpec::Interrupt)
          begin
            thread.join(1)
          rescue NativeHostSpec::Interrupt
            nil
          end
          expect(thread).not_to be_alive
        end
        # Warm up: the runtime's worker threads start on first use.
        (1..2).each(&interrupt)
        ruby_threads = Thread.list.size
        native_threads = native_thread_count

        (3..22).each(&interrupt)

        expect(Thread.list.size).to eq(ruby_threads)
        expect(native_thread_count).to be <= native_threads + 2
        expect_fresh_send_to_work_immediately
      end
    end
  end

  describe "forking" do
    it "works in a child forked after the client was used, and in the parent afterwards" do
      client.send_text("before fork", to: "parent")

      status, child_msgid = fork_sender("from the child")

      expect(status.exitstatus).to eq(0), "child failed: #{child_msgid}"
      parent = client.send_text("parent after the child", to: "parent")
      expect(parent.msgid).to be_a(String)
      expect(parent.msgid).not_to eq(child_msgid)
      expect(emulator.messages.map { |m| m["text"]["content"] })
        .to eq(["before fork", "from the child", "parent after the child"])
    end

    it "works in a child forked while other threads wait on sends, and they finish normally" do
      client.access_token
      emulator.latency = 0.3
      senders = Array.new(4) { |i| Thread.new { client.send_text("parent thread #{i}", to: "u") } }
      wait_for_messages(4)

      status, child_msgid = fork_sender("from the child")

      expect(status.exitstatus).to eq(0), "child failed: #{child_msgid}"
      results = senders.map { |thread| thread.join(5)&.value }
      expect(results.map { |r| r&.msgid }).to all(be_a(String))
      contents = emulator.messages.map { |m| m["text"]["content"] }
      expect(contents).to match_array(Array.new(4) { |i| "parent thread #{i}" } + ["from the child"])
    end
  end

  describe "Rust panics" do
    %w[ruby blocking].each do |place|
      it "become a WeCom::Error when raised #{place == 'ruby' ? 'on the Ruby thread' : 'without the GVL'}" do
        error = nil
        silence_native_stderr do
          WeCom::Native.panic_for_test(place)
        rescue Exception => e # rubocop:disable Lint/RescueException
          error = e
        end

        expect(error.class).to eq(WeCom::Error)
        expect(error).to be_a(StandardError)
        expect(error.message).to match(/internal error in the wecom native extension/)
        expect(client.send_text("still alive", to: "u").msgid).to be_a(String)
      end
    end
  end

  describe "sharing one client between threads" do
    it "sends 16 x 25 messages with distinct msgids and one token request" do
      shared = client
      msgids = Array.new(16) do |t|
        Thread.new { Array.new(25) { |i| shared.send_text("#{t}-#{i}", to: "u").msgid } }
      end.flat_map(&:value)

      expect(msgids.size).to eq(400)
      expect(msgids.uniq.size).to eq(400)
      expect(emulator.messages.size).to eq(400)
      expect(emulator.token_requests).to eq(1)
    end
  end

  describe "a cold token cache under a stampede" do
    it "fetches the token once for 16 threads asking at the same time" do
      emulator.latency = 0.2
      shared = client
      gate = Queue.new
      threads = Array.new(16) do
        Thread.new do
          gate.pop
          shared.access_token
        end
      end
      16.times { gate << :go }
      tokens = threads.map(&:value)

      expect(tokens).to all(be_a(String).and(satisfy { |t| !t.empty? }))
      expect(tokens.uniq.size).to eq(1)
      expect(emulator.token_requests).to eq(1)
    end
  end
end
