# frozen_string_literal: true

require "wecom"

module WeCom
  module Testing
    # For Minitest (and ActiveSupport::TestCase):
    #
    #   include WeCom::Testing::Assertions
    #
    #   assert_wecom_sent(:text, to: "zhangsan", content: /15:00/) { InterviewReminderJob.perform_now(42) }
    #   assert_no_wecom_sent { ... }
    #
    # Including it switches WeCom.delivery_method to :test and clears the record before each test.
    module Assertions
      # Minitest's hook: test mode and an empty record before each test.
      def before_setup
        WeCom.delivery_method = :test
        WeCom::Testing.clear!
        super
      end

      # Asserts that the block sent a matching message (`count:` of them when given). Without a
      # block, looks at everything recorded in this test. Returns the matching deliveries.
      def assert_wecom_sent(type = nil, to: nil, content: nil, app: nil, robot: nil, chat: nil, count: nil, &block)
        sent = wecom_sent_by(&block)
        matched = WeCom::Testing.matching(sent, type: type, to: to, content: content, app: app, robot: robot, chat: chat)
        expected = [count ? "exactly #{count}" : "a", "WeCom", type, "message", ("to #{Array(to).join(', ')}" if to),
                    ("with content #{content.inspect}" if content), ("from app #{app.inspect}" if app),
                    ("from robot #{robot}" if robot), ("in chat #{chat}" if chat)].compact.join(" ")
        ok = count ? matched.size == count : matched.any?
        assert ok, "Expected #{expected}, but it sent:\n#{WeCom::Testing.describe(sent)}"
        matched
      end

      # System tests: every send in the block goes to a WeCom::Emulator (yielded).
      def with_wecom_emulator(&block)
        WeCom::Testing.with_emulator(&block)
      end

      # Asserts that the block sent nothing (without a block: nothing recorded in this test).
      # @return [void]
      def assert_no_wecom_sent(&block)
        sent = wecom_sent_by(&block)
        assert sent.empty?, "Expected no WeCom message, but it sent:\n#{WeCom::Testing.describe(sent)}"
      end

      private

      def wecom_sent_by
        return WeCom::Testing.deliveries unless block_given?

        before = WeCom::Testing.deliveries.size
        yield
        WeCom::Testing.deliveries.drop(before)
      end
    end
  end
end
