# frozen_string_literal: true

# The callback benchmark (issue 13, workload E): N distinct callbacks, each verified, checked,
# decrypted, parsed and answered with an encrypted text reply, in-process, by wecom and by a
# plain-Ruby implementation written the way Ruby code does it today (bench/clients/
# callback_plain_ruby.rb: OpenSSL + Hash.from_xml/REXML; and, for reference, the same code with
# ActiveSupport's Nokogiri backend).
#
#   ruby bench/callbacks.rb              # N = 10,000, 5 rounds, medians (about a minute)
#   ruby bench/callbacks.rb --rounds 9
#   ruby bench/callbacks.rb --quick      # N = 1,000, 1 round: a smoke test
#   ruby bench/callbacks.rb --n 20 --rounds 1 --no-write   # what spec/bench_callbacks_spec.rb runs
#
# WeCom's side (signing and encrypting the N callbacks) is done up front by
# WeCom::Native::Callback#sign_message, fresh for every round (so timestamps stay in the replay
# window), outside the timed part. Each implementation handles them in a fresh process of its
# own (bench/callback_worker.rb). Every implementation's sampled results are checked — the
# parsed fields equal what was sent, the reply opens with WeCom's side (#open_reply) to the
# expected text — and the plain-Ruby code must refuse a bad signature, a stale timestamp and a
# wrong receive id. Any mismatch aborts: no number is reported for a wrong implementation.
# Writes bench/results/callbacks.{md,json}.
require "fileutils"
require "json"
require "open3"
require "optparse"
require "rbconfig"
require "tmpdir"
require "time"

LIB = File.expand_path("../lib", __dir__)
$LOAD_PATH.unshift(LIB)
require "wecom"
require_relative "callbacks_common"
require_relative "clients/callback_plain_ruby"

