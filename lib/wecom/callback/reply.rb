# frozen_string_literal: true

module WeCom
  class Callback
    # Builds a passive reply's fields (the XML tree the native side encrypts): the same checks
    # and limits as the app message of the same kind, in the reply's XML shape. A tree is a Hash
    # of String keys; a nested Hash is a nested element, an Array repeated elements.
    module Reply
      module_function

      # The reply to `message` (its sender and receiver swapped) with one kind of content.
      # @param message [WeCom::Callback::Message]
      # @param content [Hash] exactly one of REPLIES as key
      # @return [Hash] the reply's fields
      # @raise [ArgumentError] for none or several kinds, or content outside the limits
      def build(message, content)
        unless content.size == 1 && REPLIES.include?(content.keys.first)
          raise ArgumentError, "reply takes exactly one of #{REPLIES.map { |kind| "#{kind}:" }.join(', ')}, " \
                               "got #{content.keys.empty? ? 'none' : content.keys.map { |key| "#{key}:" }.join(', ')}"
        end

        kind, value = content.first
        {
          "ToUserName" => message.from_user.to_s,
          "FromUserName" => message.to_user.to_s,
          "CreateTime" => Time.now.to_i.to_s
        }.merge(public_send(kind, value))
      end

      # A text reply (at most 2048 bytes).
      # @return [Hash]
      def text(content)
        _, body = Messages.text(content)
        { "MsgType" => "text", "Content" => body["content"] }
      end

      # An image reply, by media_id.
      # @return [Hash]
      def image(media_id)
        media("image", media_id)
      end

      # A voice reply, by media_id.
      # @return [Hash]
      def voice(media_id)
        media("voice", media_id)
      end

      # A video reply: a media_id, or a Hash with media_id:, title: and description:.
      # @return [Hash]
      def video(video)
        unless Hash === video
          raise ArgumentError, "video: takes a Hash with media_id: and optional title:, description:, " \
                               "got #{Messages::Check.class_of(video)}"
        end

        _, body = Messages.video(video[:media_id], title: video[:title], description: video[:description])
        { "MsgType" => "video", "Video" => camel(body) }
      end

      # A news reply: 1 to 8 articles with title:, url: and optional description:, picurl:.
      # @return [Hash]
      def news(articles)
        _, body = Messages.news(articles)
        items = body["articles"].map do |article|
          { "Title" => article["title"], "Description" => article["description"].to_s,
            "PicUrl" => article["picurl"].to_s, "Url" => article["url"].to_s }
        end
        { "MsgType" => "news", "ArticleCount" => items.size.to_s, "Articles" => { "item" => items } }
      end

      # The clicked button's new text, for a template_card_event (WeCom publishes no length limit).
      def update_button(replace_name)
        name = Messages::Check.string(replace_name, "update_button")
        { "MsgType" => "update_button", "Button" => { "ReplaceName" => name } }
      end

      # A whole replacement card, for a template_card_event.
      def template_card(card)
        _, card = Messages.template_card(card)
        { "MsgType" => "update_template_card", "TemplateCard" => camel(card) }
      end

      # The fields of a media reply of `type`.
      # @return [Hash]
      def media(type, media_id)
        _, body = Messages.public_send(type, media_id)
        { "MsgType" => type, type.capitalize => { "MediaId" => body["media_id"] } }
      end

      # message/send's snake_case keys as the reply XML's CamelCase element names
      # (main_title → MainTitle, media_id → MediaId); values as text.
      def camel(value)
        case value
        when Hash
          value.to_h { |key, item| [key.to_s.split("_").map(&:capitalize).join, camel(item)] }
        when Array then value.map { |item| camel(item) }
        when true then "1"
        when false then "0"
        else value.to_s
        end
      end
    end
  end
end
