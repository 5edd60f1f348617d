# frozen_string_literal: true

module WeCom
  # The one seam between "send" and "record", as ActionMailer's delivery methods are: every send,
  # batch, upload, group robot message, app group chat call, recall, template-card update and
  # WeCom.deliver_later
  # asks the current delivery method (WeCom.delivery_method) to carry it out. Each operation
  # gets what it is about by keyword, and a block that does it for real.
  #
  #   :live  runs the block (the default)
  #   :test  records in WeCom::Testing instead, and answers as WeCom would
  #
  # Another method is any object with the operations of Live (and credentials_needed?),
  # registered by name: WeCom::DeliveryMethod.register(:outbox, Outbox.new).
  module DeliveryMethod
    # What every delivery method answers.
    OPERATIONS = %i[send_message send_batch upload robot_message create_chat update_chat chat_message recall
                    update_template_card deliver_later].freeze

    # Sends: each operation runs its block.
    class Live
      def credentials_needed?
        true
      end

      # The two that run per message take their keywords by name and yield: no Hash and no
      # Proc per send.
      def send_message(app: nil, message: nil)
        yield
      end

      # Sends the batch (yields).
      # @return [Array<WeCom::Result, WeCom::Error>]
      def send_batch(app: nil, batch: nil)
        yield
      end

      (OPERATIONS - %i[send_message send_batch]).each do |operation|
        define_method(operation) { |**_details, &live| live.call }
      end
    end

    # Records every message and upload in WeCom::Testing; input is still checked by the caller
    # before it gets here, and no credentials are needed.
    class Test
      def credentials_needed?
        false
      end

      # message: a WeCom::AppMessage.
      def send_message(app:, message:)
        recorded(app, message)
      end

      # Records each message of the batch.
      # @return [Array<WeCom::Result>]
      def send_batch(app:, batch:)
        batch.map { |message| recorded(app, message) }
      end

      # Records the upload (nothing is uploaded).
      # @return [String] a test media_id
      def upload(upload:, app: nil, robot: nil)
        Testing.record_upload(app, upload, robot: robot)
      end

      # Records a group robot's message.
      # @return [true]
      def robot_message(robot:, msgtype:, body:, mentioned:)
        Testing.record(msgtype: msgtype, body: body, users: mentioned, robot: robot)
        true
      end

      # Makes up the chat id (or keeps the one given); no chat is created.
      # @return [String]
      def create_chat(body:, app: nil)
        body["chatid"] || "testchat#{SecureRandom.hex(8)}"
      end

      # Changes nothing.
      # @return [true]
      def update_chat(body:, app: nil)
        true
      end

      # Records a group chat message.
      # @return [true]
      def chat_message(app:, chat_id:, msgtype:, body:, safe:)
        Testing.record(app: app, msgtype: msgtype, body: body, safe: safe, chat_id: chat_id)
        true
      end

      # Recalls nothing.
      # @return [true]
      def recall(msgid:, app: nil)
        true
      end

      # body: response_code and button or template_card, as WeCom gets them; the recipients
      # apart (none: whom the code stands for).
      def update_template_card(app:, body:, users:, parties:, tags:, all:)
        Testing.record(app: app, msgtype: "update_template_card", body: body, users: users,
                       parties: parties.map(&:to_s), tags: tags.map(&:to_s), all: all)
        Result.new
      end

      # Records at once instead of enqueueing; a key already recorded is not recorded again.
      def deliver_later(app:, message:, idempotency_key:)
        Testing.record_send(app, message, idempotency_key: idempotency_key, later: true)
      end

      private

      def recorded(app, message)
        Result.new(msgids: [Testing.record_send(app, message).msgid])
      end
    end

    @methods = { live: Live.new, test: Test.new }.freeze

    class << self
      # Makes `method` available as WeCom.delivery_method = name.
      def register(name, method)
        missing = [:credentials_needed?, *OPERATIONS].reject { |operation| method.respond_to?(operation) }
        raise ArgumentError, "a delivery method needs #{missing.join(', ')}" unless missing.empty?

        @methods = @methods.merge(name.to_sym => method).freeze
      end

      # The registered delivery methods' names.
      # @return [Array<Symbol>]
      def names
        @methods.keys
      end

      # The delivery method registered as `name`, or nil.
      # @param name [Symbol]
      # @return [Object, nil]
      def [](name)
        @methods[name]
      end
    end
  end
end
