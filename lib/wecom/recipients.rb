# frozen_string_literal: true

module WeCom
  # Who a message goes to: user ids (to:), department ids (party:) and tag ids (tag:).
  # `to: :all` (or "@all") sends to everyone the app can see. Lists longer than WeCom's
  # per-call limits (1000 users, 100 parties, 100 tags) are split into several calls.
  class Recipients
    attr_reader :users, :parties, :tags

    # The recipients of to:, party: and tag: (see #initialize).
    # @return [WeCom::Recipients]
    def self.build(to: nil, party: nil, tag: nil)
      new(to: to, party: party, tag: tag)
    end

    # One id, an Array of ids, or "a|b" as WeCom writes them; blanks dropped, duplicates removed.
    # Ids in other encodings are converted to UTF-8, as content is.
    def self.ids(value, field)
      list = Array === value ? value.flatten : [value]
      list.compact.flat_map do |id|
        next "@all" if :all.equal?(id)

        unless String === id || Symbol === id || Integer === id
          raise ArgumentError, "#{field} must hold Strings, Symbols or Integers, got #{Messages::Check.class_of(id)}"
        end

        Messages::Check.utf8(id.to_s, field).split("|").map(&:strip)
      end.reject(&:empty?).uniq.freeze
    end

    # addressed: the message also goes to to_email:/to_mobile: addresses, so these may be empty.
    def initialize(to: nil, party: nil, tag: nil, addressed: false)
      users = :all.equal?(to) ? ["@all"] : ids(to, "to")
      @all = users.include?("@all")
      @users = @all ? [].freeze : users
      @parties = ids(party, "party")
      @tags = ids(tag, "tag")
      if !addressed && !@all && @users.empty? && @parties.empty? && @tags.empty?
        raise ArgumentError, "no recipients: give to: (user ids or :all), party: or tag:"
      end

      freeze
    end

    def all?
      @all
    end

    private

    def ids(value, field)
      self.class.ids(value, field)
    end
  end
end
