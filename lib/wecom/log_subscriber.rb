# frozen_string_literal: true

require "active_support"
require "active_support/log_subscriber"
require "wecom"

module WeCom
  # Logs wecom's events to WeCom.logger (in Rails, Rails.logger):
  #
  #   WeCom deliver text to 1 users, 0 parties, 0 tags (msgid c0ffee) 12.3ms
  #   WeCom request /cgi-bin/message/send HTTP 200, errcode 45033, attempt 1 3.1ms
  #   WeCom discarded text (idempotency key interview-42) after 1 attempt(s): WeCom::APIError: ...
  #   WeCom callback hr event template_card_event: HTTP 200 4.2ms
  #   WeCom hr directory userid_by_email (found) 8.1ms
  #
  # Lines carry no secret, token or message content. Requiring this file attaches it.
  class LogSubscriber < ActiveSupport::LogSubscriber
    # One app message sent (deliver.wecom): its type, recipients, msgid and time.
    # @return [void]
    def deliver(event)
      payload = event.payload
      outcome(event, "WeCom #{app(payload)}deliver #{payload[:msgtype]} to #{recipients(payload)}",
              "(msgid #{payload[:msgid]})")
    end

    # A template card updated (update_template_card.wecom).
    # @return [void]
    def update_template_card(event)
      payload = event.payload
      outcome(event, "WeCom #{app(payload)}update_template_card for #{recipients(payload)}")
    end

    # One request to a WeCom::Callback::Endpoint (which logs why it refused or failed itself).
    def callback(event)
      payload = event.payload
      what = if payload[:event] then "event #{payload[:event]}"
             elsif payload[:msg_type] then "#{payload[:msg_type]} message"
             else payload[:kind].to_s.tr("_", " ")
             end
      retry_note = payload[:duplicate] ? " (a retry)" : ""
      log(payload[:status].to_i >= 500 ? :warn : :info,
          "WeCom callback #{payload[:endpoint] || 'endpoint'} #{what}#{retry_note}: HTTP #{payload[:status]} " \
          "#{format('%.1fms', payload[:duration].to_f)}")
    end

    # A batch sent (deliver_batch.wecom): how many messages, how many failed.
    # @return [void]
    def deliver_batch(event)
      payload = event.payload
      log(:info, "WeCom #{app(payload)}deliver_batch #{payload[:messages]} messages, " \
                 "#{payload[:failed] || 'all'} failed #{ms(event)}")
    end

    # One HTTP request to WeCom (request.wecom), at debug: path, status, errcode, time.
    # @return [void]
    def request(event)
      payload = event.payload
      outcome = payload[:failure] ? "no answer (#{payload[:failure]})" : "HTTP #{payload[:status]}"
      outcome += ", errcode #{payload[:errcode]}" if payload[:errcode]
      log(:debug, "WeCom #{app(payload)}request #{payload[:path]} #{outcome}, attempt #{payload[:attempt]} " \
                  "#{format('%.1fms', payload[:duration])}")
    end

    # A group robot's message (robot.wecom).
    # @return [void]
    def robot(event)
      payload = event.payload
      outcome(event, "WeCom robot #{payload[:robot]} #{payload[:msgtype]}")
    end

    # A media upload (upload.wecom): type, size, media_id.
    # @return [void]
    def upload(event)
      payload = event.payload
      who = payload[:robot] ? "robot #{payload[:robot]} " : app(payload)
      outcome(event, "WeCom #{who}upload #{payload[:type]} of #{payload[:size]} bytes", "(media_id #{payload[:media_id]})")
    end

    # An app group chat call (chat.wecom): create, update, get or send.
    # @return [void]
    def chat(event)
      payload = event.payload
      outcome(event, "WeCom #{app(payload)}chat #{payload[:action]}")
    end

    # A directory call (directory.wecom): lookups by email or mobile, user, departments,
    # each_user_id pages, sign-in exchanges. Never the address looked up (a person's email or
    # mobile), only whether someone was found.
    # @return [void]
    def directory(event)
      payload = event.payload
      found = { true => "(found)", false => "(nobody)" }[payload[:found]]
      outcome(event, "WeCom #{app(payload)}directory #{payload[:action]}", found)
    end

    # WeCom::DeliveryJob gave up on a message.
    def discard(event)
      payload = event.payload
      error = payload[:error]
      key = " (idempotency key #{payload[:idempotency_key]})" if payload[:idempotency_key]
      log(:error, "WeCom #{app(payload)}discarded #{payload[:msgtype] || 'message'}#{key} after " \
                  "#{payload[:attempts]} attempt(s): #{error.class}: #{error.message}")
    end

    # WeCom.logger (Rails.logger in a Rails app): where the lines go.
    # @return [Logger, nil]
    def logger
      WeCom.logger
    end

    private

    def log(level, line)
      logger&.public_send(level, line)
    end

    # A call's line: at info with `success` when it worked, at warn with the error when it raised.
    def outcome(event, line, success = nil)
      error = event.payload[:exception]
      log(error ? :warn : :info, [line, error ? "failed: #{error.first}" : success, ms(event)].compact.join(" "))
    end

    def recipients(payload)
      return "@all" if payload[:all]

      "#{payload[:users]} users, #{payload[:parties]} parties, #{payload[:tags]} tags"
    end

    def app(payload)
      payload[:app] ? "#{payload[:app]} " : ""
    end

    def ms(event)
      format("%.1fms", event.duration)
    end
  end
end

WeCom::LogSubscriber.attach_to :wecom
