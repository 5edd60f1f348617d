# frozen_string_literal: true

require "wecom"

module WeCom
  module Testing
    # expect { ... }.to have_sent_wecom_message(:text).to("zhangsan").with_content(/15:00/)
    #
    # Passes when the block sent (recorded, under WeCom.delivery_method = :test) a message
    # matching every criterion: the type, `to` (user ids it went to), `with_content` (a String it
    # contains or a Regexp it matches), `from_app`, `from_robot` (a Webhook's name), `in_chat`
    # (an app group chat's id); `exactly(n)` checks how many matched
    # (default: at least one).
    class SentMessageMatcher
      def initialize(type)
        @criteria = { type: type }
        @count = nil
      end

      # Only messages that went to every one of `users`.
      # @return [self]
      def to(*users)
        @criteria[:to] = users.flatten
        self
      end

      # Only messages whose text contains the String or matches the Regexp.
      # @return [self]
      def with_content(content)
        @criteria[:content] = content
        self
      end

      # Only messages sent as `app` (a registered app's name).
      # @return [self]
      def from_app(app)
        @criteria[:app] = app
        self
      end

      # Only a group robot's messages, by the Webhook's name.
      # @return [self]
      def from_robot(name)
        @criteria[:robot] = name
        self
      end

      # Only messages posted to the app group chat `chat_id`.
      # @return [self]
      def in_chat(chat_id)
        @criteria[:chat] = chat_id
        self
      end

      # Exactly `count` matching messages (default: at least one).
      # @return [self]
      def exactly(count)
        @count = count
        self
      end

      # Exactly one matching message.
      # @return [self]
      def once
        exactly(1)
      end

      # Reads as exactly(2).times.
      # @return [self]
      def times
        self
      end

      def supports_block_expectations?
        true
      end

      def matches?(block)
        raise ArgumentError, "have_sent_wecom_message takes a block: expect { ... }.to have_sent_wecom_message" unless block.respond_to?(:call)

        before = WeCom::Testing.deliveries.size
        block.call
        @sent = WeCom::Testing.deliveries.drop(before)
        @matched = WeCom::Testing.matching(@sent, **@criteria.compact)
        @count ? @matched.size == @count : @matched.any?
      end

      def does_not_match?(block)
        !matches?(block)
      end

      # What was expected, and every message the block sent.
      # @return [String]
      def failure_message
        "expected the block to send #{expected}, but it sent:\n#{WeCom::Testing.describe(@sent)}"
      end

      # What was not expected, and every message the block sent.
      # @return [String]
      def failure_message_when_negated
        "expected the block not to send #{expected}, but it sent:\n#{WeCom::Testing.describe(@matched)}"
      end

      # The matcher in words, for RSpec's output.
      # @return [String]
      def description
        "send #{expected}"
      end

      private

      def expected
        parts = [@count ? "exactly #{@count}" : "a", "WeCom", @criteria[:type], "message"].compact
        parts << "from app #{@criteria[:app].inspect}" if @criteria[:app]
        parts << "from robot #{@criteria[:robot]}" if @criteria[:robot]
        parts << "in chat #{@criteria[:chat]}" if @criteria[:chat]
        parts << "to #{@criteria[:to].join(', ')}" if @criteria[:to]
        parts << "with content #{@criteria[:content].inspect}" if @criteria[:content]
        parts.join(" ")
      end
    end

    # The RSpec matcher have_sent_wecom_message, included in every example group.
    module Matchers
      def have_sent_wecom_message(type = nil) # rubocop:disable Naming/PredicateName
        SentMessageMatcher.new(type)
      end

      # In examples tagged :wecom_emulator, the WeCom::Emulator every send goes to.
      attr_reader :wecom_emulator
    end
  end
end

if defined?(RSpec) && RSpec.respond_to?(:configure)
  RSpec.configure do |config|
    config.include WeCom::Testing::Matchers
    # Record instead of send, and start every example with an empty record.
    config.before do |example|
      WeCom.delivery_method = :test unless example.metadata[:wecom_emulator]
      WeCom::Testing.clear!
    end
    # System tests: `it "...", :wecom_emulator do` sends for real, to a local emulator.
    config.around(:each, :wecom_emulator) do |example|
      WeCom::Testing.with_emulator do |emulator|
        @wecom_emulator = emulator
        example.run
      end
    end
  end
end
