# frozen_string_literal: true

module WeCom
  # One app message ready to go: the body in WeCom's shape under its msgtype, the recipients, and
  # the options, checked. Client#send_* build it from their arguments (Client.check does the
  # same without sending); the native send reads it by name, test mode records it, and
  # WeCom::DeliveryJob logs its recipients. duplicate_check is the window in seconds, or nil.
  #
  # Built positionally, in the order of its members, because it is made once per send and a
  # keyword Struct costs a Hash and a member lookup per field; #to_h names them.
  AppMessage = Struct.new(:msgtype, :body, :users, :parties, :tags, :all, :safe, :id_trans, :duplicate_check) do
    def initialize(*)
      super
      freeze
    end

    alias_method :all?, :all
  end
end