module Bench
  module Callbacks
    RESULTS = File.join(__dir__, "results")
    TARGET = 5.0 # wecom ≥ 5× the plain-Ruby implementation (REXML)

    # The mix: a quarter each of text messages, menu clicks, template-card clicks with selected
    # items, and directory changes; every one distinct (sender, time, ids, text).
    def self.message(index, now)
      user = "user#{index % 997}"
      base = { "ToUserName" => RECEIVE_ID, "FromUserName" => user, "CreateTime" => (now - (index % 60)).to_s }
      case index % 4
      when 0
        base.merge("MsgType" => "text", "Content" => "第 #{index} 条: what are my interviews today? <#{index}> & more",
                   "MsgId" => (7_000_000_000_000_000_000 + index).to_s, "AgentID" => AGENT_ID)
      when 1
        base.merge("MsgType" => "event", "Event" => "click", "EventKey" => "TODAY_#{index}", "AgentID" => AGENT_ID)
      when 2
        items = [{ "QuestionKey" => "slot", "OptionIds" => { "OptionId" => ["mon-#{index}", "tue-#{index}"] } },
                 { "QuestionKey" => "room", "OptionIds" => { "OptionId" => "r#{index % 9}" } }]
        base.merge("MsgType" => "event", "Event" => "template_card_event", "EventKey" => "accept",
                   "TaskId" => "task-#{index}", "CardType" => "vote_interaction", "ResponseCode" => "rc#{index}x" * 3,
                   "SelectedItems" => { "SelectedItem" => items }, "AgentID" => AGENT_ID)
      else
        base.merge("FromUserName" => "sys", "MsgType" => "event", "Event" => "change_contact",
                   "ChangeType" => "update_user", "UserID" => "member#{index}", "Name" => "张三#{index}",
                   "Department" => "1,#{index % 50 + 2}", "MainDepartment" => "1", "Position" => "Interviewer",
                   "Mobile" => "1380000#{format('%04d', index % 10_000)}", "Email" => "m#{index}@example.com")
      end
    end

    # [trees, callbacks]: what was sent, and [params, body] for each, signed and encrypted by
    # WeCom's side.
    def self.generate(n)
      wecom_side = WeCom::Native::Callback.new(TOKEN, ENCODING_AES_KEY, RECEIVE_ID)
      now = Time.now.to_i
      trees = Array.new(n) { |i| message(i, now) }
      callbacks = trees.map do |tree|
        signature, timestamp, nonce, body = wecom_side.sign_message(tree, now.to_s)
        [{ "msg_signature" => signature, "timestamp" => timestamp, "nonce" => nonce }.freeze, body.freeze]
      end
      [trees, callbacks]
    end

    class Runner
      def initialize(n:, rounds:, quick:, sample_every:)
        @n = n
        @rounds = rounds
        @quick = quick
        @sample_every = sample_every
        @wecom_side = WeCom::Native::Callback.new(TOKEN, ENCODING_AES_KEY, RECEIVE_ID)
      end

      def call
        started_at = Time.now.utc
        refusals = check_plain_ruby_refuses!
        runs = []
        Dir.mktmpdir("wecom-callbacks") do |dir|
          @rounds.times do |round|
            trees, callbacks = Callbacks.generate(@n)
            file = File.join(dir, "round#{round + 1}.marshal")
            File.binwrite(file, Marshal.dump(callbacks))
            IMPLEMENTATIONS.keys.rotate(round).each do |name|
              runs << measure(round, name, file, trees)
            end
          end
        end
        {
          machine: machine(started_at),
          config: { n: @n, rounds: @rounds, quick: @quick, warmup: WARMUP, sample_every: @sample_every,
                    mix: "¼ text, ¼ click, ¼ template_card_event (2 SelectedItems), ¼ change_contact update_user" },
          refusals: refusals,
          runs: runs,
          medians: medians(runs),
        }
      end

      private

      def measure(round, name, file, trees)
        out, err, status = Open3.capture3(RbConfig.ruby, "-I", LIB, File.join(__dir__, "callback_worker.rb"),
                                          name, file, @sample_every.to_s)
        raise "#{name}: the worker failed (#{status}):\n#{err}" unless status.success?

        result = JSON.parse(out.lines.last, symbolize_names: true)
        raise "#{name}: handled #{result[:handled]} callbacks, expected #{@n}" unless result[:handled] == @n

        check_samples!(name, result[:samples], trees)
        run = {
          round: round + 1, implementation: name, n: @n, xml_backend: result[:xml_backend],
          seconds: result[:seconds], cpu_seconds: result[:cpu_seconds],
          us_per_callback: result[:seconds] * 1e6 / @n, cpu_us_per_callback: result[:cpu_seconds] * 1e6 / @n,
          objects_per_callback: result[:allocated_objects].to_f / @n, gc_runs: result[:gc_runs],
          peak_rss_mb: result[:peak_rss_kb] / 1024.0, samples_checked: result[:samples].size
        }
        warn format("round %d  %-20s %8.3f s  %8.1f µs/callback  %8.1f CPU µs  %6.0f objects/callback",
                    run[:round], name, run[:seconds], run[:us_per_callback], run[:cpu_us_per_callback],
                    run[:objects_per_callback])
        run
      end

      # The parsed fields are what WeCom's side sent; the reply opens, with WeCom's side, to the
      # text reply to its sender.
      def check_samples!(name, samples, trees)
        raise "#{name}: no samples" if samples.empty?

        samples.each do |index, fields, reply|
          tree = trees.fetch(index)
          fields = JSON.parse(JSON.generate(fields)) # String keys, as JSON carried them
          unless fields == tree
            raise "#{name}: callback #{index} parsed to #{fields.inspect}, expected #{tree.inspect}"
          end

          opened = @wecom_side.open_reply(reply)
          expected = { "ToUserName" => tree["FromUserName"], "FromUserName" => tree["ToUserName"],
                       "MsgType" => "text", "Content" => Callbacks.reply_text(tree["FromUserName"]) }
          got = opened&.slice(*expected.keys)
          unless got == expected && opened["CreateTime"].to_s.match?(/\A\d+\z/)
            raise "#{name}: the reply to callback #{index} opened to #{opened.inspect}, expected #{expected.inspect}"
          end
        end
      end

      # The plain-Ruby implementation checks what wecom checks (it is not faster for skipping
      # it): each case must be refused for its own reason.
      def check_plain_ruby_refuses!
        plain = PlainRuby.new(**KEYS)
        now = Time.now.to_i
        params, body = signed(@wecom_side, now)
        plain.parse(params, body) # accepted as it is
        other_receiver = WeCom::Native::Callback.new(TOKEN, ENCODING_AES_KEY, "ww-another-corp")
        cases = {
          "bad signature" => [params.merge("msg_signature" => params["msg_signature"].tr("0-9a-f", "1-9a-f0")), body],
          "stale timestamp" => signed(@wecom_side, now - 301),
          "wrong receive id" => signed(other_receiver, now),
        }
        cases.to_h do |what, (p, b)|
          plain.parse(p, b)
          raise "plain_ruby accepted a callback with a #{what}"
        rescue PlainRuby::Error => e
          raise "plain_ruby refused a callback with a #{what} for another reason: #{e.message}" unless e.message == what

          [what, e.message]
        end
      end

      def signed(side, time)
        signature, timestamp, nonce, body = side.sign_message(Callbacks.message(0, time), time.to_s)
        [{ "msg_signature" => signature, "timestamp" => timestamp, "nonce" => nonce }, body]
      end

      def medians(runs)
        runs.group_by { |r| r[:implementation] }.to_h do |name, of_impl|
          [name, %i[seconds cpu_seconds us_per_callback cpu_us_per_callback objects_per_callback peak_rss_mb]
                   .to_h { |metric| [metric, Callbacks.median(of_impl.map { |r| r[metric] })] }]
        end
      end

      def machine(started_at)
        lscpu = `lscpu 2>/dev/null`[/^Model name:\s*(.+)$/, 1]
        {
          nproc: Etc.nprocessors,
          cpu: lscpu || File.read("/proc/cpuinfo")[/^model name\s*:\s*(.+)$/, 1],
          ruby: RUBY_DESCRIPTION,
          openssl: OpenSSL::OPENSSL_LIBRARY_VERSION,
          activesupport: ActiveSupport::VERSION::STRING,
          nokogiri: (require("nokogiri") && Nokogiri::VERSION rescue nil),
          date: started_at.iso8601,
          command: (["ruby bench/callbacks.rb"] + ARGV).join(" "),
        }
      end
    end

    def self.median(values)
      sorted = values.sort
      (sorted[(sorted.size - 1) / 2] + sorted[sorted.size / 2]) / 2.0
    end

    module Report
      module_function

      def markdown(results)
        m = results[:machine]
        c = results[:config]
        med = results[:medians]
        wecom = med["wecom"]
        lines = ["# wecom callback benchmark (workload E)", ""]
        lines << "- CPU: #{m[:cpu]} (#{m[:nproc]} CPUs, nproc)"
        lines << "- Ruby: #{m[:ruby]}; #{m[:openssl]}; ActiveSupport #{m[:activesupport]}; Nokogiri #{m[:nokogiri] || '—'}"
        lines << "- Date: #{m[:date]}"
        lines << "- Command: `#{m[:command]}`#{' (quick: small N, smoke test only)' if c[:quick]}"
        lines << ""
        lines << "#{c[:n]} distinct callbacks (#{c[:mix]}), signed and encrypted up front by WeCom's side. " \
                 "Each implementation, in a fresh process, verifies the signature, checks the timestamp window, " \
                 "decrypts, checks the receive id, parses the XML into a Hash, and builds, encrypts and signs a " \
                 "text reply, for every one (after #{c[:warmup]} untimed). Medians of #{c[:rounds]} " \
                 "round#{'s' if c[:rounds] > 1}; CPU is the process's user+sys time during the timed part."
        lines << ""
        lines << "| implementation | total s | µs/callback | CPU µs/callback | objects/callback | peak RSS MB | its time ÷ wecom's | wecom's time ÷ its |"
        lines << "|---|---:|---:|---:|---:|---:|---:|---:|"
        IMPLEMENTATIONS.each_key do |name|
          r = med[name]
          speed = name == "wecom" ? "—" : format("%.1f×", r[:seconds] / wecom[:seconds])
          fraction = name == "wecom" ? "—" : format("%.3f", wecom[:seconds] / r[:seconds])
          lines << "| #{label(name)} | #{format('%.3f', r[:seconds])} | #{format('%.1f', r[:us_per_callback])} | " \
                   "#{format('%.1f', r[:cpu_us_per_callback])} | #{r[:objects_per_callback].round} | " \
                   "#{format('%.1f', r[:peak_rss_mb])} | #{speed} | #{fraction} |"
        end
        lines << ""
        ratio = med["plain_ruby"][:seconds] / wecom[:seconds]
        lines << "**Target:** wecom ≥ #{TARGET.round}× plain_ruby (REXML): #{format('%.1f×', ratio)} — " \
                 "#{ratio >= TARGET ? 'met' : '**not met**'}."
        lines << ""
        lines << "Checked in every run: #{results[:runs].sum { |r| r[:samples_checked] }} sampled callbacks " \
                 "(1 in #{c[:sample_every]}) parsed to the fields sent and were answered with a reply that " \
                 "WeCom's side (`open_reply`) opens to the expected text; plain_ruby refused " \
                 "#{results[:refusals].keys.join(', ')}."
        lines << ""
        lines.join("\n")
      end

      def label(name)
        { "wecom" => "wecom (`Callback#parse` + `#reply`)", "plain_ruby" => "plain_ruby (OpenSSL + Hash.from_xml, REXML)",
          "plain_ruby_nokogiri" => "plain_ruby, Nokogiri backend (reference)" }.fetch(name)
      end
    end
  end
