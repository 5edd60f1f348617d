# frozen_string_literal: true

require "open3"
require "tmpdir"
require "rubygems/package"

# The precompiled platform gem (`rake native`) as a production host gets it: installed into an
# empty GEM_HOME by a `gem` whose PATH holds nothing but ruby — no cargo, no cc, no libclang — so
# a compile could not even start; then loaded with `ruby -rwecom` outside the checkout.
#
# bin/test builds the gem for both Rubies once (WECOM_PLATFORM_GEM) and runs this on each; run
# alone, the spec builds a gem for the running Ruby only.
RSpec.describe "The precompiled platform gem", :slow do
  root = File.expand_path("..", __dir__)
  abi = WeCom::NativeLibrary::ABI

  before(:all) do
    @dir = Dir.mktmpdir("wecom-platform-gem")
    @gem = ENV.fetch("WECOM_PLATFORM_GEM") do
      out, status = Open3.capture2e({ "NATIVE_RUBIES" => abi }, "rake", "native", chdir: root)
      raise "rake native failed:\n#{out}" unless status.success?

      File.join(root, out[%r{^rake native: (pkg/\S+\.gem)$}, 1])
    end

    # A PATH with ruby alone: installing must not need anything else.
    @bin = File.join(@dir, "bin")
    FileUtils.mkdir_p(@bin)
    File.symlink(RbConfig.ruby, File.join(@bin, "ruby"))
    @gem_home = File.join(@dir, "gems")
    @env = { "GEM_HOME" => @gem_home, "GEM_PATH" => @gem_home, "PATH" => @bin, "RUBYLIB" => nil, "RUBYOPT" => nil,
             "CARGO" => nil, "CARGO_HOME" => nil, "RUSTUP_HOME" => nil, "LIBCLANG_PATH" => nil, "CC" => nil }
    gem_command = File.join(RbConfig::CONFIG["bindir"], "gem")
    started = Process.clock_gettime(Process::CLOCK_MONOTONIC)
    @install_output, status = Open3.capture2e(@env, RbConfig.ruby, gem_command, "install", "--local", "--no-document",
                                              @gem, chdir: @dir)
    @install_seconds = Process.clock_gettime(Process::CLOCK_MONOTONIC) - started
    raise "gem install failed:\n#{@install_output}" unless status.success?

    # Said once per run, for the README's number.
    warn format("platform gem: gem install took %.1f s on Ruby %s", @install_seconds, RUBY_VERSION)
  end

  after(:all) { FileUtils.rm_rf(@dir) }

  it "holds a build for this Ruby (and both Rubies when bin/test built it), and nothing to compile" do
    package = Gem::Package.new(@gem)
    expect(package.spec.platform.to_s).to eq("x86_64-linux")
    expect(package.spec.extensions).to eq([])
    files = package.contents
    expect(files).to include("lib/wecom/#{abi}/wecom_native.so", "lib/wecom.rb", "exe/wecom", "sig/wecom.rbs")
    expect(files.grep(/wecom_native/)).to eq(%w[lib/wecom/3.1/wecom_native.so lib/wecom/3.3/wecom_native.so]) \
      if ENV["WECOM_PLATFORM_GEM"]
    expect(files.grep(%r{\A(ext|crates|target|tmp|spec)/|\ACargo\.})).to eq([])
    expect(@install_output).not_to match(/Building native extensions/)
  end

  it "has a PATH for the install with no compiler or cargo on it" do
    %w[cc gcc cargo rustc clang make].each do |tool|
      _, status = Open3.capture2e(@env, RbConfig.ruby, "-e", "exit(system(#{tool.dump}, '--version', out: File::NULL, err: File::NULL) ? 0 : 1)")
      expect(status).not_to be_success, "#{tool} was reachable from the install's PATH"
    end
  end

  it "sends through the emulator with ruby -rwecom, loading its own Ruby's build without the test hooks" do
    script = <<~RUBY
      result = WeCom::Client.new.send_text("from the precompiled gem", to: "zhangsan")
      puts [result.msgid, $LOADED_FEATURES.grep(/wecom_native/).first, WeCom::Native.respond_to?(:panic_for_test)].join(" ")
    RUBY
    env = @env.merge("WECOM_CORP_ID" => credentials[:corp_id], "WECOM_SECRET" => credentials[:secret],
                     "WECOM_AGENT_ID" => credentials[:agent_id].to_s, "WECOM_BASE_URL" => emulator.base_url)
    out, status = Open3.capture2e(env, RbConfig.ruby, "-rwecom", "-e", script, chdir: @dir)
    expect(status).to be_success, out
    msgid, native, hooks = out.split
    expect(native).to start_with(@gem_home).and(end_with("/lib/wecom/#{abi}/wecom_native.so"))
    expect(hooks).to eq("false")
    expect(msgid).not_to be_empty
    expect(emulator.messages.last["text"]["content"]).to eq("from the precompiled gem")
  end

  it "tells a Ruby it has no build for to take the source gem" do
    # A copy of the installed gem's lib/ with only another Ruby's build in it.
    lib = Dir[File.join(@gem_home, "gems", "wecom-*", "lib")].first
    copy = File.join(@dir, "other-ruby", "lib")
    FileUtils.mkdir_p(File.dirname(copy))
    FileUtils.cp_r(lib, copy)
    # Every build goes (the gem bin/test makes has one for each Ruby), then a 9.9 one comes.
    Dir[File.join(copy, "wecom", "*", "wecom_native.so")].each { |build| FileUtils.rm_rf(File.dirname(build)) }
    FileUtils.mkdir_p(File.join(copy, "wecom", "9.9"))
    FileUtils.touch(File.join(copy, "wecom", "9.9", "wecom_native.so"))
    out, status = Open3.capture2e(@env, RbConfig.ruby, "-I", copy, "-e", 'require "wecom"', chdir: @dir)
    expect(status).not_to be_success
    expect(out).to include("wecom has precompiled builds for Ruby 9.9, not #{RUBY_VERSION}")
      .and include("gem install wecom --platform ruby")
  end
end
