# frozen_string_literal: true

module WeCom
  # Sends app messages as one WeCom app (corp id, secret, agent id).
  #
  #   client = WeCom::Client.new
  #   result = client.send_text("Your interview starts at 15:00", to: "zhangsan")
  #   result.msgid
  #
  # Every send takes recipients (to:, party:, tag:) and the options safe:, id_trans: and
  # duplicate_check: (true, or seconds up to 14400: WeCom then drops an identical send within
  # that window, which also lets wecom retry a send whose answer was lost).
  #
  # Settings come from the keyword arguments, else the app's settings in WeCom.configure
  # (WeCom::Client.new(:hr)), else its top-level settings, else WECOM_* variables.
  # A client is cheap to build and safe to share between threads; the clients of a thread share
  # its connections, and those of a process (or a fleet, with a shared token store) one token.
  class Client
    # The duplicate_check window, in seconds, that duplicate_check: true stands for.
    DEFAULT_DUPLICATE_CHECK = 1800
    # The longest duplicate_check window WeCom takes (4 hours).
    MAX_DUPLICATE_CHECK = 14_400
    # The most requests #send_batch keeps in flight.
    MAX_CONCURRENCY = 1000
    # The agent ids WeCom gives apps (a positive 32-bit integer).
    AGENT_IDS = (1..(2**31) - 1)
    # The max_retries a client takes.
    RETRIES = (0..100)
    # Message types whose first argument is a media_id, or a file to upload.
    MEDIA_TYPES = %w[image voice video file].freeze
    # Keyword arguments of every send that are not part of the message.
    SENDING_KEYS = %i[to party tag safe id_trans duplicate_check to_email to_mobile].freeze
    # The event a send publishes (see "Instrumentation and logs" in the README).
    DELIVER = "deliver.wecom"

    attr_reader :app, :corp_id, :agent_id, :base_url

    # Client.new(app = nil, **settings): the settings of the registered app `app` (a Symbol or
    # String), else of WeCom.configure's default_app, else its top-level settings; each keyword
    # argument overrides one. The client keeps these settings: reconfiguring never changes it.
    def initialize(app = nil, corp_id: nil, secret: nil, agent_id: nil, base_url: nil, timeout: nil,
                   open_timeout: nil, idle_timeout: nil, max_retries: nil, retry_base_delay: nil, proxy: nil,
                   token_store: nil, ca_file: nil, directory_cache_ttl: nil, configuration: WeCom.configuration)
      given = { corp_id: corp_id, secret: secret, agent_id: agent_id, base_url: base_url, timeout: timeout,
                open_timeout: open_timeout, idle_timeout: idle_timeout, max_retries: max_retries,
                retry_base_delay: retry_base_delay, proxy: proxy, token_store: token_store, ca_file: ca_file,
                directory_cache_ttl: directory_cache_ttl }
      @app = configuration.app_for(app)
      begin
        settings = Settings.new(given, configuration, @app).require!(:corp_id, :secret, :agent_id)
        connection = settings.connection
        @native = Native::Client.new(settings.string(:corp_id), settings.string(:secret),
                                     settings.integer(:agent_id, AGENT_IDS), connection, settings.token_store)
        @proxy_shown = Configuration.shown(:proxy, connection[:proxy]) unless nil.equal?(connection[:proxy])
        @directory_cache_ttl = settings.seconds(:directory_cache_ttl)
      rescue ConfigurationError => e
        # A test suite recording sends (WeCom.delivery_method = :test) needs no credentials; a
        # live send raises this error then.
        raise if WeCom.delivery.credentials_needed?

        @configuration_error = e
        return
      end
      @corp_id = @native.corp_id
      @agent_id = @native.agent_id
      @base_url = @native.base_url
    end

    # Sends a text message (at most 2048 bytes).
    # @param content [String]
    # @return [WeCom::Result]
    def send_text(content, **recipients_and_options)
      quick_send("text", content, recipients_and_options) ||
        deliver_message(Messages.text(content), **recipients_and_options)
    end

    # Sends a markdown message (WeCom's subset of markdown, at most 2048 bytes).
    # @param content [String]
    # @return [WeCom::Result]
    def send_markdown(content, **recipients_and_options)
      quick_send("markdown", content, recipients_and_options) ||
        deliver_message(Messages.markdown(content), **recipients_and_options)
    end

    # Sends a text card: a title, a description and a link, with an optional button text.
    # @return [WeCom::Result]
    def send_textcard(title:, description:, url:, button_text: nil, **recipients_and_options)
      deliver_message(Messages.textcard(title: title, description: description, url: url, button_text: button_text),
                      **recipients_and_options)
    end

    # articles: 1 to 8 Hashes with title:, url:, and optional description:, picurl:.
    def send_news(articles, **recipients_and_options)
      deliver_message(Messages.news(articles), **recipients_and_options)
    end

    # articles: 1 to 8 Hashes with title:, thumb_media_id:, content:, and optional author:,
    # content_source_url:, digest:.
    def send_mpnews(articles, **recipients_and_options)
      deliver_message(Messages.mpnews(articles), **recipients_and_options)
    end

    # image: a media_id, or a file to upload first: a path, a File or another IO, or bytes with
    # filename: (see upload_media). A String naming an existing file is a path; any other
    # String, without filename:, is a media_id.
    def send_image(image, filename: nil, **recipients_and_options)
      deliver_message(Messages.image(media_id_for(image, :image, filename)), **recipients_and_options)
    end

    # Sends a voice message: a media_id, or an amr file to upload first (at most 2 MB).
    # @return [WeCom::Result]
    def send_voice(voice, filename: nil, **recipients_and_options)
      deliver_message(Messages.voice(media_id_for(voice, :voice, filename)), **recipients_and_options)
    end

    # Sends a file: a media_id, or a file to upload first (at most 20 MB).
    # @return [WeCom::Result]
    def send_file(file, filename: nil, **recipients_and_options)
      deliver_message(Messages.file(media_id_for(file, :file, filename)), **recipients_and_options)
    end

    # Sends a video: a media_id, or an mp4 file to upload first (at most 10 MB), with an optional
    # title and description.
    # @return [WeCom::Result]
    def send_video(video, title: nil, description: nil, filename: nil, **recipients_and_options)
      deliver_message(Messages.video(media_id_for(video, :video, filename), title: title, description: description),
                      **recipients_and_options)
    end

    # Uploads a temporary media file and returns its media_id (valid for 3 days, usable by every
    # app of the corp). source: a path (streamed from disk by the native core, never read into
    # Ruby), a File or another IO, or a String of bytes with filename:. type: :image (jpg/png,
    # up to 10 MB), :voice (amr, 2 MB), :video (mp4, 10 MB) or :file (20 MB); every file must be
    # over 5 bytes. A file outside the limits raises ArgumentError before anything is sent.
    def upload_media(source, type:, filename: nil)
      Media.upload(source, type: type, filename: filename).deliver(app: app) { native }
    end

    # appid:, title: (4 to 12 characters), and optional page:, description:,
    # emphasis_first_item:, content_item: ({ "Time" => "15:00" }).
    def send_miniprogram_notice(to: nil, party: nil, tag: nil, safe: false, id_trans: false, duplicate_check: nil,
                                **notice)
      deliver_message(Messages.miniprogram_notice(**notice),
                      to: to, party: party, tag: tag, safe: safe, id_trans: id_trans, duplicate_check: duplicate_check)
    end

    # card: a Hash in WeCom's template_card shape. Interactive cards answer a response_code.
    def send_template_card(card, **recipients_and_options)
      deliver_message(Messages.template_card(card), **recipients_and_options)
    end

    # The API path of #update_template_card.
    UPDATE_TEMPLATE_CARD_PATH = "/cgi-bin/message/update_template_card"
    # Ids one update_template_card takes (a response code is single use: a longer list cannot
    # be split into several calls).
    UPDATE_MAX_USERS = 1000
    # (see UPDATE_MAX_USERS)
    UPDATE_MAX_PARTIES = 100
    # (see UPDATE_MAX_USERS)
    UPDATE_MAX_TAGS = 100

    # Updates an interactive template card the app sent, with a response_code from the send
    # (Result#response_code) or from a member's click (the template_card_event's
    # msg.response_code). A code is single use and lives 72 hours. Either the clicked button's
    # new text, or a whole replacement card (checked as send_template_card checks it):
    #
    #   client.update_template_card(response_code: ev.response_code, button: "Accepted")
    #   client.update_template_card(response_code: code, card: { card_type: "text_notice", ... })
    #
    # Without recipients WeCom updates the card for whom the code stands: the member who
    # clicked, or everyone the card went to; to: (user ids, or :all), party:, tag: or all: true
    # name others (at most 1000 users, 100 departments and 100 tags). Returns a WeCom::Result
    # (no msgid) whose invalid_users lists the ids WeCom did not know; WeCom's errors (a used or
    # expired code among them) raise WeCom::APIError.
    def update_template_card(response_code:, button: nil, card: nil, to: nil, party: nil, tag: nil, all: false)
      body = { "response_code" => Messages::Check.string(response_code, "response_code") }
      if nil.equal?(button) == nil.equal?(card)
        raise ArgumentError, nil.equal?(button) ? "update_template_card needs button: (the clicked button's new " \
                                                  "text) or card: (a replacement card)" : "give button: or card:, not both"
      end

      if nil.equal?(card)
        body["button"] = { "replace_name" => Messages::Check.string(button, "button") }
      else
        body["template_card"] = Messages.template_card(card)[1]
      end
      recipients = card_update_recipients(to, party, tag, all)
      WeCom.delivery.update_template_card(app: app, body: body, **recipients) do
        payload = { app: app, users: recipients[:users].size, parties: recipients[:parties].size,
                    tags: recipients[:tags].size, all: recipients[:all] }
        Instrumentation.instrument("update_template_card.wecom", payload) do
          answer = native.call(UPDATE_TEMPLATE_CARD_PATH, [], card_update_body(body, recipients), false)
          Result.new(invalid_users: id_list(answer["invaliduser"]))
        end
      end
    end

    # Any msgtype, with its body in WeCom's shape: send_message(:text, { content: "hi" }, to: "u").
    def send_message(msgtype, body, **recipients_and_options)
      deliver_message(Messages.custom(msgtype, body), **recipients_and_options)
    end

    # A send_* method by its type: deliver(:text, "hi", to: "zhangsan") is
    # send_text("hi", to: "zhangsan"), and deliver(:message, ...) is send_message(...).
    # WeCom.deliver_later and WeCom::DeliveryJob send through it.
    def deliver(type, *arguments, **options)
      type = self.class.type_name(type)
      public_send(type == "message" ? :send_message : :"send_#{type}", *arguments, **options)
    end

    class << self
      # Checks a deliver(type, *arguments, **options) call without sending (no credentials
      # needed) and returns the WeCom::AppMessage it would send. Raises ArgumentError as the send
      # would.
      def check(type, *arguments, **options)
        message, sending = compose(type, *arguments, **options)
        # The builders leave :message bodies and template cards as given: the native conversion
        # the send would make finds what has no JSON form (a Time, NaN, binary bytes, ...).
        Native.check_json(message[1], message[0])
        app_message(message, **sending)
      end

      # The options of a send made under an idempotency key: WeCom's duplicate check on, for the
      # longest window unless the options set one. The window must not change between attempts:
      # WeCom drops a repeat only if its JSON, the interval included, is identical.
      def idempotent(options)
        { duplicate_check: MAX_DUPLICATE_CHECK }.merge(options)
      end

      # [message, sending options] of a deliver call. A file to upload is checked against
      # WeCom's limits and stands for its media_id by its name.
      def compose(type, *arguments, **options)
        type = type_name(type)
        if MEDIA_TYPES.include?(type)
          filename = options.delete(:filename)
          if filename || Media.file?(arguments.first)
            arguments = [Media.upload(arguments.first, type: type.to_sym, filename: filename).filename, *arguments.drop(1)]
          end
        end
        builder = type == "message" ? :custom : type
        [Messages.public_send(builder, *arguments, **options.except(*SENDING_KEYS)), options.slice(*SENDING_KEYS)]
      end

      def type_name(type)
        type = type.to_s if Symbol === type
        return type if Messages::TYPES.include?(type)

        raise ArgumentError, "type must be one of #{Messages::TYPES.join(', ')}, got #{Messages::Check.shown(type)}"
      end

      # The WeCom::AppMessage of a built [msgtype, body] with its recipients and options;
      # to_email:/to_mobile: addresses are checked here and resolved when it is sent.
      def app_message(message, to: nil, party: nil, tag: nil, safe: false, id_trans: false, duplicate_check: nil,
                      to_email: nil, to_mobile: nil)
        msgtype, body = message
        addressed = !(to_email.nil? && to_mobile.nil?)
        emails, mobiles = addressed ? addresses(to_email, to_mobile) : [AppMessage::NO_ADDRESSES, AppMessage::NO_ADDRESSES]
        recipients = Recipients.new(to: to, party: party, tag: tag, addressed: addressed)
        AppMessage.new(msgtype, body, recipients.users, recipients.parties, recipients.tags, recipients.all?,
                       safe ? true : false, id_trans ? true : false, duplicate_check_interval(duplicate_check),
                       emails, mobiles)
      end

      private

      def duplicate_check_interval(value)
        case value
        when nil, false then nil
        when true then DEFAULT_DUPLICATE_CHECK
        else
          # Numbers and ActiveSupport::Duration (30.minutes).
          finite = Numeric === value ? value.real? && value.finite? : Messages::Check.responds?(value, :in_seconds)
          seconds = value.to_i if finite
          return seconds if seconds&.between?(1, MAX_DUPLICATE_CHECK)

          raise ArgumentError, "duplicate_check must be true or 1 to #{MAX_DUPLICATE_CHECK} seconds, " \
                               "got #{Messages::Check.shown(value)}"
        end
      end
    end

    # --- App group chats (appchat): chats the app creates and posts to. -------------------------

    CHAT_PATHS = { create: "/cgi-bin/appchat/create", update: "/cgi-bin/appchat/update",
                   get: "/cgi-bin/appchat/get", send: "/cgi-bin/appchat/send" }.freeze
    # The message types an app group chat takes (#send_chat).
    CHAT_TYPES = %w[text markdown image voice video file textcard news mpnews].freeze
    # A chat id: 1 to 32 letters and digits.
    CHAT_ID = /\A[0-9a-zA-Z]{1,32}\z/
    # The longest chat name WeCom takes, in characters.
    CHAT_NAME_MAX_CHARS = 50
    # How many members a group chat has: 2 to 2000.
    CHAT_USERS = (2..2000)

    # Creates a group chat of `users` (2 to 2000 user ids, the owner among them) and returns its
    # chat id (chat_id: yours, 1 to 32 letters and digits, else WeCom makes one).
    def create_chat(name:, owner:, users:, chat_id: nil)
      body = { "name" => Messages::Check.string(name, "name", max_chars: CHAT_NAME_MAX_CHARS),
               "owner" => Messages::Check.string(owner, "owner"), "userlist" => chat_users(users) }
      unless body["userlist"].include?(body["owner"])
        raise ArgumentError, "owner #{body['owner'].inspect} must be one of users"
      end

      body["chatid"] = chat_id(chat_id) unless chat_id.nil?
      WeCom.delivery.create_chat(body: body, app: app) { chat_call(:create, body)["chatid"] }
    end

    # Renames the chat, hands it to another owner, adds and removes members. Returns true.
    def update_chat(chat_id, name: nil, owner: nil, add: [], remove: [])
      body = { "chatid" => chat_id(chat_id) }
      body["name"] = Messages::Check.string(name, "name", max_chars: CHAT_NAME_MAX_CHARS) unless nil.equal?(name)
      body["owner"] = Messages::Check.string(owner, "owner") unless nil.equal?(owner)
      add = Recipients.ids(add, "add")
      remove = Recipients.ids(remove, "remove")
      body["add_user_list"] = add unless add.empty?
      body["del_user_list"] = remove unless remove.empty?
      raise ArgumentError, "update_chat needs name:, owner:, add: or remove:" if body.size == 1
      WeCom.delivery.update_chat(body: body, app: app) do
        chat_call(:update, body)
        true
      end
    end

    # The chat as WeCom has it: a WeCom::Chat (chat_id, name, owner, users).
    def chat(chat_id)
      answer = Instrumentation.instrument("chat.wecom", app: app, action: :get) do
        native.call(CHAT_PATHS[:get], [["chatid", chat_id(chat_id)]], nil, true)
      end
      info = answer.fetch("chat_info")
      Chat.new(chat_id: info["chatid"], name: info["name"], owner: info["owner"], users: info["userlist"] || [])
    end

    # Posts to a group chat: any of CHAT_TYPES, with the arguments of the matching send_*
    # method (a file is uploaded first), and safe: true for confidential messages. Returns true.
    #
    #   client.send_chat(chat_id, :textcard, title: "Loop #42", description: "...", url: "https://...")
    def send_chat(chat_id, type, *arguments, safe: false, **fields)
      type = type.to_s if Symbol === type
      unless CHAT_TYPES.include?(type)
        raise ArgumentError, "type must be one of #{CHAT_TYPES.join(', ')}, got #{Messages::Check.shown(type)}"
      end

      chat_id = chat_id(chat_id)
      if MEDIA_TYPES.include?(type)
        arguments = [media_id_for(arguments.first, type.to_sym, fields.delete(:filename)), *arguments.drop(1)]
      end
      msgtype, body = Messages.public_send(type, *arguments, **fields)
      WeCom.delivery.chat_message(app: app, chat_id: chat_id, msgtype: msgtype, body: body, safe: safe ? true : false) do
        chat_call(:send, { "chatid" => chat_id, "msgtype" => msgtype, msgtype => body, "safe" => safe ? 1 : 0 })
        true
      end
    end

    CHAT_TYPES.each do |type|
      define_method(:"send_chat_#{type}") { |chat_id, *arguments, **options| send_chat(chat_id, type, *arguments, **options) }
    end

    # Sends many messages concurrently inside the native core (the GVL released, at most
    # `concurrency` requests in flight over pooled connections, one token fetch for all).
    #
    #   results = client.send_batch([
    #     { type: :text, content: "Interview at 15:00", to: "zhangsan" },
    #     { type: :markdown, content: "**3** interviews today", party: [2], duplicate_check: true },
    #   ], concurrency: 16)
    #
    # Each message is a Hash: type: (text, markdown, textcard, news, mpnews, image, voice, file,
    # video, miniprogram_notice, template_card, or message with msgtype: and body:), the
    # builder's arguments by name, recipients and options as in the send_* methods.
    # Every message is checked before anything is sent (an ArgumentError names its index).
    #
    # Returns an Array in input order: each a WeCom::Result, or the WeCom::Error that message
    # met; one failure never stops the others. WeCom's frequency limit (45009) pauses the whole
    # batch for rate_limit_pause seconds, then it goes on.
    def send_batch(messages, concurrency: 16, rate_limit_pause: 60)
      unless Array === messages
        raise ArgumentError, "messages must be an Array of Hashes, got #{Messages::Check.class_of(messages)}"
      end
      unless Integer === concurrency && concurrency.between?(1, MAX_CONCURRENCY)
        raise ArgumentError, "concurrency must be an Integer from 1 to #{MAX_CONCURRENCY}, " \
                             "got #{Messages::Check.shown(concurrency)}"
      end
      pause = Settings.seconds(rate_limit_pause) or
        raise ArgumentError, "rate_limit_pause #{Settings.not_seconds(rate_limit_pause)}"

      batch = messages.each_with_index.map { |message, index| batch_entry(message, index) }
      return deliver_addressed_batch(batch, concurrency, pause) if batch.any?(&:addressed?)

      deliver_batch(batch, concurrency, pause)
    end

    # Sends checked WeCom::AppMessages (their addresses resolved, or none) through the delivery
    # method: a WeCom::Result or WeCom::Error for each, in order.
    def deliver_batch(batch, concurrency, pause)
      WeCom.delivery.send_batch(app: app, batch: batch) do
        Instrumentation.instrument("deliver_batch.wecom", app: app, messages: batch.size) do |payload|
          results = native.send_batch(batch, concurrency, pause)
          payload[:failed] = results.count { |outcome| outcome.is_a?(Error) } if payload
          results
        end
      end
    end

    # Recalls a message sent within the last 24 hours. Returns true.
    def recall(msgid)
      msgid = Messages::Check.string(msgid, "msgid")
      WeCom.delivery.recall(msgid: msgid, app: app) do
        Instrumentation.instrument("recall.wecom", app: app) { native.recall(msgid) }
      end
    end

    # The cached access token, fetched if missing or about to expire. Treat it as a secret.
    def access_token
      Instrumentation.instrument("access_token.wecom", app: app) { native.access_token }
    end

    # Seconds until the cached token expires, or nil when this process has none cached.
    def token_expires_in
      native.token_expires_in
    end

    # The client's app, corp id, agent id, base URL and proxy (never its secret or token).
    # @return [String]
    def inspect
      "#<#{self.class.name} #{"app=#{app.inspect} " if app}corp_id=#{corp_id.inspect} agent_id=#{agent_id} " \
        "base_url=#{base_url.inspect}#{" proxy=#{@proxy_shown}" if @proxy_shown}>"
    end
    alias to_s inspect

    private

    # The common send (text or markdown to plain ids) when nothing needs its Ruby objects: the
    # native side checks and serialises the arguments (ext/wecom/src/quick_send.rs) and returns
    # the WeCom::Result. nil when they need the Ruby path, which then raises as it always has.
    # With a subscriber (a Rails app's log subscriber) the message is read natively first and
    # sent inside the event, whose payload comes from the message's counts.
    def quick_send(msgtype, content, options)
      return unless @native && DeliveryMethod::Live.equal?(WeCom.delivery.class)
      return @native.send_quick(msgtype, content, options) if Instrumentation.quiet?(DELIVER)

      quick = Native::QuickMessage.read(msgtype, content, options) or return
      users, parties, tags, all = quick.counts
      payload = { app: app, msgtype: msgtype, users: users, parties: parties, tags: tags, all: all }
      Instrumentation.instrument(DELIVER, payload) do |event|
        @native.send_prepared(quick).tap { |result| event[:msgid] = result.msgid if event }
      end
    end

    def deliver_message(message, **recipients_and_options)
      message = self.class.app_message(message, **recipients_and_options)
      message.addressed? ? deliver_addressed(message) : deliver_app_message(message)
    end

    # Sends a WeCom::AppMessage (its addresses resolved, or none) through the delivery method.
    def deliver_app_message(message)
      WeCom.delivery.send_message(app: app, message: message) do
        # The payload is built only for a subscriber.
        next native.deliver_message(message) if Instrumentation.quiet?(DELIVER)

        payload = { app: app, msgtype: message.msgtype, users: message.users.size, parties: message.parties.size,
                    tags: message.tags.size, all: message.all }
        Instrumentation.instrument(DELIVER, payload) do |event|
          native.deliver_message(message).tap { |result| event[:msgid] = result.msgid if event }
        end
      end
    end

    # { users:, parties:, tags:, all: } of an update_template_card: department and tag ids as
    # Integers, as WeCom wants them there.
    def card_update_recipients(to, party, tag, all)
      users = Recipients.ids(to, "to")
      all = true if users.include?("@all")
      users -= ["@all"]
      if users.size > UPDATE_MAX_USERS
        raise ArgumentError, "to: has #{users.size} user ids; one update_template_card takes at most #{UPDATE_MAX_USERS} " \
                             "(its response code is single use, so it cannot be split)"
      end

      { users: users, parties: numeric_ids(party, "party", UPDATE_MAX_PARTIES),
        tags: numeric_ids(tag, "tag", UPDATE_MAX_TAGS), all: all ? true : false }
    end

    def numeric_ids(value, field, max)
      ids = Recipients.ids(value, field)
      if ids.size > max
        raise ArgumentError, "#{field}: has #{ids.size} ids; one update_template_card takes at most #{max}"
      end

      ids.map do |id|
        raise ArgumentError, "#{field}: must hold numeric ids, got #{id.inspect}" unless id.match?(/\A\d+\z/)

        Integer(id, 10)
      end
    end

    def card_update_body(body, recipients)
      body = body.merge("agentid" => agent_id)
      body["userids"] = recipients[:users] unless recipients[:users].empty?
      body["partyids"] = recipients[:parties] unless recipients[:parties].empty?
      body["tagids"] = recipients[:tags] unless recipients[:tags].empty?
      body["atall"] = 1 if recipients[:all]
      body
    end

    # WeCom lists ids as an Array, or as "a|b" in older answers; absent when there are none.
    def id_list(value)
      case value
      when Array then value.map(&:to_s).freeze
      when String then value.split("|").reject(&:empty?).freeze
      else [].freeze
      end
    end

    def chat_call(action, body)
      Instrumentation.instrument("chat.wecom", app: app, action: action) do
        native.call(CHAT_PATHS.fetch(action), [], body, false)
      end
    end

    def chat_id(value)
      value = value.to_s if Symbol === value
      value = Messages::Check.utf8(value, "chat_id") if String === value
      return value if String === value && CHAT_ID.match?(value)

      raise ArgumentError, "chat_id must be 1 to 32 letters and digits, got #{Messages::Check.shown(value)}"
    end

    def chat_users(users)
      users = Recipients.ids(users, "users")
      return users if CHAT_USERS.cover?(users.size)

      raise ArgumentError, "users must hold #{CHAT_USERS.min} to #{CHAT_USERS.max} user ids, got #{users.size}"
    end

    def media_id_for(source, type, filename)
      filename || Media.file?(source) ? upload_media(source, type: type, filename: filename) : source
    end

    def native
      raise @configuration_error if @configuration_error

      @native
    end

    def batch_entry(message, index)
      raise ArgumentError, "must be a Hash, got #{Messages::Check.class_of(message)}" unless Hash === message

      fields = Messages::Check.symbol_keys(message)
      type = fields.delete(:type) { raise ArgumentError, "type is required (such as type: :text)" }
      sending = fields.slice(*SENDING_KEYS)
      self.class.app_message(Messages.build(type, fields.except(*SENDING_KEYS)), **sending)
    rescue ArgumentError => e
      raise ArgumentError, "messages[#{index}]: #{e.message}"
    end
  end
end
