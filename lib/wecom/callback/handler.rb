# frozen_string_literal: true

module WeCom
  class Callback
    # What an app does with the messages and events WeCom delivers, as rules:
    #
    #   class InterviewBot < WeCom::Callback::Handler
    #     on :text, content: /\Ahelp\z/i do |msg| reply text: "Commands: today, next" end
    #     on :event, event: "click", key: "TODAY" do |msg| reply news: Interviews.today_for(msg.from_user) end
    #     on :template_card_event, key: "accept" do |ev| Interview.accept!(ev); reply update_button: "Accepted" end
    #     on :change_contact, later: true do |ev| Directory.sync(ev) end
    #     fallback { |msg| nil }
    #   end
    #
    # `on TYPE` matches a MsgType (:text, :image, :voice, :video, :location, :link, :event) or, for
    # events, the Event's name in any case (:click, :template_card_event, :change_contact; so
    # `on :location` is the location message and `on :LOCATION` the LOCATION event). Each further
    # keyword names a reader of WeCom::Callback::Message (content:, event:, key:, change_type:,
    # from_user:, ...) or a field as WeCom spells it (EventKey:, TaskId:), and matches its value
    # with `===` (a Regexp, a Proc, a Range), a String or Symbol by equality (event: in any case),
    # or any of an Array; an unknown name raises ArgumentError when the class is defined. Rules are
    # tried in order, a superclass's first; the first that matches runs, else the nearest
    # fallback, else nothing (an empty answer). A block runs on a new handler object, so it can call
    # #reply (once, with one kind); a rule with `later: true` runs in WeCom::CallbackJob
    # (ActiveJob), WeCom gets an empty answer at once, and its #reply raises.
    class Handler
      # One `on` (or `fallback`) of a handler class.
      Rule = Struct.new(:type, :conditions, :later, :block, keyword_init: true) do
        def match?(message)
          type_matches?(message) && conditions.all? { |name, expected| matches?(name, expected, value(message, name)) }
        end

        private

        def type_matches?(message)
          return true if type.nil?
          return message.msg_type == type if MSG_TYPES.include?(type)

          message.event?(type)
        end

        def value(message, name)
          Handler.reader?(name) ? message.public_send(name) : message[name]
        end

        def matches?(name, expected, actual)
          return expected.any? { |one| matches?(name, one, actual) } if Array === expected
          # An event's name in any case (WeCom spells LOCATION in capitals, the rest in lower
          # case); a Symbol as the String WeCom sends.
          if (Symbol === expected || String === expected) && String === actual
            return name == :event ? actual.casecmp?(expected.to_s) : actual == expected.to_s
          end

          expected === actual
        end
      end

      # The MsgTypes WeCom sends; any other `on` type is an event's name.
      MSG_TYPES = %i[text image voice video location link file event].freeze

      # Message's methods that are not a condition.
      NOT_CONDITIONS = %i[to_h hash inspect dedupe_key freeze].freeze

      class << self
        # Adds a rule (see the class comment).
        def on(type, later: false, **conditions, &block)
          raise ArgumentError, "on #{type.inspect} needs a block" unless block
          unless Symbol === type || String === type
            raise ArgumentError, "on takes a MsgType or an event name (a Symbol), got #{Messages::Check.class_of(type)}"
          end

          unknown = conditions.keys.reject { |name| reader?(name) || name.match?(/\A[A-Z]/) }
          unless unknown.empty?
            raise ArgumentError, "on #{type.inspect}: unknown condition(s) #{unknown.join(', ')} (use a reader of " \
                                 "WeCom::Callback::Message such as content:, event:, key:, or a field such as EventKey:)"
          end

          own_rules << Rule.new(type: type.to_sym, conditions: conditions, later: later ? true : false, block: block)
        end

        # Whether `name` is a reader of WeCom::Callback::Message that a condition may name
        # (content:, event:, key:, ...), rather than one of its other methods or a typo.
        def reader?(name)
          Message::NULLARY.include?(name) && !NOT_CONDITIONS.include?(name)
        end

        # What runs when no rule matches.
        def fallback(later: false, &block)
          raise ArgumentError, "fallback needs a block" unless block

          @fallback = Rule.new(type: nil, conditions: {}, later: later ? true : false, block: block)
        end

        # The rules of this class after those of its superclasses, then the fallback.
        def rules
          inherited = superclass.respond_to?(:rules) ? superclass.rules.reject { |rule| rule.type.nil? } : []
          fallback = @fallback || (superclass.respond_to?(:rules) ? superclass.rules.find { |rule| rule.type.nil? } : nil)
          inherited + own_rules + [fallback].compact
        end

        # The rule that handles `message`, or nil.
        def rule_for(message)
          rules.find { |rule| rule.match?(message) }
        end

        # Runs `rule` for `message` now; returns the reply content given to #reply, or nil.
        # `later`: in WeCom::CallbackJob, after WeCom was answered, where #reply raises.
        def run(rule, message, callback = nil, later: false)
          handler = new(message, callback, later: later)
          handler.instance_exec(message, &rule.block)
          handler.reply_content
        end

        private

        def own_rules
          @own_rules ||= []
        end
      end

      attr_reader :message, :callback

      def initialize(message, callback = nil, later: false)
        @message = message
        @callback = callback
        @later = later
        @reply_content = nil
      end

      # Answers WeCom with a passive reply: exactly one of text:, image:, voice:, video:,
      # news:, update_button:, template_card: (see WeCom::Callback#reply). Once per message.
      def reply(**content)
        if @later
          raise ArgumentError, "a later: true rule cannot reply: WeCom was answered when the job was enqueued " \
                               "(send a message with WeCom::Client instead)"
        end
        raise ArgumentError, "reply was already called for this message" if @reply_content
        unless content.size == 1 && REPLIES.include?(content.keys.first)
          raise ArgumentError, "reply takes exactly one of #{REPLIES.map { |kind| "#{kind}:" }.join(', ')}, " \
                               "got #{content.empty? ? 'none' : content.keys.map { |key| "#{key}:" }.join(', ')}"
        end

        @reply_content = content
        nil
      end

      def later?
        @later
      end

      attr_reader :reply_content
    end
  end
end
