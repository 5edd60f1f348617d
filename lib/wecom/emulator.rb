# frozen_string_literal: true

require "json"

module WeCom
  # A local WeCom for tests, demos and benchmarks: a real HTTP server on 127.0.0.1, written in
  # Rust and serving from its own threads, that answers like qyapi.weixin.qq.com.
  #
  #   emu = WeCom::Emulator.start
  #   client = emu.client                       # or WeCom::Client.new(base_url: emu.base_url, ...)
  #   client.send_text("hi", to: "zhangsan")
  #   emu.messages.last["text"]["content"]     # => "hi"
  #   emu.stop
  #
  # Or with a block, which stops it afterwards: WeCom::Emulator.run { |emu| ... }
  #
  # It plays WeCom's side of callbacks too (see Emulator::Callbacks): tell it where an app
  # receives messages, and a member can press a button of an interactive template card:
  #
  #   emu.register_callback("http://127.0.0.1:3000/wecom/hr", token: "...", encoding_aes_key: "...")
  #   client.send_template_card({ card_type: "button_interaction", task_id: "interview-42",
  #                               button_list: [{ text: "Accept", key: "accept" }], ... }, to: "zhangsan")
  #   emu.click("interview-42", user: "zhangsan", key: "accept")   # => the app's decrypted reply, or nil
  class Emulator
    attr_reader :corp_id, :secret, :agent_id

    # How long a template card's response_code can update it (WeCom: 72 hours).
    RESPONSE_CODE_TTL = 72 * 3600
    # How many records of each kind (requests, messages, uploads, ...) an emulator keeps unless
    # started with max_records:. Older ones are forgotten, so one left running for days stays
    # small; #counts counts them all.
    DEFAULT_MAX_RECORDS = Native::Emulator::DEFAULT_MAX_RECORDS
    # Lookups by email or mobile (user/get_userid_by_email, user/getuserid) that may find nobody
    # before every further lookup answers 45009 until #clear!, as WeCom blocks a corp's lookups
    # for a day after too many misses.
    LOOKUP_MISS_LIMIT = Native::Emulator::LOOKUP_MISS_LIMIT
    # The most max_records: may be (each record is about 2 KB).
    MAX_RECORDS_LIMIT = 1_000_000

    # users:, parties:, tags: make a directory: ids outside it are reported invalid (by default
    # every id is valid). apps: adds more apps of the corp, as { secret:, agent_id: } Hashes.
    # robots: lists the group robot webhook keys (by default every non-empty key is a robot);
    # robot_limit_per_minute: is how many messages a robot takes in any 60 s (0: no limit).
    # tls: { cert: PATH, key: PATH } serves HTTPS with that PEM certificate chain (the server's
    # certificate first) and PEM private key; base_url then starts with https://. Clients trust
    # the certificate's CA through their ca_file setting.
    #
    # directory: is the corp's members and departments, as user/get and sign-in show them:
    #   { departments: [{ id: 1, name: "HQ", parentid: 0 }],
    #     users: [{ userid: "zhangsan", name: "张三", department: [1], email:, biz_mail:, mobile:,
    #               avatar:, gender: "1", position: }] }
    # (only id/name and userid/name are required). By default: department 1 with zhangsan, lisi
    # and wangwu (DEFAULT_DIRECTORY). It is separate from users:, which only decides the valid
    # recipients of a send.
    #
    # contact_sync_secret: is the corp's contact-sync secret (通讯录同步 Secret): a client with it
    # may page through user/list_id (Client#each_user_id), which an app's secret may not (48002).
    #
    # max_records: is how many of each kind of record #messages, #requests, #uploads,
    # #robot_messages, #chat_messages, #card_updates, #recalled and #callback_attempts keep (the
    # newest; 0 keeps none); #counts counts every one since the start or #clear!.
    def self.start(corp_id: "corp", secret: "secret", agent_id: 1_000_002, token_ttl: 7200, users: nil,
                   parties: nil, tags: nil, apps: [], robots: nil, robot_limit_per_minute: 20, port: 0, tls: nil,
                   ticket_ttl: 7200, directory: nil, max_records: DEFAULT_MAX_RECORDS, contact_sync_secret: nil)
      new(corp_id: corp_id, secret: secret, agent_id: agent_id, token_ttl: token_ttl, users: users,
          parties: parties, tags: tags, apps: apps, robots: robots,
          robot_limit_per_minute: robot_limit_per_minute, port: port, tls: tls,
          directory: directory, max_records: max_records, contact_sync_secret: contact_sync_secret).tap do |emulator|
        emulator.ticket_ttl = ticket_ttl
      end
    end

    # [cert, key] path Strings from the tls: option, or nil.
    def self.tls_files(tls)
      return nil if tls.nil?

      files = Hash === tls && tls.keys.sort == %i[cert key] ? tls.values_at(:cert, :key) : []
      files = files.map { |file| Messages::Check.responds?(file, :to_path) ? file.to_path : file }
      return files if files.size == 2 && files.all? { |file| String === file && !file.empty? }

      raise ArgumentError, "tls must be { cert: PATH, key: PATH } (PEM files), got #{Messages::Check.shown(tls)}"
    end

    # Starts an emulator (options as for .start), yields it, and stops it when the block
    # returns or raises.
    # @yieldparam emulator [WeCom::Emulator]
    # @return [Object] the block's value
    def self.run(**options)
      emulator = start(**options)
      yield emulator
    ensure
      emulator&.stop
    end

    def initialize(corp_id:, secret:, agent_id:, token_ttl:, users:, parties:, tags:, apps:, robots:,
                   robot_limit_per_minute:, port:, tls: nil, directory: nil, max_records: DEFAULT_MAX_RECORDS,
                   contact_sync_secret: nil)
      @corp_id = corp_id
      @secret = secret
      @agent_id = agent_id
      app_list = [[secret, agent_id]] + apps.map { |app| [app.fetch(:secret), app.fetch(:agent_id)] }
      @agent_ids = app_list.map { |_, id| Integer(id) }.freeze
      id_list = ->(ids) { ids&.map(&:to_s) }
      @native = Native::Emulator.start(corp_id, app_list, token_ttl.to_f, id_list.call(users),
                                       id_list.call(parties), id_list.call(tags), id_list.call(robots),
                                       Integer(robot_limit_per_minute), port, self.class.tls_files(tls),
                                       directory_json(directory), checked_max_records(max_records),
                                       contact_sync_secret.nil? ? nil : Messages::Check.string(contact_sync_secret, "contact_sync_secret"))
      @contact_sync_secret = contact_sync_secret
      @latency = 0
      @callback_attempts = []
      @callback_attempt_count = 0
      @callback_lock = Mutex.new
      @registered_callbacks = {}
    end

    # "http://127.0.0.1:PORT": give it to a Client as base_url.
    def base_url
      @native.base_url
    end

    # The port it listens on (on 127.0.0.1).
    # @return [Integer]
    def port
      @native.port
    end

    # A client of this emulator's (first) app; keyword arguments override its settings.
    def client(**settings)
      Client.new(corp_id: corp_id, secret: secret, agent_id: agent_id, base_url: base_url, **settings)
    end

    # The contact-sync secret it was started with (contact_sync_secret:), or nil.
    # @return [String, nil]
    attr_reader :contact_sync_secret

    # How many records of each kind were received since the start or #clear! (the accessors keep
    # only the newest #max_records): a Hash of :requests, :messages, :uploads, :robot_messages,
    # :chat_messages, :card_updates, :recalled and :callback_attempts to Integers.
    # @return [Hash{Symbol => Integer}]
    def counts
      @native.counts.merge(callback_attempts: @callback_lock.synchronize { @callback_attempt_count })
    end

    # The kinds of record #received_since follows.
    RECEIVED_KINDS = %i[messages uploads robot_messages chat_messages card_updates].freeze

    # What arrived since an earlier #counts `seen` (an empty Hash: since the start): a Hash of
    # each of RECEIVED_KINDS to its new records (as the accessors show them, and only those
    # still kept), and :counts to the counts they are new up to, for the next call. Each kind is
    # read at once with its count, so a poller misses nothing and sees nothing twice.
    # @param seen [Hash{Symbol => Integer}]
    # @return [Hash{Symbol => Object}]
    def received_since(seen)
      raise ArgumentError, "seen must be a Hash of counts (from #counts), got #{Messages::Check.class_of(seen)}" unless Hash === seen

      numbers = RECEIVED_KINDS.map do |kind|
        number = seen.fetch(kind, 0)
        raise ArgumentError, "seen[#{kind.inspect}] must be an Integer count, at least 0, got #{Messages::Check.shown(number)}" \
          unless Integer === number && number >= 0

        number
      end
      counts, *records = @native.received_since(numbers)
      RECEIVED_KINDS.zip(records).to_h.merge(counts: counts)
    end

    # How many records of each kind are kept (max_records: of .start).
    # @return [Integer]
    def max_records
      @native.max_records
    end

    # Accepted message/send bodies, as Hashes with String keys, in arrival order (the newest
    # #max_records).
    def messages
      @native.messages
    end

    # Every request received: Hashes with :method, :path, :query (a Hash) and :body (a
    # multipart body only as "<multipart/form-data, N bytes>": uploaded files are not kept).
    def requests
      @native.requests
    end

    # Accepted uploads (media/upload and webhook/upload_media), in arrival order: Hashes with
    # :media_id, :type ("image", "voice", "video" or "file"), :filename, :content_type, :size
    # (bytes), :md5 (lowercase hex) and :uploader (the app's agent id, an Integer, or the robot's
    # key, a String).
    def uploads
      @native.uploads
    end

    # The group robot webhook URL for `key`.
    def robot_url(key)
      "#{base_url}/cgi-bin/webhook/send?key=#{key}"
    end

    # Messages the group robots accepted, in arrival order: each body as a Hash with String keys,
    # plus "key" => the robot's key. With a key, only that robot's messages.
    def robot_messages(key = nil)
      messages = @native.robot_messages
      key.nil? ? messages : messages.select { |message| message["key"] == key }
    end

    # The corp's group chats as they are now, in creation order: Hashes with :chat_id, :name,
    # :owner and :users (an Array of user ids).
    def chats
      @native.chats
    end

    # Accepted appchat/send bodies, as Hashes with String keys, in arrival order.
    def chat_messages
      @native.chat_messages
    end

    # How long the JS-SDK tickets it issues from now on live, in seconds (start's ticket_ttl:).
    def ticket_ttl=(seconds)
      @native.ticket_ttl = seconds.to_f
    end

    # JS-SDK tickets issued: { jsapi: get_jsapi_ticket calls, agent: ticket/get?type=agent_config calls }.
    def ticket_calls
      jsapi, agent = @native.ticket_requests
      { jsapi: jsapi, agent: agent }
    end

    # Makes every JS-SDK ticket issued so far invalid, as if WeCom had expired them.
    def expire_tickets!
      @native.expire_tickets
      nil
    end

    # The stand-in for WeCom's JS-SDK script (`wx.config`, `wx.agentConfig`, `ww.register`):
    # load it in a page instead of WeCom's; it asks this emulator whether the page's signatures
    # are right.
    def js_sdk_script_url
      "#{base_url}/jssdk/jweixin.js"
    end

    # What the stand-in script checked, in order: Hashes with :api ("config" or "agentConfig"),
    # :url (the page URL signed), :ok and :err_msg ("config:ok", "config:invalid signature"...).
    def js_sdk_checks
      @native.js_sdk_checks
    end

    # The number of gettoken calls received.
    def token_requests
      @native.token_requests
    end

    # The number of directory API calls received (user/get, user/getuserid,
    # user/get_userid_by_email, department/list and simplelist; failed ones too), since start or
    # clear!: what a lookup cache saves.
    def directory_calls
      @native.directory_calls
    end

    # The most requests it was handling at the same time (since start or clear!).
    def max_in_flight
      @native.max_in_flight
    end

    # The interactive template cards (button_interaction, vote_interaction, multiple_interaction)
    # accepted by message/send, in order: Hashes with :task_id, :msgid, :agent_id, :card_type,
    # :users (those it reached), :parties, :tags, :all (sent to @all), :keys (its buttons' and
    # submit button's), :menu_keys (its action menu's) and :questions (Hashes with :key, :options
    # and :preselected option ids).
    def cards
      @native.cards
    end

    # Accepted message/update_template_card calls, in order: Hashes with :task_id, :agent_id,
    # :response_code, whom it updated the card for (:users, :parties, :tags, :all: the call's
    # recipients, else the member who clicked, else everyone the card went to) and :body (the
    # request, String keys).
    def card_updates
      @native.card_updates
    end

    # Makes every response code issued so far `seconds` older, so that a test need not wait
    # RESPONSE_CODE_TTL: age_response_codes(WeCom::Emulator::RESPONSE_CODE_TTL) expires them all.
    def age_response_codes(seconds)
      @native.age_response_codes(seconds.to_f)
    end

    # Where WeCom delivers the messages and events of the app `agent_id` (default: the first
    # app): its "receive messages" settings, the URL with its Token and EncodingAESKey. Saving
    # them in WeCom's admin console runs the URL check first, and so does this (verify: false
    # skips it, for an app that is not up yet). Returns the URL.
    def register_callback(url, token:, encoding_aes_key:, agent_id: self.agent_id, verify: true)
      agent_id = Integer(agent_id)
      unless @agent_ids.include?(agent_id)
        raise ArgumentError, "agent_id #{agent_id} is no app of this emulator (its apps: #{@agent_ids.join(', ')})"
      end

      url = Messages::Check.url(url, "url")
      keys = { token: Messages::Check.string(token, "token"),
               encoding_aes_key: Messages::Check.string(encoding_aes_key, "encoding_aes_key") }
      Native::Callback.new(keys[:token], keys[:encoding_aes_key], corp_id) # refuses a malformed key
      verify_callback_url(url, **keys) if verify
      @callback_lock.synchronize { @registered_callbacks[agent_id] = { url: url, **keys }.freeze }
      url
    end

    # The callback URL registered for the app `agent_id`, or nil.
    def callback_url(agent_id = self.agent_id)
      @callback_lock.synchronize { @registered_callbacks[Integer(agent_id)]&.fetch(:url) }
    end

    # `user` presses the button `key` of the interactive template card with this msgid or
    # task_id: WeCom's template_card_event (EventKey = key, TaskId, CardType, a fresh
    # ResponseCode, FromUserName = user, AgentID; SelectedItems for a card with questions, from
    # `selected:` { question_key => option id(s) } else the preselected options) is delivered to
    # the sending app's registered callback URL as #deliver_callback delivers (timeout:,
    # retries:). A key of the card's action menu gives a template_card_menu_event. Returns the
    # app's decrypted reply (a Hash of String keys, such as "MsgType" => "update_button") or nil.
    #
    # An unknown card, a user the card did not reach, or a key (or question, or option) not on
    # the card raise ArgumentError; an app without a registered callback URL,
    # WeCom::ConfigurationError.
    def click(msgid_or_task_id, user:, key:, selected: {}, timeout: 5, retries: 3)
      raise ArgumentError, "selected must be a Hash of question keys to option ids" unless Hash === selected
      if @callback_lock.synchronize { @registered_callbacks.empty? }
        raise ConfigurationError, "no callback URL is registered: call register_callback(url, token:, encoding_aes_key:)"
      end

      answers = selected.map { |question, options| [question.to_s, Array(options).map(&:to_s)] }
      agent_id, event = @native.click(Messages::Check.string(msgid_or_task_id, "msgid_or_task_id"),
                                      Messages::Check.string(user, "user"), Messages::Check.string(key, "key"),
                                      answers)
      callback = @callback_lock.synchronize { @registered_callbacks[agent_id] } or
        raise ConfigurationError, "the app #{agent_id} that sent the card has no callback URL: call " \
                                  "register_callback(url, token:, encoding_aes_key:, agent_id: #{agent_id})"
      deliver_callback(callback[:url], event, token: callback[:token], encoding_aes_key: callback[:encoding_aes_key],
                                              timeout: timeout, retries: retries)
    end

    # Msgids recalled so far.
    def recalled
      @native.recalled
    end

    # Every token issued so far now answers 42001 (expired).
    def expire_tokens!
      @native.expire_tokens
    end

    # The next `times` API calls (to `path`, else any but gettoken) answer errcode; with
    # `after:`, only once that many matching calls went through.
    def fail_next(errcode, times: 1, path: nil, after: 0)
      @native.fail_next(Integer(errcode), Integer(times), path, Integer(after))
    end

    # The next `times` calls answer this HTTP status with a non-JSON body, like a gateway.
    def fail_next_http(status, times: 1, path: nil)
      @native.fail_next_http(Integer(status), Integer(times), path)
    end

    # The next `times` calls are read, then their connection is closed without an answer.
    def drop_next(times: 1, path: nil)
      @native.drop_next(Integer(times), path)
    end

    # The next `times` calls (to `path`, else any but gettoken) are handled as usual (a message
    # is accepted) but answered `seconds` later: a client with a shorter timeout gives up,
    # although WeCom got the message.
    def delay_next(seconds, times: 1, path: nil)
      @native.delay_next(seconds.to_f, Integer(times), path)
    end

    attr_reader :latency

    # Delay every answer by this many seconds.
    def latency=(seconds)
      @native.latency = seconds.to_f
      @latency = seconds
    end

    # Forget recorded messages, requests, uploads, robot messages and limits, chats, template
    # cards (their response codes and updates), callback attempts and counters (#counts and
    # directory_calls too); registered callbacks stay.
    def clear!
      @native.clear
      @callback_lock.synchronize do
        @callback_attempts.clear
        @callback_attempt_count = 0
      end
      nil
    end

    # Stops the server; the emulator answers nothing afterwards.
    # @return [void]
    def stop
      @native.stop
    end

    # How long a sign-in code can be exchanged (WeCom: 5 minutes).
    SIGN_IN_CODE_TTL = Native::Emulator::SIGN_IN_CODE_TTL

    # The member the sign-in pages (the OAuth2 page inside WeCom at /connect/oauth2/authorize,
    # the web login at /wwlogin/sso/login: give base_url as WeCom::SignIn's oauth_host: and
    # qr_host:) sign in from now on: they redirect to redirect_uri?code=CODE&state=STATE at once.
    # nil: they show a page listing the members, each a link that signs that member in.
    # @return [void]
    def sign_in_as(userid)
      @native.sign_in_as(userid.nil? ? nil : Messages::Check.string(userid, "userid"))
      nil
    end

    # Someone outside the corp (a WeChat user; with external_userid, a customer the corp has as an
    # external contact) the sign-in pages sign in from now on, as #sign_in_as does a member:
    # auth/getuserinfo answers their openid (and external_userid), never a userid.
    # @return [void]
    def sign_in_outsider(openid:, external_userid: nil)
      @native.sign_in_outsider(Messages::Check.string(openid, "openid"),
                               external_userid.nil? ? nil : Messages::Check.string(external_userid, "external_userid"))
      nil
    end

    # How many sign-in codes the pages issued (since the start or #clear!).
    # @return [Integer]
    def sign_in_codes
      @native.sign_in_codes
    end

    # Makes every sign-in code issued so far `seconds` older (SIGN_IN_CODE_TTL: expired).
    # @return [void]
    def age_sign_in_codes(seconds)
      @native.age_sign_in_codes(seconds.to_f)
    end

    # The member `userid` of the directory, as a Hash with Symbol keys (:userid, :name,
    # :department, and :email, :biz_mail, :mobile, :avatar, :gender, :position when set), or nil.
    def member(userid)
      json = @native.member(Messages::Check.string(userid, "userid"))
      json && JSON.parse(json, symbolize_names: true)
    end

    # The base URL, corp id and agent id (not the secret).
    # @return [String]
    def inspect
      "#<#{self.class.name} #{base_url} corp_id=#{corp_id.inspect} agent_id=#{agent_id}>"
    end

    private

    # The directory as JSON for the native side (which names a wrong field), or nil: the default.
    def directory_json(directory)
      return nil if directory.nil?
      raise ArgumentError, "directory must be a Hash with :departments and :users, got #{directory.class}" unless Hash === directory

      JSON.generate(directory)
    end

    def checked_max_records(value)
      return value if Integer === value && value.between?(0, MAX_RECORDS_LIMIT)

      raise ArgumentError, "max_records must be an Integer from 0 to #{MAX_RECORDS_LIMIT}, got #{Messages::Check.shown(value)}"
    end
  end
end

require_relative "emulator/callbacks"
