# frozen_string_literal: true

require "open3"
require "tmpdir"

# The API reference is complete: `yard stats --list-undoc` (Debian's yard, the options in
# .yardopts) finds no public class, module, constant or method without documentation.
RSpec.describe "The YARD API reference" do
  root = File.expand_path("..", __dir__)

  it "documents every public class, module, constant and method" do
    out, status = Open3.capture2e("yard", "stats", "--list-undoc", "--no-save", chdir: root)
    expect(status).to be_success, out
    undocumented = out[/^Undocumented Objects:\n(.*)/m, 1].to_s.lines.map(&:strip)
                      .reject { |line| line.empty? || line.start_with?("(in file:") }
    expect(undocumented).to eq([]), "undocumented (add a YARD comment):\n#{undocumented.join("\n")}"
    expect(out).to match(/^ 100\.00% documented$/)
    # The objects counted are the library's: the reference is not silently empty.
    expect(out[/^Methods:\s+(\d+)/, 1].to_i).to be > 300
  end

  it "writes the HTML reference (rake doc), the Chinese README among its files" do
    Dir.mktmpdir("wecom-doc") do |dir|
      out, status = Open3.capture2e("yard", "doc", "--no-save", "--output-dir", dir, chdir: root)
      expect(status).to be_success, out
      expect(File.read(File.join(dir, "WeCom", "Client.html"))).to include("send_text", "update_template_card")
      expect(File.read(File.join(dir, "file.README.zh-CN.html"), encoding: "UTF-8")).to include("企业微信")
    end
  end
end
