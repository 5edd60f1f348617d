# frozen_string_literal: true

require "open3"
require "tmpdir"

# Each Ruby loads the extension built for its own ABI (lib/wecom/<major.minor>/), so the Ruby 3.1
# and Ruby 3.3 builds can sit side by side in one checkout and in the precompiled gem.
RSpec.describe WeCom::NativeLibrary do
  lib = File.expand_path("../lib", __dir__)

  it "loads the running Ruby's own build from lib/wecom/<major.minor>/" do
    abi = RUBY_VERSION[/\A\d+\.\d+/]
    expect(described_class::ABI).to eq(abi)
    loaded = $LOADED_FEATURES.grep(/wecom_native/)
    expect(loaded).to eq([File.join(lib, "wecom", abi, "wecom_native.#{RbConfig::CONFIG['DLEXT']}")])
  end

  it "falls back to the source gem's wecom/wecom_native when there is no build for this Ruby" do
    Dir.mktmpdir("wecom-native-library") do |dir|
      FileUtils.mkdir_p(File.join(dir, "wecom"))
      FileUtils.cp(File.join(lib, "wecom", "native_library.rb"), File.join(dir, "wecom"))
      script = 'require "rbconfig"; require "wecom/native_library"; print WeCom::NativeLibrary.feature'
      out, status = Open3.capture2e(RbConfig.ruby, "-I", dir, "-e", script)
      expect(status).to be_success, out
      expect(out).to eq("wecom/wecom_native")
    end
  end

  it "prefers the Ruby's own build when it is there" do
    expect(described_class.feature).to eq(File.join(lib, "wecom", described_class::ABI, "wecom_native"))
  end
end
