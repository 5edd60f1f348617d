# frozen_string_literal: true

module WeCom
  # Where the compiled extension for the running Ruby is. A native library is built against one
  # Ruby's ABI, so each Ruby gets its own: lib/wecom/<major.minor>/wecom_native.so, written by
  # `rake compile` and shipped (one per Ruby) in the precompiled platform gem. The source gem has
  # no such directory: `gem install` compiles into the gem's extension directory, which RubyGems
  # puts on the load path as wecom/wecom_native.
  module NativeLibrary
    # The running Ruby's major.minor, e.g. "3.3": the ABI a compiled extension is tied to.
    ABI = RUBY_VERSION[/\A\d+\.\d+/]

    # The directory holding the running Ruby's own build (it may not exist).
    # @return [String]
    def self.directory
      File.join(__dir__, ABI)
    end

    # What to `require`: the running Ruby's own build when present, else the source gem's.
    # @return [String]
    def self.feature
      own = File.join(directory, "wecom_native")
      File.exist?("#{own}.#{RbConfig::CONFIG['DLEXT']}") ? own : "wecom/wecom_native"
    end
  end
end
