# frozen_string_literal: true

require "open3"
require "tmpdir"
require "rubygems/package"

# The gem as users get it: packaged by `gem build`, compiled by `gem install` into an empty
# GEM_HOME (no rb_sys gem, no other gem), then loaded with `ruby -rwecom` outside the checkout.
RSpec.describe "The packaged gem", :slow do
  root = File.expand_path("..", __dir__)

  before(:all) do
    @dir = Dir.mktmpdir("wecom-gem")
    @gem = File.join(@dir, "wecom.gem")
    out, status = Open3.capture2e("gem", "build", "wecom.gemspec", "--output", @gem, chdir: root)
    raise "gem build failed:\n#{out}" unless status.success?

    @gem_home = File.join(@dir, "gems")
    # Reusing the checkout's cargo target dir keeps the compile incremental; it is still a real
    # `gem install` running extconf.rb and make in the installed gem's directory.
    env = { "GEM_HOME" => @gem_home, "GEM_PATH" => @gem_home,
            "CARGO_TARGET_DIR" => File.join(root, "target", "ruby-#{WeCom::NativeLibrary::ABI}"),
            "WECOM_CARGO_FEATURES" => nil }
    @install_output, status = Open3.capture2e(env, "gem", "install", "--local", "--no-document", @gem, chdir: @dir)
    raise "gem install failed:\n#{@install_output}" unless status.success?
  end

  after(:all) { FileUtils.rm_rf(@dir) }

  it "packages the sources and Cargo.lock, and nothing built" do
    files = Gem::Package.new(@gem).contents
    expect(files).to include("Cargo.lock", "Cargo.toml", "ext/wecom/extconf.rb", "ext/wecom/src/lib.rs",
                             "crates/wecom-core/src/lib.rs", "lib/wecom.rb", "README.md", "README.zh-CN.md",
                             "lib/generators/wecom/install/templates/wecom.yml", "sig/wecom.rbs",
                             "sig/wecom/client.rbs")
    expect(files.grep(%r{\Atarget/|\.so\z|\.gem\z|\Atmp/|\Aspec/})).to eq([])
  end

  it "installs into an empty GEM_HOME and sends through the emulator with ruby -rwecom" do
    script = <<~RUBY
      client = WeCom::Client.new
      result = client.send_text("from the installed gem", to: "zhangsan")
      native = $LOADED_FEATURES.grep(/wecom_native/).first
      hooks = WeCom::Native.respond_to?(:panic_for_test)
      puts [result.msgid, native, hooks].join(" ")
    RUBY
    env = { "GEM_HOME" => @gem_home, "GEM_PATH" => @gem_home, "RUBYLIB" => nil, "RUBYOPT" => nil,
            "WECOM_CORP_ID" => credentials[:corp_id], "WECOM_SECRET" => credentials[:secret],
            "WECOM_AGENT_ID" => credentials[:agent_id].to_s, "WECOM_BASE_URL" => emulator.base_url }
    out, status = Open3.capture2e(env, RbConfig.ruby, "-rwecom", "-e", script, chdir: @dir)
    expect(status).to be_success, out
    msgid, native, hooks = out.split
    expect(native).to start_with(@gem_home)
    expect(hooks).to eq("false") # the test suite's hooks are not in the library users install
    expect(emulator.messages.last["text"]["content"]).to eq("from the installed gem")
    expect(msgid).to be_a(String).and(satisfy { |id| !id.empty? })
  end
end
