# frozen_string_literal: true

# The precompiled platform gem: wecom-VERSION-x86_64-linux.gem holds one extension per Ruby the
# suite runs on (lib/wecom/3.1/, lib/wecom/3.3/, loaded by RUBY_VERSION: WeCom::NativeLibrary)
# and no `extensions` entry, so installing it runs no compiler. The source gem (rake build) stays
# for other platforms and Rubies.

require "rbconfig"
require "fileutils"
require "rubygems/package"
require "shellwords"

# The Rubies a platform gem is built for: this machine's, and 3.3 in the Debian 13 root
# (bin/ruby-root). NATIVE_RUBIES="3.1" builds a gem for one.
NATIVE_RUBIES = ENV.fetch("NATIVE_RUBIES", "3.1 3.3").split.freeze
NATIVE_DIR = File.join(__dir__, "..", "tmp", "native")

# The newest glibc symbol version a library needs: the oldest glibc it runs on.
def glibc_needed(library)
  versions = `objdump -T #{library.shellescape}`.scan(/GLIBC_(\d+(?:\.\d+)+)/).flatten
  versions.max_by { |version| Gem::Version.new(version) }
end

namespace :native do
  desc "Build this Ruby's extension without the test hooks into tmp/native/<major.minor>/ (the platform gem's)"
  task :build do
    abi = RUBY_VERSION[/\A\d+\.\d+/]
    build_dir = File.join(NATIVE_DIR, "build-#{abi}")
    FileUtils.mkdir_p(build_dir)
    # The same cargo target dir as `rake compile`: only the extension crate is built again for
    # the other feature set; the dependencies are shared.
    env = { "WECOM_CARGO_FEATURES" => "", "CARGO_TARGET_DIR" => File.expand_path("../target/ruby-#{abi}", __dir__) }
    Dir.chdir(build_dir) do
      sh env, RbConfig.ruby, File.expand_path("../ext/wecom/extconf.rb", __dir__)
      sh env, "make", "install", "sitearchdir=#{File.join(build_dir, 'lib')}"
    end
    library = "wecom_native.#{RbConfig::CONFIG['DLEXT']}"
    destination = File.join(NATIVE_DIR, abi)
    FileUtils.mkdir_p(destination)
    FileUtils.cp(File.join(build_dir, "lib", "wecom", library), destination)
    # The symbol table only serves debuggers: 7.5 MB → 5.9 MB. (Panics never reach a backtrace.)
    sh "strip", "--strip-unneeded", File.join(destination, library)
  end
end

desc "Build pkg/wecom-VERSION-x86_64-linux.gem: precompiled for Ruby #{NATIVE_RUBIES.join(' and ')}, installs without a compiler"
task :native do
  host_abi = RUBY_VERSION[/\A\d+\.\d+/]
  NATIVE_RUBIES.each do |abi|
    if abi == host_abi
      Rake::Task["native:build"].invoke
    elsif abi == "3.3"
      sh "bin/ruby-root", "run", "rake", "native:build"
    else
      abort "rake native: no Ruby #{abi} here (this machine's is #{host_abi}; bin/ruby-root has 3.3)"
    end
  end

  source = Gem::Specification.load(File.expand_path("../wecom.gemspec", __dir__))
  spec = source.dup
  spec.platform = Gem::Platform.new("x86_64-linux")
  spec.extensions = []
  # Each build loads only on its own Ruby's ABI: a Ruby in between (3.2) gets a LoadError that
  # names the source gem (WeCom::NativeLibrary.load).
  spec.required_ruby_version = [">= #{NATIVE_RUBIES.min}.0", "< #{NATIVE_RUBIES.max.next}.dev"]
  libraries = NATIVE_RUBIES.map { |abi| "lib/wecom/#{abi}/wecom_native.#{RbConfig::CONFIG['DLEXT']}" }
  # Neither the Rust sources nor the build script: nothing is built on install.
  spec.files = source.files.reject { |file| file.start_with?("ext/", "crates/", "Cargo.") } + libraries

  stage = File.join(NATIVE_DIR, "stage")
  FileUtils.rm_rf(stage)
  source.files.each do |file|
    next unless spec.files.include?(file)

    FileUtils.mkdir_p(File.join(stage, File.dirname(file)))
    FileUtils.cp(file, File.join(stage, file))
  end
  NATIVE_RUBIES.zip(libraries).each do |abi, library|
    built = File.join(NATIVE_DIR, abi, File.basename(library))
    FileUtils.mkdir_p(File.join(stage, File.dirname(library)))
    FileUtils.cp(built, File.join(stage, library))
    puts "rake native: Ruby #{abi}: #{library} needs glibc >= #{glibc_needed(built)}"
  end

  FileUtils.mkdir_p("pkg")
  gem = Dir.chdir(stage) { Gem::Package.build(spec) }
  FileUtils.mv(File.join(stage, gem), File.join("pkg", gem))
  puts "rake native: pkg/#{gem}"
end
