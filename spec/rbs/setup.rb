# frozen_string_literal: true

# Loaded by bin/rbs-check after rbs/test/setup (which hooks every WeCom::* method that sig/
# declares and raises RBS::Test::Tester::TypeError on a call or return outside its signature).
#
# One exception: a call whose arguments are outside the signature and that the method refused
# with ArgumentError (or WeCom::ConfigurationError, for settings) is the suite checking bad
# input, which the signatures rightly exclude. Such a call still fails if the method returned
# normally, raised anything else, or the error was in the return value or a block: wrong
# input that is accepted is reported.
require "rbs/test"

module WeComRbsCheck
  REFUSALS = [ArgumentError, "WeCom::ConfigurationError"].freeze
  ARGUMENT_ERRORS = [RBS::Test::Errors::ArgumentTypeError, RBS::Test::Errors::ArgumentError,
                     RBS::Test::Errors::MissingBlockError].freeze

  def self.refused?(trace)
    call = trace.method_call
    return false unless call.exception?

    REFUSALS.any? do |refusal|
      klass = refusal.is_a?(String) ? Object.const_get(refusal) : refusal
      call.exception.is_a?(klass)
    end
  end

  # RBS::Test::Tester::MethodCallTester#call, with refused bad input let through.
  module RefusedInputIsFine
    def call(receiver, trace)
      super
    rescue RBS::Test::Tester::TypeError => e
      raise unless WeComRbsCheck.refused?(trace) && e.errors.all? { |error| ARGUMENT_ERRORS.include?(error.class) }
    rescue NoMethodError
      # rbs's own checks call #is_a? and the like on each value: a BasicObject argument (outside
      # every signature) makes them fail. Refused by the method, it is bad input as above.
      raise unless WeComRbsCheck.refused?(trace)
    end
  end

  # rbs shows a mismatched value with its #inspect; the suite's bad input includes a BasicObject
  # and objects whose #inspect raises, which must be reported, not crash the report.
  module InspectAnything
    def inspect_(obj)
      super
    rescue StandardError, NotImplementedError
      begin
        RBS::Test::INSPECT.bind_call(obj)
      rescue StandardError
        "(an object that cannot be inspected)"
      end
    end
  end
end

RBS::Test::Tester::MethodCallTester.prepend(WeComRbsCheck::RefusedInputIsFine)
RBS::Test::Errors.singleton_class.prepend(WeComRbsCheck::InspectAnything)
