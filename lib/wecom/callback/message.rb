# frozen_string_literal: true

module WeCom
  class Callback
    # One message or event WeCom delivered, decrypted and parsed. Every field is optional (WeCom
    # leaves many out, and contact-sync callbacks since 2022 carry little more than ids), so a
    # reader returns nil for a field that is not there; an unknown MsgType or Event parses too,
    # and #[] and #to_h keep every field as WeCom sent it (String keys, nested Hashes for nested
    # elements, Arrays for repeated ones).
    #
    #   msg.msg_type    # :text, :image, :voice, :video, :location, :link, :event, or another Symbol
    #   msg.event       # "click", "template_card_event", "change_contact", ... (nil for a message)
    #   msg[:Content]   # any field, by Symbol or String
    class Message
      # A location: a location message, the LOCATION event, or a location_select menu.
      Location = Struct.new(:latitude, :longitude, :precision, :scale, :label, :poi_name, keyword_init: true)
      # One answered question of a template card (vote, multiple choice).
      SelectedItem = Struct.new(:question_key, :option_ids, keyword_init: true)
      # The result of an asynchronous directory job (batch_job_result).
      BatchJob = Struct.new(:job_id, :job_type, :errcode, :errmsg, keyword_init: true)

      # A Message of fields no one else holds (the native parse's fresh Hash): frozen in place
      # rather than copied.
      def self.of(fields)
        allocate.tap { |message| message.send(:adopt, fields) }
      end

      # `fields`: a Hash of String keys, as WeCom::Callback#parse or Message#to_h gives it.
      def initialize(fields)
        raise ArgumentError, "a Message is made of WeCom's fields (a Hash), got #{Messages::Check.class_of(fields)}" unless Hash === fields

        @fields = own(fields)
        freeze
      end

      # The field `name` (Symbol or String, as WeCom spells it: :Content, :EventKey), or nil.
      def [](name)
        @fields[name.to_s]
      end

      # Every field, as WeCom sent it (a frozen Hash with String keys).
      def to_h
        @fields
      end

      # The MsgType as a Symbol (:text, :image, :event, ...), or nil.
      # @return [Symbol, nil]
      def msg_type
        type = self["MsgType"]
        type&.to_sym
      end

      # Whether this is an event (and, given a name, that event; case does not matter, as
      # WeCom spells LOCATION in capitals and everything else in lower case).
      def event?(name = nil)
        return false unless self["MsgType"] == "event"

        name.nil? || self["Event"].to_s.casecmp?(name.to_s)
      end

      # The event's name as WeCom sends it ("click", "LOCATION", ...); nil for a message.
      def event
        self["Event"] if event?
      end

      # The member's userid ("sys" for system events such as change_contact).
      def from_user
        self["FromUserName"]
      end

      # The receiver: the corp id.
      def to_user
        self["ToUserName"]
      end

      # The app's agent id (an Integer), or nil.
      # @return [Integer, nil]
      def agent_id
        integer(self["AgentID"])
      end

      # When WeCom made the message (a Time), or nil.
      def create_time
        seconds = integer(self["CreateTime"])
        seconds && Time.at(seconds)
      end

      # A message's MsgId (events have none).
      # @return [String, nil]
      def msg_id
        self["MsgId"]
      end

      # Text messages.
      def content
        self["Content"]
      end

      # Image, voice and video messages: the media_id to download it with (valid 3 days).
      def media_id
        self["MediaId"]
      end

      # Image messages: the picture's URL.
      # @return [String, nil]
      def pic_url
        self["PicUrl"]
      end

      # Menus (click: the key, view: the URL), template cards (the button's key), scancode.
      def event_key
        self["EventKey"]
      end
      alias key event_key

      # scancode_push / scancode_waitmsg.
      def scan_type
        dig("ScanCodeInfo", "ScanType")
      end

      # scancode_push / scancode_waitmsg: what was scanned.
      # @return [String, nil]
      def scan_result
        dig("ScanCodeInfo", "ScanResult")
      end

      # A location message, the LOCATION event or location_select; nil for anything else.
      def location
        if self["MsgType"] == "location"
          Location.new(latitude: float(self["Location_X"]), longitude: float(self["Location_Y"]),
                       scale: integer(self["Scale"]), label: self["Label"])
        elsif event == "LOCATION"
          Location.new(latitude: float(self["Latitude"]), longitude: float(self["Longitude"]),
                       precision: float(self["Precision"]))
        elsif (info = self["SendLocationInfo"]).is_a?(Hash)
          Location.new(latitude: float(info["Location_X"]), longitude: float(info["Location_Y"]),
                       scale: integer(info["Scale"]), label: info["Label"], poi_name: info["Poiname"])
        end
      end

      # template_card_event, template_card_menu_event, taskcard_click: the card's task id.
      def task_id
        self["TaskId"]
      end

      # Template card events: the card's type (text_notice, button_interaction, ...).
      # @return [String, nil]
      def card_type
        self["CardType"]
      end

      # Single use, valid 72 hours: what Client#update_template_card takes.
      def response_code
        self["ResponseCode"]
      end

      # The answers of a vote or multiple-choice card (template_card_event), in order.
      def selected_items
        list(dig("SelectedItems", "SelectedItem")).map do |item|
          SelectedItem.new(question_key: item["QuestionKey"], option_ids: list(dig_in(item, "OptionIds", "OptionId")))
        end
      end

      # change_contact: create_user, update_user, delete_user, create_party, update_party,
      # delete_party, update_tag.
      def change_type
        self["ChangeType"]
      end

      # The member a change_contact event is about.
      def user_id
        self["UserID"]
      end

      # update_user that changed the userid.
      def new_user_id
        self["NewUserID"]
      end

      # The member's departments (Integers), from "1,2".
      def department_ids
        ids(self["Department"])
      end

      # create_party / update_party / delete_party: the department's id.
      def party_id
        integer(self["Id"])
      end

      # create_party / update_party: the parent department's id.
      # @return [Integer, nil]
      def parent_id
        integer(self["ParentId"])
      end

      # update_tag: the tag and the members and departments added or removed.
      def tag_id
        integer(self["TagId"])
      end

      # update_tag: the user ids added to the tag.
      # @return [Array<String>]
      def add_user_items
        strings(self["AddUserItems"])
      end

      # update_tag: the user ids removed from the tag.
      # @return [Array<String>]
      def del_user_items
        strings(self["DelUserItems"])
      end

      # update_tag: the department ids added to the tag.
      # @return [Array<Integer>]
      def add_party_items
        ids(self["AddPartyItems"])
      end

      # update_tag: the department ids removed from the tag.
      # @return [Array<Integer>]
      def del_party_items
        ids(self["DelPartyItems"])
      end

      # batch_job_result.
      def batch_job
        job = self["BatchJob"]
        return unless Hash === job

        BatchJob.new(job_id: job["JobId"], job_type: job["JobType"], errcode: integer(job["ErrCode"]),
                     errmsg: job["ErrMsg"])
      end

      # What identifies this delivery across WeCom's retries: MsgId for a message; for an event,
      # the sender, the time, the event and the event's own identity, so that two real events of
      # one second are never taken for one.
      def dedupe_key
        return "msg:#{msg_id}" if msg_id

        parts = [from_user, self["CreateTime"], self["Event"], event_key, task_id, response_code, change_type,
                 user_id, self["Id"], self["TagId"], dig("BatchJob", "JobId")]
        "event:#{parts.map { |part| part.to_s.gsub('|', '||') }.join('|')}"
      end

      # Equal when both have the same fields.
      # @param other [Object]
      # @return [Boolean]
      def ==(other)
        Message === other && other.to_h == @fields
      end
      alias eql? ==

      # A hash of the fields, consistent with #==.
      # @return [Integer]
      def hash
        @fields.hash
      end

      # The fields as WeCom sent them.
      # @return [String]
      def inspect
        "#<#{self.class.name} #{@fields.inspect}>"
      end

      private

      def adopt(fields)
        @fields = deep_freeze(fields)
        freeze
      end

      def deep_freeze(value)
        case value
        when Hash then value.each_value { |item| deep_freeze(item) }
        when Array then value.each { |item| deep_freeze(item) }
        end
        value.freeze
      end

      def dig(*path)
        dig_in(@fields, *path)
      end

      def dig_in(hash, *path)
        path.reduce(hash) { |node, key| Hash === node ? node[key] : nil }
      end

      # A repeated element comes as an Array, a single one as itself.
      def list(value)
        case value
        when nil then []
        when Array then value
        else [value]
        end
      end

      def integer(value)
        Integer(value, 10, exception: false) if String === value
      end

      def float(value)
        Float(value, exception: false) if String === value
      end

      def strings(value)
        String === value ? value.split(",").map(&:strip).reject(&:empty?) : []
      end

      def ids(value)
        strings(value).filter_map { |id| integer(id) }
      end

      # A frozen deep copy with String keys: the caller's Hash stays theirs.
      def own(value)
        case value
        when Hash then value.to_h { |key, item| [key.to_s.freeze, own(item)] }.freeze
        when Array then value.map { |item| own(item) }.freeze
        when String then value.frozen? ? value : value.dup.freeze
        else value.freeze
        end
      end

      # The public methods that take no argument (the readers, plus a few that are no condition,
      # see Handler::NOT_CONDITIONS), fixed once every method above is defined: what a rule's
      # condition may name. Taken here rather than by reflection at each `on`, which would see
      # a wrapper's arity when a tool wraps the methods (rbs's runtime type checking does).
      NULLARY = public_instance_methods(false).select { |name| instance_method(name).arity.zero? }.freeze
    end
  end
end
