# frozen_string_literal: true

module WeCom
  # One app message ready to go: the body in WeCom's shape under its msgtype, the recipients, and
  # the options, checked. Client#send_* build it from their arguments (Client.check does the
  # same without sending); the native send reads it by name, test mode records it, and
  # WeCom::DeliveryJob logs its recipients. duplicate_check is the window in seconds, or nil.
  # emails and mobiles are the checked to_email:/to_mobile: addresses not yet resolved to userids
  # (a live send resolves them through the directory first; test mode records them as given).
  #
  # Built positionally, in the order of its members, because it is made once per send and a
  # keyword Struct costs a Hash and a member lookup per field; #to_h names them.
  AppMessage = Struct.new(:msgtype, :body, :users, :parties, :tags, :all, :safe, :id_trans, :duplicate_check,
                          :emails, :mobiles) do
    def initialize(*)
      super
      freeze
    end

    alias_method :all?, :all

    # True when to_email:/to_mobile: addresses are still to be resolved.
    # @return [Boolean]
    def addressed?
      !(emails.empty? && mobiles.empty?)
    end
  end

  # No addresses: the emails and mobiles of a message sent by userid only.
  AppMessage::NO_ADDRESSES = [].freeze
end
