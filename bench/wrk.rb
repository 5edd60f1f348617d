# frozen_string_literal: true

require "tmpdir"

module Bench
  # wrk (a C load generator, from Debian) POSTing the same message/send over `connections`
  # kept-alive connections: what the machine and the server can do with no Ruby in the client.
  module Wrk
    SCRIPT = <<~LUA
      wrk.method = "POST"
      wrk.headers["Content-Type"] = "application/json"
      wrk.body = '{"touser":"zhangsan","msgtype":"text","agentid":1000002,"text":{"content":"Interview reminder #1: today at 15:00"}}'
    LUA

    def self.available? = system("command -v wrk >/dev/null 2>&1")

    # Requests per second over `seconds`.
    def self.rate(base_url, connections:, seconds:) = run(base_url, connections: connections, seconds: seconds)[:req_per_s]

    # Requests per second over `seconds`, and wrk's CPU (user+sys) per request.
    def self.run(base_url, connections:, seconds:, token: Nginx::TOKEN)
      Dir.mktmpdir("wecom-bench-wrk") do |dir|
        script = File.join(dir, "send.lua")
        File.write(script, SCRIPT)
        threads = [connections, 2].min
        children = Process.times.then { |t| t.cutime + t.cstime }
        output = IO.popen(["wrk", "-t#{threads}", "-c#{connections}", "-d#{seconds}s", "-s", script,
                           "#{base_url}/cgi-bin/message/send?access_token=#{token}"], &:read)
        raise "wrk failed: #{output}" unless $?.success?
        raise "wrk saw errors: #{output}" if output.match?(/Non-2xx|Socket errors/)

        rate = Float(output[/^Requests\/sec:\s+([\d.]+)/, 1] || raise("no rate in wrk's output: #{output}"))
        cpu = Process.times.then { |t| t.cutime + t.cstime } - children
        requests = Integer(output[/(\d+) requests in/, 1] || raise("no count in wrk's output: #{output}"))
        { req_per_s: rate, requests: requests, cpu_ms_per_msg: cpu * 1000 / requests }
      end
    end
  end
end
