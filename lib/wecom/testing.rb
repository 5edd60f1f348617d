# frozen_string_literal: true

require "json"

module WeCom
  # What the :test delivery method (WeCom::DeliveryMethod::Test) records, and how tests look at it.
  module Testing
    # One recorded send. `body` is the message body in WeCom's shape (String keys), as it would
    # have been sent under `msgtype`. `later` is true for WeCom.deliver_later, which also
    # records its idempotency_key. A group robot's message has `robot` (the Webhook's name) and
    # its mentions as `users`; an app group chat's message has `chat_id`; a template-card update
    # (Client#update_template_card) is msgtype "update_template_card" with the request's
    # response_code and button or template_card as body, and the recipients it named. A send's
    # to_email:/to_mobile: addresses are recorded as given in `emails` and `mobiles` (test mode
    # looks nothing up in the directory).
    Delivery = Struct.new(:app, :msgtype, :body, :users, :parties, :tags, :all, :safe, :id_trans,
                          :duplicate_check, :idempotency_key, :later, :robot, :chat_id, :msgid, :emails, :mobiles,
                          keyword_init: true) do
      # The message type as a Symbol (:text, :markdown, ...).
      # @return [Symbol]
      def type
        msgtype.to_sym
      end

      # The user ids it went to ("@all" for to: :all).
      def to
        all ? ["@all"] : users
      end

      # The text a person reads: content for text and markdown, a template-card update's new
      # button text, else title and description, else the body as JSON.
      def text
        fetch = ->(key) { body[key] || body[key.to_sym] }
        button = fetch.call("button")
        [fetch.call("content"), (button["replace_name"] if Hash === button)].compact.first ||
          [fetch.call("title"), fetch.call("description")].compact.join("\n").then { |t| t.empty? ? nil : t } ||
          JSON.generate(body)
      end
    end

    # One recorded upload_media: the media_id it answered, and what would have been uploaded.
    Upload = Struct.new(:app, :robot, :type, :filename, :size, :media_id, keyword_init: true)

    @deliveries = []
    @uploads = []
    @lock = Mutex.new
    @sequence = 0

    class << self
      # The recorded sends, oldest first (a copy).
      def deliveries
        @lock.synchronize { @deliveries.dup }
      end

      # The recorded uploads, oldest first (a copy).
      def uploads
        @lock.synchronize { @uploads.dup }
      end

      # Forgets every recorded send and upload.
      # @return [void]
      def clear!
        @lock.synchronize do
          @deliveries.clear
          @uploads.clear
        end
      end

      # Records an upload (a WeCom::Media::Upload, checked) and returns its media_id.
      def record_upload(app, upload, robot: nil)
        @lock.synchronize do
          @sequence += 1
          media_id = "test-media-#{@sequence}"
          @uploads << Upload.new(app: app, robot: robot, type: upload.type, filename: upload.filename, size: upload.size,
                                 media_id: media_id)
          media_id
        end
      end

      # Records one send (a WeCom::AppMessage) and returns the recorded Delivery. As in
      # production, a second send with an idempotency_key already recorded is not recorded
      # again (the first is returned).
      def record_send(app, message, **details)
        record(app: app, **message.to_h, **details)
      end

      # Records one send described by Delivery's attributes (robot and chat messages, which have
      # no recipients of their own) and returns the recorded Delivery; an idempotency_key
      # already recorded returns the earlier one instead.
      def record(msgtype:, body:, app: nil, users: [], parties: [], tags: [], all: false, safe: false, id_trans: false,
                 duplicate_check: nil, idempotency_key: nil, later: false, robot: nil, chat_id: nil, emails: [],
                 mobiles: [])
        @lock.synchronize do
          earlier = idempotency_key && @deliveries.find { |delivery| delivery.idempotency_key == idempotency_key }
          next earlier if earlier

          @sequence += 1
          Delivery.new(app: app, msgtype: msgtype, body: body, users: users, parties: parties, tags: tags, all: all,
                       safe: safe, id_trans: id_trans, duplicate_check: duplicate_check,
                       idempotency_key: idempotency_key, later: later, robot: robot, chat_id: chat_id,
                       msgid: "test-msgid-#{@sequence}", emails: emails, mobiles: mobiles)
                  .tap { |delivery| @deliveries << delivery }
        end
      end

      # The deliveries that match every criterion given: type (:text, "markdown", ...), to (a
      # user id or several, all of which it must have gone to, or a robot message mentioned),
      # content (a String it must contain, or a Regexp it must match), app (the app name),
      # robot (the Webhook's name), chat (an app group chat's id).
      def matching(deliveries = self.deliveries, type: nil, to: nil, content: nil, app: nil, robot: nil, chat: nil)
        deliveries.select do |delivery|
          (type.nil? || delivery.type == type.to_sym) &&
            (to.nil? || (Array(to).map(&:to_s) - delivery.to).empty?) &&
            (content.nil? || content === delivery.text || (content.is_a?(String) && delivery.text.include?(content))) &&
            (app.nil? || delivery.app == app.to_sym) &&
            (robot.nil? || delivery.robot == robot.to_s) &&
            (chat.nil? || delivery.chat_id == chat.to_s)
        end
      end

      # Runs the block with every send going to a WeCom::Emulator (yielded) instead of WeCom:
      # for system tests, where the app really sends and the test looks at what WeCom got. The
      # emulator knows the configured corp id, apps, secrets and agent ids (placeholders where
      # none are set); the configuration and delivery method are restored afterwards.
      def with_emulator(configuration = WeCom.configuration)
        corp_id = configuration.resolve(:corp_id) || "emulated-corp"
        secret = configuration.resolve(:secret) || "emulated-secret"
        agent_id = Integer(configuration.resolve(:agent_id) || 1_000_002)
        apps = configuration.apps.filter_map do |name|
          settings = configuration.app_settings(name)
          { secret: settings[:secret], agent_id: Integer(settings[:agent_id]) } if settings[:secret] && settings[:agent_id]
        end
        previous = [configuration, WeCom.delivery_method]
        Emulator.run(corp_id: corp_id, secret: secret, agent_id: agent_id, apps: apps) do |emulator|
          WeCom.configure do |c|
            c.corp_id = corp_id
            c.secret = secret
            c.agent_id = agent_id
            c.base_url = emulator.base_url
            # The emulator is one corp; an app with a base_url of its own would still talk to it.
            c.apps.each do |name|
              c.app(name, **c.app_settings(name).merge(corp_id: corp_id, base_url: emulator.base_url))
            end
          end
          WeCom.delivery_method = :live
          yield emulator
        end
      ensure
        WeCom.restore_configuration(previous[0]) if previous
        WeCom.delivery_method = previous[1] if previous
      end

      # "text to zhangsan: Interview at 15:00", for failure messages.
      def describe(deliveries)
        return "no WeCom message was sent" if deliveries.empty?

        deliveries.map do |d|
          recipients = [*d.to, *d.parties.map { |p| "party #{p}" }, *d.tags.map { |t| "tag #{t}" }].join(", ")
          target = if d.robot then "by robot #{d.robot}#{" mentioning #{recipients}" unless recipients.empty?}"
                   elsif d.chat_id then "to chat #{d.chat_id}"
                   else "to #{recipients}"
                   end
          "#{d.msgtype}#{" from #{d.app.inspect}" if d.app} #{target}: #{d.text.inspect}"
        end.join("\n")
      end
    end
  end
end
