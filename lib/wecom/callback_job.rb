# frozen_string_literal: true

require "active_job"

module WeCom
  # Runs a WeCom::Callback::Handler rule marked `later: true`, after the endpoint has answered
  # WeCom. Arguments: the handler class's name, the message's fields (Message#to_h) and the
  # endpoint's name. The rule is found again by matching the message, so a deploy between enqueue
  # and perform runs the rule that matches now. A failure raises, for ActiveJob's retries.
  class CallbackJob < ActiveJob::Base
    queue_as :default

    def perform(handler_name, fields, endpoint = nil)
      handler = Object.const_get(handler_name)
      message = Callback::Message.new(fields)
      rule = handler.rule_for(message)
      return unless rule

      content = handler.run(rule, message)
      return unless content

      raise ArgumentError, "#{handler_name}: a later: true rule cannot reply (WeCom was answered when the job was " \
                           "enqueued, for endpoint #{endpoint.inspect}); send a message with WeCom::Client instead"
    end
  end
end
