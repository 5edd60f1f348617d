# frozen_string_literal: true

require_relative "lib/wecom/version"

Gem::Specification.new do |spec|
  spec.name = "wecom"
  spec.version = WeCom::VERSION
  spec.authors = ["The wecom developers"]
  spec.summary = "WeCom (企业微信 / WeChat Work) app messages for Rails, with a fast, thread-safe Rust core"
  spec.description = <<~DESC
    Send WeCom app messages from Ruby and Rails jobs. A Rust core caches access tokens (one
    fetch in flight per app), pools connections, retries what is safe to retry, and waits on the
    network with the GVL released and interruptibly. Ships a local WeCom emulator for tests.
  DESC
  spec.license = "MIT"
  spec.required_ruby_version = ">= 3.1"
  spec.metadata["rubygems_mfa_required"] = "true"
  # PLACEHOLDER: the project has no public home yet. These .invalid addresses (a TLD reserved never
  # to resolve) stand in until it has one; replace `home` and the URIs below together.
  home = "https://wecom.invalid/PLACEHOLDER"
  spec.homepage = home
  spec.metadata["homepage_uri"] = home
  spec.metadata["source_code_uri"] = "#{home}/source"
  spec.metadata["changelog_uri"] = "#{home}/source/blob/main/CHANGELOG.md"
  spec.metadata["documentation_uri"] = "#{home}/doc"

  # Exactly what the build and the gem need: Ruby sources and generator templates, the `wecom`
  # command, the Rust workspace's sources and Cargo.lock. Never target/ or a compiled library
  # from a checkout.
  spec.files = Dir.chdir(__dir__) do
    Dir["lib/**/*.rb", "lib/generators/**/templates/*", "exe/*",
        "ext/wecom/extconf.rb", "ext/wecom/Cargo.toml", "ext/wecom/src/**/*.rs",
        "crates/*/Cargo.toml", "crates/*/src/**/*.rs", "Cargo.toml", "Cargo.lock",
        "README.md", "README.zh-CN.md", "CHANGELOG.md", "LICENSE",
        # The RBS signatures, for Steep and `rbs -I sig` users (`rbs collection` finds them too).
        "sig/**/*.rbs"]
  end
  spec.bindir = "exe"
  spec.executables = ["wecom"]
  spec.require_paths = ["lib"]
  spec.extensions = ["ext/wecom/extconf.rb"]
end
