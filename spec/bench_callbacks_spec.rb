# frozen_string_literal: true

require "open3"
require "rbconfig"

# Keeps the callback benchmark's plain-Ruby implementation honest (no timings asserted): the
# benchmark, run with 20 callbacks, checks that every implementation parses the fields WeCom's
# side sent and answers with a reply WeCom's side opens, and that the plain-Ruby code refuses a
# bad signature, a stale timestamp and a wrong receive id; any mismatch exits non-zero. It runs
# in its own processes, so ActiveSupport's Hash.from_xml never loads into the suite.
RSpec.describe "bench/callbacks.rb" do
  it "agrees with wecom on 20 callbacks, and its plain-Ruby code refuses what wecom refuses" do
    root = File.expand_path("..", __dir__)
    out, err, status = Open3.capture3(RbConfig.ruby, File.join(root, "bench", "callbacks.rb"),
                                      "--n", "20", "--rounds", "1", "--no-write", chdir: root)
    expect(status).to be_success, err
    expect(out).to include("plain_ruby refused bad signature, stale timestamp, wrong receive id")
    expect(out).to include("60 sampled callbacks (1 in 1) parsed to the fields sent") # 20 each, 3 implementations
  end
end
