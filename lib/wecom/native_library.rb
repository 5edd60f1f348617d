# frozen_string_literal: true

module WeCom
  # Where the compiled extension for the running Ruby is. A native library is built against one
  # Ruby's ABI, so each Ruby gets its own: lib/wecom/<major.minor>/wecom_native.so, written by
  # `rake compile` and shipped (one per Ruby) in the precompiled platform gem (`rake native`). The
  # source gem has no such directory: `gem install` compiles into the gem's extension directory,
  # which RubyGems puts on the load path as wecom/wecom_native.
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

    # The Rubies (major.minor) that have a build under lib/wecom/.
    # @return [Array<String>]
    def self.builds
      Dir[File.join(__dir__, "*", "wecom_native.#{RbConfig::CONFIG['DLEXT']}")].map { |path| File.basename(File.dirname(path)) }.sort
    end

    # Loads the extension. On a Ruby the precompiled gem has no build for, the LoadError says
    # which Rubies it has and that the source gem compiles for this one.
    # @return [Boolean] false when it was loaded already
    def self.load
      require feature
    rescue LoadError
      raise if builds.empty? || builds.include?(ABI)

      raise LoadError, "wecom has precompiled builds for Ruby #{builds.join(' and ')}, not #{RUBY_VERSION}: " \
                       "install the source gem, which compiles for this Ruby (gem install wecom --platform ruby; " \
                       "needs Rust's cargo and libclang), or run rake compile in a checkout"
    end
  end
end
