# frozen_string_literal: true

module WeCom
  # What WeCom answered to a send. Recipients WeCom could not reach do not fail the send;
  # they are listed here.
  class Result
    # One msgid per message/send call (a send to more than 1000 users makes several).
    attr_reader :msgids
    attr_reader :invalid_users, :invalid_parties, :invalid_tags, :unlicensed_users
    # Given for interactive template cards; needed to update the card later.
    attr_reader :response_code

    # Nobody's: what a send's to_email:/to_mobile: held that the directory resolves to no member.
    NOBODY = [].freeze

    def initialize(msgids: [], invalid_users: [], invalid_parties: [], invalid_tags: [],
                   unlicensed_users: [], response_code: nil, unresolved: NOBODY)
      @msgids = msgids.freeze
      @invalid_users = invalid_users.freeze
      @invalid_parties = invalid_parties.freeze
      @invalid_tags = invalid_tags.freeze
      @unlicensed_users = unlicensed_users.freeze
      @response_code = response_code
      @unresolved = unresolved.freeze
      freeze
    end

    # The emails and mobile numbers of to_email:/to_mobile: that belong to no member (the
    # message did not go to them). A Result the native side built for a send without them has
    # no such list.
    # @return [Array<String>]
    def unresolved
      @unresolved || NOBODY
    end

    # The msgid to recall the message by (the first, when the send was split).
    def msgid
      msgids.first
    end

    # True when WeCom reported no invalid or unlicensed recipient and every address resolved.
    def all_delivered?
      [invalid_users, invalid_parties, invalid_tags, unlicensed_users, unresolved].all?(&:empty?)
    end

    # Every attribute by name.
    # @return [Hash{Symbol => Object}]
    def to_h
      { msgid: msgid, msgids: msgids, invalid_users: invalid_users, invalid_parties: invalid_parties,
        invalid_tags: invalid_tags, unlicensed_users: unlicensed_users, response_code: response_code,
        unresolved: unresolved }
    end

    # Equal when both hold the same attributes.
    # @param other [Object]
    # @return [Boolean]
    def ==(other)
      other.is_a?(Result) && other.to_h == to_h
    end

    # The msgid and the invalid users.
    # @return [String]
    def inspect
      "#<#{self.class.name} msgid=#{msgid.inspect} invalid_users=#{invalid_users.inspect}>"
    end
  end
end
