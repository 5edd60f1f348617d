# frozen_string_literal: true

require "active_job"

module WeCom
  # Runs a WeCom::Callback::Handler rule marked `later: true`, after the endpoint has answered
  # WeCom. Arguments: the handler class's name, the message's fields (Message#to_h) and the
  # endpoint's name. The rule is found again by matching the message, so a deploy between enqueue
  # and perform runs the rule that matches now (none: the job does nothing). WeCom was answered
  # already, so the rule cannot reply: #reply raises ArgumentError. A failure raises, for
  # ActiveJob's retries (the endpoint's claim stays: WeCom does not deliver it again).
  class CallbackJob < ActiveJob::Base
    queue_as :default

    # Runs the later: true rule of the handler class named `handler_name` on the message
    # made from `fields` (the endpoint's name finds its callback for replies).
    # @return [void]
    def perform(handler_name, fields, endpoint = nil)
      handler = handler_class(handler_name)
      unless Hash === fields
        raise ArgumentError, "fields must be the message's fields (a Hash), got #{Messages::Check.class_of(fields)}"
      end

      message = Callback::Message.new(fields)
      rule = handler.rule_for(message)
      unless rule
        WeCom.logger&.info("WeCom callback #{endpoint || 'endpoint'}: #{handler_name} no longer has a rule for " \
                           "this #{message.event || message.msg_type}; the job did nothing")
        return
      end

      handler.run(rule, message, nil, later: true)
      nil
    end

    private

    def handler_class(name)
      handler = Object.const_get(name.to_s) if String === name && !name.empty?
      return handler if Class === handler && handler <= Callback::Handler

      raise ArgumentError, "#{name.inspect} is not a WeCom::Callback::Handler subclass"
    rescue NameError
      raise ArgumentError, "#{name.inspect} is not a WeCom::Callback::Handler subclass (no such constant)"
    end
  end
end
