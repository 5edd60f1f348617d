# frozen_string_literal: true

module WeCom
  # Builders for WeCom message bodies. Each checks its arguments against WeCom's documented
  # limits and returns [msgtype, body]; nothing is ever truncated. Client#send_* use them, and so
  # can anything else that sends WeCom messages.
  module Messages
    # A text message's content, at most (bytes of UTF-8).
    TEXT_MAX_BYTES = 2048
    # A markdown message's content, at most (bytes).
    MARKDOWN_MAX_BYTES = 2048
    # A title (text card, news, video), at most (bytes).
    TITLE_MAX_BYTES = 128
    # A description (text card, news, video), at most (bytes).
    DESCRIPTION_MAX_BYTES = 512
    # A link, at most (bytes).
    URL_MAX_BYTES = 2048
    # A text card's button text, at most (characters).
    BUTTON_TEXT_MAX_CHARS = 4
    # The most articles a news or mpnews message holds.
    MAX_ARTICLES = 8
    # An mpnews article's content, at most (bytes).
    MPNEWS_CONTENT_MAX_BYTES = 666 * 1024
    # A mini program notice's title length (characters).
    MINIPROGRAM_TITLE_CHARS = (4..12)
    # The most content_item rows a mini program notice holds.
    MINIPROGRAM_MAX_ITEMS = 10
    # The template card types WeCom takes.
    TEMPLATE_CARD_TYPES = %w[text_notice news_notice button_interaction vote_interaction
                             multiple_interaction].freeze
    # The template card types that answer a response_code (they can be updated later).
    INTERACTIVE_CARD_TYPES = %w[button_interaction vote_interaction multiple_interaction].freeze

    module_function

    # A text message.
    # @param content [String] at most TEXT_MAX_BYTES
    # @return [Array(String, Hash)] msgtype and body
    def text(content)
      ["text", { "content" => Check.string(content, "content", max_bytes: TEXT_MAX_BYTES) }]
    end

    # A markdown message.
    # @param content [String] at most MARKDOWN_MAX_BYTES
    # @return [Array(String, Hash)] msgtype and body
    def markdown(content)
      ["markdown", { "content" => Check.string(content, "content", max_bytes: MARKDOWN_MAX_BYTES) }]
    end

    # A text card: title, description, url and an optional button text.
    # @return [Array(String, Hash)] msgtype and body
    def textcard(title:, description:, url:, button_text: nil)
      body = {
        "title" => Check.string(title, "title", max_bytes: TITLE_MAX_BYTES),
        "description" => Check.string(description, "description", max_bytes: DESCRIPTION_MAX_BYTES),
        "url" => Check.url(url, "url")
      }
      unless nil.equal?(button_text)
        body["btntxt"] = Check.string(button_text, "button_text", max_chars: BUTTON_TEXT_MAX_CHARS)
      end
      ["textcard", body]
    end

    # articles: Hashes with title:, url: (or appid: and pagepath:), and optional description:,
    # picurl:.
    def news(articles)
      list = Check.articles(articles, "articles").each_with_index.map do |article, i|
        field = "articles[#{i}]"
        item = { "title" => Check.string(article[:title], "#{field}[:title]", max_bytes: TITLE_MAX_BYTES) }
        Check.optional(item, "description", article[:description], "#{field}[:description]",
                       max_bytes: DESCRIPTION_MAX_BYTES)
        if article[:appid]
          # A mini program article opens appid at pagepath; WeCom wants both.
          item["appid"] = Check.string(article[:appid], "#{field}[:appid]")
          item["pagepath"] = Check.string(article[:pagepath], "#{field}[:pagepath]")
          Check.optional(item, "url", article[:url], "#{field}[:url]", max_bytes: URL_MAX_BYTES)
        else
          item["url"] = Check.url(article[:url], "#{field}[:url]")
        end
        Check.optional(item, "picurl", article[:picurl], "#{field}[:picurl]", max_bytes: URL_MAX_BYTES)
        item
      end
      ["news", { "articles" => list }]
    end

    # articles: Hashes with title:, thumb_media_id:, content:, and optional author:,
    # content_source_url:, digest:.
    def mpnews(articles)
      list = Check.articles(articles, "articles").each_with_index.map do |article, i|
        field = "articles[#{i}]"
        item = {
          "title" => Check.string(article[:title], "#{field}[:title]", max_bytes: TITLE_MAX_BYTES),
          "thumb_media_id" => Check.string(article[:thumb_media_id], "#{field}[:thumb_media_id]"),
          "content" => Check.string(article[:content], "#{field}[:content]", max_bytes: MPNEWS_CONTENT_MAX_BYTES)
        }
        Check.optional(item, "author", article[:author], "#{field}[:author]", max_bytes: 64)
        Check.optional(item, "content_source_url", article[:content_source_url],
                       "#{field}[:content_source_url]", max_bytes: URL_MAX_BYTES)
        Check.optional(item, "digest", article[:digest], "#{field}[:digest]", max_bytes: DESCRIPTION_MAX_BYTES)
        item
      end
      ["mpnews", { "articles" => list }]
    end

    %w[image voice file].each do |type|
      define_method(type) do |media_id|
        [type, { "media_id" => Check.string(media_id, "media_id") }]
      end
      module_function type
    end

    # A video message by media_id, with an optional title and description.
    # @return [Array(String, Hash)] msgtype and body
    def video(media_id, title: nil, description: nil)
      body = { "media_id" => Check.string(media_id, "media_id") }
      Check.optional(body, "title", title, "title", max_bytes: TITLE_MAX_BYTES)
      Check.optional(body, "description", description, "description", max_bytes: DESCRIPTION_MAX_BYTES)
      ["video", body]
    end

    # content_item: a Hash ({ "Time" => "15:00" }) or an Array of { key:, value: } Hashes.
    def miniprogram_notice(appid:, title:, page: nil, description: nil, emphasis_first_item: false,
                           content_item: nil)
      body = {
        "appid" => Check.string(appid, "appid"),
        "title" => Check.string(title, "title", chars: MINIPROGRAM_TITLE_CHARS)
      }
      Check.optional(body, "page", page, "page")
      Check.optional(body, "description", description, "description")
      body["emphasis_first_item"] = emphasis_first_item ? true : false
      items = Check.content_items(content_item) if content_item
      body["content_item"] = items if items
      ["miniprogram_notice", body]
    end

    # card: a Hash in WeCom's template_card shape (see WeCom's documentation of message/send).
    def template_card(card)
      unless Hash === card
        raise ArgumentError, "card must be a Hash in WeCom's template_card shape, got #{Check.class_of(card)}"
      end

      card_type = Check.text(card[:card_type] || card["card_type"], "card[:card_type]")
      unless TEMPLATE_CARD_TYPES.include?(card_type)
        raise ArgumentError, "card[:card_type] must be one of #{TEMPLATE_CARD_TYPES.join(', ')}, got #{card_type.inspect}"
      end
      if INTERACTIVE_CARD_TYPES.include?(card_type) && Check.blank?(card[:task_id] || card["task_id"])
        raise ArgumentError, "card[:task_id] is required for #{card_type} cards (WeCom reports clicks by it)"
      end

      ["template_card", card]
    end

    # Any msgtype with a body in WeCom's shape, for what the other builders do not cover.
    def custom(msgtype, body)
      msgtype = msgtype.to_s if Symbol === msgtype
      unless String === msgtype && msgtype.match?(/\A[a-z_]+\z/)
        raise ArgumentError, "msgtype must be a WeCom message type such as :text, got #{Check.shown(msgtype)}"
      end
      raise ArgumentError, "body must be a Hash, got #{Check.class_of(body)}" unless Hash === body

      [msgtype, body]
    end

    # The builder argument that each type takes first (the others take keywords only).
    LEADING_ARGUMENT = { "text" => :content, "markdown" => :content, "news" => :articles, "mpnews" => :articles,
                         "image" => :media_id, "voice" => :media_id, "file" => :media_id, "video" => :media_id,
                         "template_card" => :card }.freeze
    # Every type Client#deliver and WeCom.deliver_later take.
    TYPES = (LEADING_ARGUMENT.keys + %w[textcard miniprogram_notice message]).freeze

    # Builds a message described by a Hash, as Client#send_batch takes them: `type` plus the
    # builder's arguments by name, e.g. build(:text, content: "hi"),
    # build(:textcard, title: "...", description: "...", url: "..."), or
    # build(:message, msgtype: "text", body: { content: "hi" }) for any msgtype.
    def build(type, fields)
      type = type.to_s if Symbol === type
      raise ArgumentError, "type must be one of #{TYPES.join(', ')}, got #{Check.shown(type)}" unless TYPES.include?(type)

      return custom(fields.fetch(:msgtype, nil), fields.fetch(:body, nil)) if type == "message"

      leading = LEADING_ARGUMENT[type]
      allowed = [leading, *KEYWORDS.fetch(type)]
      unknown = fields.keys - allowed
      unless unknown.empty?
        raise ArgumentError, "unknown #{unknown.map(&:inspect).join(', ')} for #{type} (it takes #{allowed.compact.join(', ')})"
      end

      keywords = fields.except(leading)
      leading ? public_send(type, fields[leading], **keywords) : public_send(type, **keywords)
    end

    # Each builder's keyword arguments (what #build takes by name), fixed once every builder above
    # is defined rather than asked of #parameters at each call, which sees a wrapper's parameters
    # when a tool wraps the builders (rbs's runtime type checking does).
    KEYWORDS = (TYPES - ["message"]).to_h do |type|
      [type, method(type).parameters.select { |kind, _| %i[key keyreq].include?(kind) }.map(&:last).freeze]
    end.freeze

    # Argument checks shared by the builders. Errors name the field and the limit.
    module Check
      module_function

      def blank?(value)
        nil.equal?(value) || (responds?(value, :empty?) && value.empty?)
      end

      # The checks below work for any object, a BasicObject included (it has no #class, #is_a?,
      # #respond_to?, #inspect or #to_s), and for objects whose #inspect or #to_s raises.

      # How an error message shows a value: its #inspect, else #<ItsClass>.
      def shown(value)
        text = value.inspect
        String === text ? text : "#<#{class_of(value)}>"
      rescue StandardError
        "#<#{class_of(value)}>"
      end

      # The class of any object, BasicObject included (for error messages).
      # @return [Class]
      def class_of(value)
        Kernel.instance_method(:class).bind_call(value)
      end

      def responds?(value, method)
        Kernel.instance_method(:respond_to?).bind_call(value, method)
      end

      # value.to_s, for fields that take any object's text form (content_item values, names).
      def text(value, field)
        text = begin
          value.to_s
        rescue StandardError => e
          raise ArgumentError, "#{field} must be a String, got #{class_of(value)} (its to_s raised #{class_of(e)})"
        end
        return text if String === text

        raise ArgumentError, "#{field} must be a String, got #{class_of(value)} (its to_s returned #{class_of(text)})"
      end

      # The Hash with Symbol keys; field names it in the error (nil: the caller does).
      def symbol_keys(hash, field = nil)
        hash.to_h do |key, value|
          unless Symbol === key || String === key
            raise ArgumentError, "#{field} keys must be Symbols or Strings, got #{shown(key)}".lstrip
          end

          [Symbol === key ? key : utf8(key, "#{field} key".lstrip).to_sym, value]
        end
      end

      # A non-empty String (or Symbol) in valid UTF-8, within the limits given.
      def string(value, field, max_bytes: nil, max_chars: nil, chars: nil)
        value = value.to_s if Symbol === value
        raise ArgumentError, "#{field} is required" if nil.equal?(value)
        raise ArgumentError, "#{field} must be a String, got #{class_of(value)}" unless String === value

        value = utf8(value, field)
        raise ArgumentError, "#{field} must not be empty" if value.strip.empty?
        if max_bytes && value.bytesize > max_bytes
          raise ArgumentError, "#{field} is #{value.bytesize} bytes; WeCom allows at most #{max_bytes} bytes " \
                               "(nothing was sent; shorten it or split it into several messages)"
        end
        if max_chars && value.length > max_chars
          raise ArgumentError, "#{field} is #{value.length} characters; WeCom allows at most #{max_chars}"
        end
        if chars && !chars.cover?(value.length)
          raise ArgumentError, "#{field} is #{value.length} characters; WeCom wants #{chars.min} to #{chars.max}"
        end
        value
      end

      def url(value, field)
        value = string(value, field, max_bytes: URL_MAX_BYTES)
        raise ArgumentError, "#{field} must be an http(s) URL, got #{value.inspect}" unless value.match?(%r{\Ahttps?://\S+\z}i)

        value
      end

      # Adds key => checked value to hash unless value is nil.
      def optional(hash, key, value, field, **limits)
        hash[key] = string(value, field, **limits) unless nil.equal?(value)
      end

      def articles(articles, field)
        raise ArgumentError, "#{field} must be an Array of Hashes, got #{class_of(articles)}" unless Array === articles
        if articles.empty? || articles.size > MAX_ARTICLES
          raise ArgumentError, "#{field} has #{articles.size} articles; WeCom wants 1 to #{MAX_ARTICLES}"
        end

        articles.each_with_index.map do |article, i|
          raise ArgumentError, "#{field}[#{i}] must be a Hash, got #{class_of(article)}" unless Hash === article

          symbol_keys(article, "#{field}[#{i}]")
        end
      end

      def content_items(items)
        pairs = Hash === items ? items.map { |k, v| { key: k, value: v } } : items
        raise ArgumentError, "content_item must be a Hash or an Array of { key:, value: }" unless Array === pairs
        if pairs.size > MINIPROGRAM_MAX_ITEMS
          raise ArgumentError, "content_item has #{pairs.size} items; WeCom allows at most #{MINIPROGRAM_MAX_ITEMS}"
        end

        pairs.each_with_index.map do |pair, i|
          raise ArgumentError, "content_item[#{i}] must be a Hash with key: and value:" unless Hash === pair

          pair = symbol_keys(pair, "content_item[#{i}]")
          { "key" => string(text(pair[:key], "content_item[#{i}][:key]"), "content_item[#{i}][:key]", max_chars: 10),
            "value" => string(text(pair[:value], "content_item[#{i}][:value]"), "content_item[#{i}][:value]",
                              max_chars: 30) }
        end
      end

      # The string in UTF-8: other encodings are converted, invalid bytes are an error.
      def utf8(value, field)
        if value.encoding == Encoding::UTF_8 || value.encoding == Encoding::BINARY || value.encoding == Encoding::US_ASCII
          value = value.dup.force_encoding(Encoding::UTF_8) unless value.encoding == Encoding::UTF_8
          raise ArgumentError, "#{field} is not valid UTF-8" unless value.valid_encoding?

          value
        else
          value.encode(Encoding::UTF_8)
        end
      rescue EncodingError
        raise ArgumentError, "#{field} cannot be converted from #{value.encoding} to UTF-8"
      end
    end
  end
end
