# frozen_string_literal: true

module WeCom
  # A member of the corp (通讯录成员) as user/get shows it. Fields WeCom withholds are nil: apps
  # created since 2022-06-20 get no mobile, email, biz_mail, avatar or gender here (sign-in's
  # getuserdetail has them, with the member's consent).
  User = Struct.new(:userid, :name, :departments, :main_department, :position, :email, :biz_mail, :mobile,
                    :avatar, :gender, :status, keyword_init: true) do
    # A User from WeCom's fields (String keys, as user/get answers).
    # @return [WeCom::User]
    def self.from_wecom(fields)
      new(userid: fields["userid"], name: fields["name"], departments: fields["department"] || [],
          main_department: fields["main_department"], position: presence(fields["position"]),
          email: presence(fields["email"]), biz_mail: presence(fields["biz_mail"]),
          mobile: presence(fields["mobile"]), avatar: presence(fields["avatar"]),
          gender: fields["gender"] && Integer(fields["gender"], exception: false), status: fields["status"])
    end

    # WeCom sends "" for a field it withholds or the member left empty.
    # @api private
    def self.presence(value)
      value unless value.nil? || value == ""
    end
  end

  # A department of the corp (部门) as department/list shows it; the root's parent_id is 0.
  Department = Struct.new(:id, :name, :parent_id, :order, keyword_init: true)

  class Client
    # email type: of #userid_by_email → WeCom's email_type (1 corporate, 2 personal).
    EMAIL_TYPES = { work: "email", personal: "personal_email" }.freeze
    # The longest email address looked up (bytes).
    MAX_EMAIL_BYTES = 128
    # A mobile number as WeCom stores it: digits, with an optional +country code, spaces and dashes.
    MOBILE = /\A\+?\d[\d -]{2,30}\z/
    # WeCom's userids: letters, digits and _-.@, 1 to 64 bytes.
    USERID = /\A[A-Za-z0-9_\-.@]{1,64}\z/

    # The userid of the member with this email, or nil when nobody has it. type: :work is the
    # corporate email (企业邮箱, the default), :personal the member's own. Answers, misses too, are
    # cached for directory_cache_ttl (a day) in the token store: WeCom blocks a corp's lookups
    # for a day after too many misses.
    # @return [String, nil]
    def userid_by_email(email, type: :work)
      kind = EMAIL_TYPES.fetch(type) { raise ArgumentError, "type must be :work or :personal, got #{Messages::Check.shown(type)}" }
      lookup(kind, self.class.checked_email(email, "email"))
    end

    # The userid of the member with this mobile number, or nil when nobody has it; cached like
    # #userid_by_email.
    # @return [String, nil]
    def userid_by_mobile(mobile)
      lookup("mobile", self.class.checked_mobile(mobile, "mobile"))
    end

    # The member `userid` (user/get), as a WeCom::User. Raises WeCom::NotFoundError when there is
    # no such member, WeCom::PermissionError when the member is outside the app's visible range.
    # @return [WeCom::User]
    def user(userid)
      answer = directory_call(:user, "/cgi-bin/user/get", [["userid", checked_userid(userid)]])
      User.from_wecom(answer)
    end

    # The departments (department/list) under `id` (itself included), or every department the
    # app can see; WeCom::Department values.
    # @return [Array<WeCom::Department>]
    def departments(id = nil)
      query = id.nil? ? [] : [["id", department_id(id).to_s]]
      directory_call(:departments, "/cgi-bin/department/list", query).fetch("department", []).map do |fields|
        Department.new(id: fields["id"], name: fields["name"], parent_id: fields["parentid"], order: fields["order"])
      end
    end

    # The members of department `id` (user/simplelist; with fetch_child: true, of the departments
    # below it too), as WeCom::User values with userid, name and departments only (#user reads
    # the rest).
    # @return [Array<WeCom::User>]
    def department_users(id, fetch_child: false)
      query = [["department_id", department_id(id).to_s], ["fetch_child", fetch_child ? "1" : "0"]]
      directory_call(:department_users, "/cgi-bin/user/simplelist", query).fetch("userlist", []).map do |fields|
        User.new(userid: fields["userid"], name: fields["name"], departments: fields["department"] || [])
      end
    end

    # The most userids one user/list_id page may ask for (WeCom's limit).
    MAX_LIST_ID_PAGE = 10_000

    # Yields the userid of every member of the corp once (user/list_id, page by page through
    # WeCom's cursor; a member of several departments is yielded once); without a block, an
    # Enumerator. Needs a client on the contact-sync secret (通讯录同步 Secret):
    # WeCom::Client.new(:hr, secret: ENV["WECOM_CONTACT_SYNC_SECRET"]). An app's own secret gets
    # WeCom::PermissionError (48002), whose message says so.
    # @yieldparam userid [String]
    # @return [self, Enumerator]
    def each_user_id(page_size: 1000)
      unless Integer === page_size && page_size.between?(1, MAX_LIST_ID_PAGE)
        raise ArgumentError, "page_size must be an Integer from 1 to #{MAX_LIST_ID_PAGE}, got #{Messages::Check.shown(page_size)}"
      end
      return enum_for(:each_user_id, page_size: page_size) unless block_given?

      seen = {}
      cursor = ""
      loop do
        page = Instrumentation.instrument("directory.wecom", app: app, action: :each_user_id) do
          native.call("/cgi-bin/user/list_id", [], { "cursor" => cursor, "limit" => page_size }, true)
        end
        page.fetch("dept_user", []).each do |entry|
          userid = entry["userid"]
          next if !(String === userid) || seen.key?(userid)

          seen[userid] = true
          yield userid
        end
        previous = cursor
        cursor = page["next_cursor"].to_s
        break if cursor.empty?
        # A cursor that does not move would page forever.
        raise Error, "user/list_id answered the cursor it was asked with (#{cursor.inspect}); stopping" if cursor == previous
      end
      self
    end

    # Who a sign-in code belongs to: see WeCom::SignIn.user_for_code.
    # @return [WeCom::SignIn::Identity]
    def user_for_code(code)
      code = Messages::Check.string(code, "code", max_bytes: SignIn::MAX_CODE_BYTES)
      info = directory_call(:user_for_code, "/cgi-bin/auth/getuserinfo", [["code", code]])
      return SignIn::Identity.new(openid: info["openid"], external_userid: info["external_userid"]) unless info["userid"]

      ticket = info["user_ticket"]
      profile = if ticket
                  detail = Instrumentation.instrument("directory.wecom", app: app, action: :user_detail) do
                    native.call("/cgi-bin/auth/getuserdetail", [], { "user_ticket" => ticket }, true)
                  end
                  User.from_wecom(detail)
                end
      SignIn::Identity.new(userid: info["userid"], profile: profile)
    end

    private

    # Sends a message with to_email:/to_mobile: addresses: each resolved through the cached
    # directory and added to its users; the message goes to who was found, and the Result lists
    # the rest as #unresolved. With nobody at all to send to, nothing is sent: a Result with no
    # msgid and everything unresolved. A delivery method that needs no credentials (test mode)
    # gets the addresses as given, unresolved, and looks nothing up.
    def deliver_addressed(message)
      return deliver_app_message(message) unless WeCom.delivery.credentials_needed?

      resolved, unresolved = resolve_addresses(message)
      return Result.new(unresolved: unresolved) unless resolved

      with_unresolved(deliver_app_message(resolved), unresolved)
    end

    # send_batch with addresses in some entries: each resolved first (as #deliver_addressed), then
    # the entries with someone to send to go out as one batch; the results keep the entries' order.
    def deliver_addressed_batch(batch, concurrency, pause)
      return deliver_batch(batch, concurrency, pause) unless WeCom.delivery.credentials_needed?

      resolved = batch.map { |message| message.addressed? ? resolve_addresses(message) : [message, AppMessage::NO_ADDRESSES] }
      sendable = resolved.filter_map(&:first)
      results = sendable.empty? ? [] : deliver_batch(sendable, concurrency, pause).dup # shifted below
      resolved.map do |message, unresolved|
        next Result.new(unresolved: unresolved) unless message

        with_unresolved(results.shift, unresolved)
      end
    end

    # [the message sent to the users its addresses resolve to (nil when that leaves nobody),
    # the addresses that belong to no member].
    def resolve_addresses(message)
      found = []
      unresolved = []
      message.emails.each { |email| (userid = userid_by_email(email)) ? found << userid : unresolved << email }
      message.mobiles.each { |mobile| (userid = userid_by_mobile(mobile)) ? found << userid : unresolved << mobile }
      users = (message.users + found).uniq.freeze
      return [nil, unresolved.freeze] if users.empty? && !message.all && message.parties.empty? && message.tags.empty?

      [AppMessage.new(message.msgtype, message.body, users, message.parties, message.tags, message.all, message.safe,
                      message.id_trans, message.duplicate_check, AppMessage::NO_ADDRESSES, AppMessage::NO_ADDRESSES),
       unresolved.freeze]
    end

    def with_unresolved(outcome, unresolved)
      return outcome if unresolved.empty? || !outcome.is_a?(Result)

      Result.new(**outcome.to_h.except(:msgid), unresolved: unresolved)
    end

    class << self
      # [emails, mobiles] of a send's to_email:/to_mobile: (a String or an Array each), checked:
      # corporate emails and mobile numbers, raising ArgumentError naming the field.
      # @api private
      def addresses(to_email, to_mobile)
        [address_list(to_email, "to_email").map { |email| checked_email(email, "to_email") }.uniq.freeze,
         address_list(to_mobile, "to_mobile").map { |mobile| checked_mobile(mobile, "to_mobile") }.uniq.freeze]
      end

      # @api private
      def checked_email(email, field)
        email = Messages::Check.string(email, field, max_bytes: MAX_EMAIL_BYTES)
        return email if email.match?(/\A[^@\s]+@[^@\s]+\z/)

        raise ArgumentError, "#{field} must hold addresses like name@example.com, got #{email.inspect}"
      end

      # @api private
      def checked_mobile(mobile, field)
        mobile = Messages::Check.string(mobile, field)
        return mobile if mobile.match?(MOBILE)

        raise ArgumentError, "#{field} must hold mobile numbers (digits, an optional +country code), got #{mobile.inspect}"
      end

      private

      def address_list(value, field)
        return [] if value.nil?

        list = Array === value ? value : [value]
        raise ArgumentError, "#{field} must not be empty" if list.empty?

        list
      end
    end

    private

    def lookup(kind, value)
      client = native # raises the configuration error of a client without credentials
      Instrumentation.instrument("directory.wecom", app: app, action: :"userid_by_#{kind == 'mobile' ? 'mobile' : 'email'}") do |event|
        client.userid_by(kind, value, @directory_cache_ttl).tap { |userid| event[:found] = !userid.nil? if event }
      end
    end

    def directory_call(action, path, query)
      Instrumentation.instrument("directory.wecom", app: app, action: action) { native.call(path, query, nil, true) }
    end

    def checked_userid(userid)
      userid = Messages::Check.string(userid, "userid")
      return userid if userid.match?(USERID)

      raise ArgumentError, "userid must be 1 to 64 letters, digits or _-.@, got #{userid.inspect}"
    end

    def department_id(id)
      return id if Integer === id && id.between?(1, 2**32 - 1)

      raise ArgumentError, "department id must be a positive Integer, got #{Messages::Check.shown(id)}"
    end
  end
end