end

if $PROGRAM_NAME == __FILE__
  options = { n: nil, rounds: 5, quick: false, write: true, sample_every: nil }
  OptionParser.new do |parser|
    parser.banner = "Usage: ruby bench/callbacks.rb [--quick] [--rounds N] [--n CALLBACKS] [--no-write]"
    parser.on("--rounds N", Integer, "rounds to take the median of (default 5)") { |n| options[:rounds] = n }
    parser.on("--quick", "1 round, N = 1,000: a smoke test") { options[:quick] = true }
    parser.on("--n CALLBACKS", Integer, "callbacks per round (default 10,000)") { |n| options[:n] = n }
    parser.on("--[no-]write", "write bench/results/callbacks.{md,json} (default: yes)") { |w| options[:write] = w }
  end.parse!(ARGV.dup)
  options[:rounds] = 1 if options[:quick]
  options[:n] ||= options[:quick] ? 1_000 : 10_000
  abort "--rounds must be at least 1" if options[:rounds] < 1
  abort "--n must be at least 1" if options[:n] < 1
  options[:sample_every] = [options[:n] / 100, 1].max
  write = options.delete(:write)

  results = Bench::Callbacks::Runner.new(**options).call
  markdown = Bench::Callbacks::Report.markdown(results)
  if write
    FileUtils.mkdir_p(Bench::Callbacks::RESULTS)
    File.write(File.join(Bench::Callbacks::RESULTS, "callbacks.json"), JSON.pretty_generate(results))
    File.write(File.join(Bench::Callbacks::RESULTS, "callbacks.md"), markdown)
  end
  puts markdown
end
