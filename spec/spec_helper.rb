# frozen_string_literal: true

# The suite drives the compiled extension (lib/wecom/<major.minor>/wecom_native.so, built by `rake compile`)
# over real HTTP against WeCom::Emulator on 127.0.0.1.
$LOAD_PATH.unshift File.expand_path("../lib", __dir__)
require "wecom"
require "timeout"
require "securerandom"

Dir[File.join(__dir__, "support", "**", "*.rb")].sort.each { |file| require file }

RSpec.configure do |config|
  config.expect_with(:rspec) { |c| c.syntax = :expect }
  config.disable_monkey_patching!
  config.order = :random
  Kernel.srand config.seed
  config.include EmulatorHelpers
  config.include TmpFiles

  config.before do
    WeCom.reset_configuration!
  end

  # GC.stress makes every allocation run the GC: a Ruby value the extension failed to keep
  # alive is then freed at once and the suite crashes. `WECOM_GC_STRESS=1 rspec` turns it on.
  if ENV["WECOM_GC_STRESS"] == "1"
    config.around do |example|
      GC.stress = true
      example.run
    ensure
      GC.stress = false
    end
  end
end
