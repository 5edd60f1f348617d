# frozen_string_literal: true

module Bench
  # Turns the results of bench/run.rb into Markdown, and checks the project's targets against
  # the medians. (The benchmark never fails on a target: it only reports them.)
  module Report
    module_function

    def markdown(results)
      machine = results[:machine]
      rounds = results[:config][:rounds]
      lines = []
      lines << "# wecom benchmark"
      lines << ""
      lines << "- Machine: #{machine[:nproc]} CPUs (nproc), #{machine[:cpu]}"
      lines << "- Ruby: #{machine[:ruby]}"
      lines << "- Date: #{machine[:date]}"
      lines << "- Command: `#{machine[:command]}`#{' (quick: small N, smoke test only)' if results[:config][:quick]}"
      lines << "- Extension: lib/wecom/wecom_native.so sha256 #{machine[:wecom_native_sha256]}"
      if machine[:wecom_native_sha256_after_run] != machine[:wecom_native_sha256]
        lines << "- **Warning: the extension was replaced during the run (sha256 #{machine[:wecom_native_sha256_after_run]} " \
                 "at the end); rounds may mix two builds.**"
      end
      lines << ""
      lines << "Medians of #{rounds} round#{'s' if rounds > 1}. Each client runs each workload in a fresh process of its " \
               "own; one WeCom::Emulator runs in another process. CPU is the client process's user+sys time " \
               "(all its threads) during the timed part; peak RSS is its VmHWM."
      lines << ""
      lines.concat(table(results))
      lines << ""
      lines.concat(extras(results))
      lines << ""
      lines.concat(nginx(results))
      lines << ""
      lines << "## Targets (from the medians)"
      lines << ""
      lines << "| target | measured | met? |"
      lines << "|---|---|:---:|"
      targets(results).each { |t| lines << "| #{t[:target]} | #{t[:measured]} | #{t[:met] ? 'yes' : '**no**'} |" }
      lines << ""
      lines.join("\n")
    end

    def table(results)
      rows = ["| workload | client | msg/s | CPU ms/msg | peak RSS MB | wecom ÷ client, msg/s | client ÷ wecom, CPU |",
              "|---|---|---:|---:|---:|---:|---:|"]
      results[:config][:workloads].each do |workload|
        by_client = results[:medians][workload[:key].to_sym]
        wecom = by_client[:wecom]
        CLIENTS.each_with_index do |client, index|
          m = by_client[client.to_sym]
          label = index.zero? ? "#{workload[:key]}. #{workload[:n]} msgs, #{workload[:title]}" : ""
          label += best_way_note(client) if workload[:mode] == "best"
          speedup = client == "wecom" ? "—" : ratio(wecom[:msg_per_s] / m[:msg_per_s])
          cpu = client == "wecom" ? "—" : ratio(m[:cpu_ms_per_msg] / wecom[:cpu_ms_per_msg])
          rows << "| #{label} | #{client} | #{m[:msg_per_s].round} | #{format('%.3f', m[:cpu_ms_per_msg])} | " \
                  "#{format('%.1f', m[:peak_rss_mb])} | #{speedup} | #{cpu} |"
        end
      end
      rows
    end

    # The same clients against nginx with canned answers, and wrk's rate there.
    def nginx(results)
      nginx = results[:nginx]
      wrk = nginx[:wrk]
      rows = ["## Against nginx (canned answers), with wrk as the ceiling", "",
              "nginx from Debian (one process) answers gettoken and message/send with fixed JSON; every send " \
              "is counted in its log. wrk (C) POSTs the same message/send over kept-alive connections for " \
              "#{results[:config][:quick] ? 2 : 5} s: **#{wrk[1].round} req/s over 1 connection, " \
              "#{wrk[8].round} req/s over 8** (medians). *reqwest alone* is a Rust program sending the same " \
              "message/send through reqwest with wecom-core's settings and nothing of wecom " \
              "(crates/wecom-core/examples/reqwest_alone.rs): the floor of the transport under every wecom send.", "",
              "| workload | client | msg/s | CPU ms/msg | peak RSS MB | wecom ÷ client, msg/s | % of wrk, same connections |",
              "|---|---|---:|---:|---:|---:|---:|"]
      results[:config][:workloads].each do |workload|
        by_client = nginx[:medians][workload[:key].to_sym] or next
        wecom = by_client[:wecom]
        ceiling = wrk[workload[:threads] == 1 ? 1 : 8]
        CLIENTS.each_with_index do |client, index|
          m = by_client[client.to_sym]
          label = index.zero? ? "#{workload[:key]}. #{workload[:n]} msgs, #{workload[:title]}" : ""
          speedup = client == "wecom" ? "—" : ratio(wecom[:msg_per_s] / m[:msg_per_s])
          rows << "| #{label} | #{client} | #{m[:msg_per_s].round} | #{format('%.3f', m[:cpu_ms_per_msg])} | " \
                  "#{format('%.1f', m[:peak_rss_mb])} | #{speedup} | #{percent(m[:msg_per_s] / ceiling)} |"
        end
        alone = nginx.dig(:reqwest_alone, workload[:key].to_sym) or next
        rows << "|  | reqwest alone (Rust) | #{alone[:msg_per_s].round} | #{format('%.3f', alone[:cpu_ms_per_msg])} | — | " \
                "#{ratio(wecom[:msg_per_s] / alone[:msg_per_s])} | #{percent(alone[:msg_per_s] / ceiling)} |"
      end
      rows
    end

    def best_way_note(client)
      client == "wecom" ? " (send_batch, concurrency #{BATCH_CONCURRENCY})" : " (8-thread pool)"
    end

    def extras(results)
      m = results[:medians]
      ceiling = results[:ceiling]
      setups = ceiling[:setups].map do |c|
        "#{c[:setup]}: #{c[:msg_per_s].round} msg/s (emulator #{format('%.3f', c[:emulator_cpu_ms_per_msg])} CPU ms/msg)"
      end
      busy = %i[A B].map do |key|
        "#{key} #{percent(m[key][:wecom][:msg_per_s] * m[key][:wecom][:emulator_cpu_ms_per_msg] / 1000)}"
      end
      c = results[:config][:workloads].find { |w| w[:key] == "C" }
      round_trips = CLIENTS.map { |client| "#{client} #{format('%.1f', c[:threads] * 1000 / m[:C][client.to_sym][:msg_per_s])} ms" }
      emulator_ms = results[:emulator_round_trip_ms][:C]
      best_c = c[:threads] * 1000 / emulator_ms
      req = results[:require]
      [
        "- **Emulator ceiling:** at least #{ceiling[:msg_per_s].round} msg/s, the best median of wecom sending " \
        "with no latency from #{setups.join('; ')}. The fastest wecom rate in A/B was " \
        "#{%i[A B].map { |key| m[key][:wecom][:msg_per_s] }.max.round} msg/s, and during those runs the emulator " \
        "was busy #{busy.join(' and ')} of one CPU: it is not what limits A and B. Clients and emulator share " \
        "the machine's #{results[:machine][:nproc]} CPUs, so these rates are lower bounds of the emulator's.",
        "- **Latency in C:** with #{(c[:latency] * 1000).round} ms configured, the emulator answers in " \
        "#{format('%.1f', emulator_ms)} ms (median of 20 single gettoken calls on one kept-alive connection), so " \
        "no client can exceed #{format('%.1f', best_c)} msg/s = #{percent(best_c / ideal_c(c))} of the ideal " \
        "#{ideal_c(c).round}; wecom reached #{percent(m[:C][:wecom][:msg_per_s] / best_c)} of that. One request " \
        "took on average (threads ÷ msg/s) #{round_trips.join(', ')}.",
        "- **Require time:** `require \"wecom\"` adds #{format('%.1f', req[:added_ms])} ms " \
        "(`ruby -Ilib -e 'require \"wecom\"'` #{format('%.1f', req[:with_wecom_ms])} ms vs " \
        "`ruby -e ''` #{format('%.1f', req[:baseline_ms])} ms, medians of #{req[:runs]} runs each).",
      ]
    end

    # Each target: what it asks, what the medians give, met or not.
    def targets(results)
      m = results[:medians]
      speed = ->(key, other) { m[key][:wecom][:msg_per_s] / m[key][other][:msg_per_s] }
      workloads = results[:config][:workloads]
      c = workloads.find { |w| w[:key] == "C" }
      ideal_c = ideal_c(c)
      d_pool = %i[httparty_seed net_http_keepalive].map { |client| m[:D][client][:msg_per_s] }.max
      keys = workloads.map { |w| w[:key].to_sym }
      cpu = keys.to_h { |key| [key, m[key][:httparty_seed][:cpu_ms_per_msg] / m[key][:wecom][:cpu_ms_per_msg]] }
      rss = keys.to_h { |key| [key, m[key][:wecom][:peak_rss_mb] - m[key][:net_http_keepalive][:peak_rss_mb]] }
      [
        target("A: sequential ≥ 4× httparty_seed", ratio(speed[:A, :httparty_seed]), speed[:A, :httparty_seed] >= 4),
        target("A: sequential ≥ 2× net_http_keepalive", ratio(speed[:A, :net_http_keepalive]),
               speed[:A, :net_http_keepalive] >= 2),
        target("B: 8 threads, no latency ≥ 2× net_http_keepalive", ratio(speed[:B, :net_http_keepalive]),
               speed[:B, :net_http_keepalive] >= 2),
        target("C: 8 threads at 50 ms ≥ 97% of the ideal #{ideal_c.round} msg/s",
               "#{m[:C][:wecom][:msg_per_s].round(1)} msg/s = #{percent(m[:C][:wecom][:msg_per_s] / ideal_c)}",
               m[:C][:wecom][:msg_per_s] >= 0.97 * ideal_c),
        target("D: #{workloads.last[:n]} msgs at 50 ms with send_batch(#{BATCH_CONCURRENCY}) under 1.0 s",
               "#{format('%.3f', m[:D][:wecom][:seconds])} s", m[:D][:wecom][:seconds] < 1.0),
        target("D: ≥ 6× the (faster) 8-thread pool", ratio(m[:D][:wecom][:msg_per_s] / d_pool),
               m[:D][:wecom][:msg_per_s] >= 6 * d_pool),
        target("CPU per message ≤ ¼ of httparty_seed's, every workload",
               cpu.map { |key, r| "#{key} #{ratio(r)}" }.join(", ") + " less", cpu.values.all? { |r| r >= 4 }),
        target("peak RSS ≤ net_http_keepalive's + 10 MB, every workload",
               rss.map { |key, mb| "#{key} #{format('%+.1f', mb)} MB" }.join(", "), rss.values.all? { |mb| mb <= 10 }),
        target("A against nginx: ≥ 65% of wrk over one connection",
               percent(results[:nginx][:medians][:A][:wecom][:msg_per_s] / results[:nginx][:wrk][1]),
               results[:nginx][:medians][:A][:wecom][:msg_per_s] >= 0.65 * results[:nginx][:wrk][1]),
        target("A against nginx: ≥ 4× httparty_seed, ≥ 2× net_http_keepalive",
               %i[httparty_seed net_http_keepalive].map { |c| ratio(nginx_speed(results, :A, c)) }.join(", "),
               nginx_speed(results, :A, :httparty_seed) >= 4 && nginx_speed(results, :A, :net_http_keepalive) >= 2),
        target("require adds ≤ 30 ms", "#{format('%.1f', results[:require][:added_ms])} ms",
               results[:require][:added_ms] <= 30),
      ]
    end

    def nginx_speed(results, key, other)
      m = results[:nginx][:medians][key]
      m[:wecom][:msg_per_s] / m[other][:msg_per_s]
    end

    def ideal_c(workload) = workload[:threads] / workload[:latency]
    def target(description, measured, met) = { target: description, measured: measured, met: met }
    def ratio(value) = format(value >= 10 ? "%.0f×" : "%.1f×", value)
    def percent(value) = format("%.1f%%", value * 100)
  end
end
