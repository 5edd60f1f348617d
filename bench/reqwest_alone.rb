# frozen_string_literal: true

require "json"
require "open3"

module Bench
  # reqwest set up as wecom-core's transport sets it up, with nothing of wecom around it
  # (crates/wecom-core/examples/reqwest_alone.rs): the floor under every wecom send, measured
  # against the same nginx as wrk and the Ruby clients.
  module ReqwestAlone
    ROOT = File.expand_path("..", __dir__)
    BINARY = File.join(ROOT, "target", "release", "examples", "reqwest_alone")

    # Builds the example (release, like the extension) once per run.
    def self.build!
      _, errors, status = Open3.capture3("cargo", "build", "--quiet", "--release", "--example", "reqwest_alone",
                                         "-p", "wecom-core", chdir: ROOT)
      raise "building bench's reqwest_alone failed: #{errors}" unless status.success?
    end

    # `sends` messages over `threads` threads, each with its own runtime, client and connection.
    def self.run(base_url, sends:, threads:, token: Nginx::TOKEN)
      output, errors, status = Open3.capture3(BINARY, base_url, token, sends.to_s, threads.to_s)
      raise "reqwest_alone failed: #{errors}" unless status.success?

      figures = JSON.parse(output, symbolize_names: true)
      { msg_per_s: figures[:sends] / figures[:seconds], cpu_ms_per_msg: figures[:cpu_seconds] * 1000 / figures[:sends],
        requests: figures[:sends] + figures[:warm_up] }
    end
  end
end
