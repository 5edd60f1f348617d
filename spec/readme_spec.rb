# frozen_string_literal: true

require "open3"
require "tmpdir"

# The README's examples marked runnable, each run as a user would run it (a new Ruby process
# with wecom loaded) against an emulator standing in for WeCom, so the README cannot rot.
RSpec.describe "README.md examples" do
  root = File.expand_path("..", __dir__)
  marker = ReadmeRunnable::MARKER
  examples = File.read(File.join(root, "README.md")).scan(/^#{Regexp.escape(marker)}\n```ruby\n(.*?)^```$/m).flatten

  # What the examples take as given: a client, a media_id, an earlier result, bytes of a PDF.
  prelude = <<~RUBY
    client = WeCom::Client.new
    media_id = client.upload_media("resume.pdf", type: :file)
    result = client.send_text("from the prelude", to: "zhangsan")
    pdf_bytes = File.binread("resume.pdf")
  RUBY
  # Requests the prelude makes: gettoken, upload, send.
  prelude_requests = 3

  it "marks the examples of every main section runnable" do
    expect(examples.size).to eq(ReadmeRunnable::EXAMPLES)
  end

  examples.each do |code|
    it "runs #{code.lines.first.strip[0, 70].inspect}" do
      emu = start_emulator(corp_id: "ww1234567890abcdef", secret: "readme-secret", agent_id: 1_000_002)
      Dir.mktmpdir("wecom-readme") do |dir|
        %w[resume.pdf report.pdf scorecards.pdf].each { |name| File.write(File.join(dir, name), "%PDF-1.4 #{name}") }
        File.write(File.join(dir, "intro.mp4"), "\x00\x00\x00\x18ftypmp42 a short video".b)
        File.write(File.join(dir, "chart.png"), "\x89PNG\r\n\x1a\n a small chart".b)
        env = { "RUBYLIB" => File.join(root, "lib"), "WECOM_CORP_ID" => "ww1234567890abcdef",
                "WECOM_SECRET" => "readme-secret", "WECOM_AGENT_ID" => "1000002", "WECOM_BASE_URL" => emu.base_url,
                "WECOM_ROBOT_KEY" => "readme-robot-key" }
        out, status = Open3.capture2e(env, RbConfig.ruby, "-rwecom", "-e", prelude + code, chdir: dir)
        expect(status).to be_success, out
      end
      expect(emu.requests.size).to be > prelude_requests # the example itself reached WeCom
    end
  end
end
