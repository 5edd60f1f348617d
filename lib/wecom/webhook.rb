# frozen_string_literal: true

require "base64"
require "digest/md5"

module WeCom
  # A group robot (群机器人): messages to one group chat through its webhook.
  #
  #   robot = WeCom::Webhook.new(key: ENV["WECOM_ROBOT_KEY"])     # or the full webhook URL
  #   robot.send_text("Deploy done", mention: ["@all"])
  #   robot.send_markdown("**3** interviews today")
  #   robot.send_image("chart.png")
  #   robot.send_file("report.pdf")
  #
  # The key is the robot's only credential: it never appears in messages, logs or #inspect.
  #
  # WeCom takes at most 20 messages a minute per robot. The robots of a process with the same key
  # share a sliding window: a send waits for a free slot, up to the timeout, or raises
  # WeCom::RateLimitError (with retry_after) when none frees in time — at once with wait: false.
  # Errors, retries, the GVL and interrupts work as for WeCom::Client (a send whose answer was
  # lost is not repeated: robots have no duplicate check).
  class Webhook
    # A robot's text message, at most (bytes).
    TEXT_MAX_BYTES = 2048
    # A robot's markdown message, at most (bytes).
    MARKDOWN_MAX_BYTES = 4096
    # A robot's image, at most (bytes; sent inside the message).
    IMAGE_MAX_BYTES = 2 * Media::MB
    # The image types a robot sends.
    IMAGE_EXTENSIONS = %w[jpg jpeg png].freeze
    # Messages a robot may send per minute (WeCom's limit, kept on this side).
    PER_MINUTE = Native::ROBOT_MESSAGES_PER_MINUTE
    # A phone number to mention, or "@all".
    MOBILE = /\A(\+?\d{5,20}|@all)\z/
    # A robot's webhook URL: the base URL and the key.
    URL = %r{\A(?<base>https?://[^?#]+?)/cgi-bin/webhook/send\?(?:[^#]*&)?key=(?<key>[^&#]+)}

    attr_reader :name, :base_url

    # key: the robot's key, or its whole webhook URL (whose host then is the base_url).
    # name: how logs and test records call this robot (default "robot"). The other settings
    # default to WeCom.configure's top-level ones, like a Client's.
    def initialize(key:, name: nil, base_url: nil, timeout: nil, open_timeout: nil, idle_timeout: nil,
                   max_retries: nil, retry_base_delay: nil, proxy: nil, ca_file: nil, wait: true,
                   configuration: WeCom.configuration)
      @name = Messages::Check.text(name || "robot", "name")
      @wait = wait ? true : false
      key, url_base = split(key)
      settings = Settings.new({ base_url: url_base || base_url, timeout: timeout, open_timeout: open_timeout,
                                idle_timeout: idle_timeout, max_retries: max_retries,
                                retry_base_delay: retry_base_delay, proxy: proxy, ca_file: ca_file }, configuration, nil)
      @base_url = settings.base_url
      proxy = settings.proxy
      @proxy_shown = Configuration.shown(:proxy, proxy) unless nil.equal?(proxy)
      if key.nil?
        # As for a Client: a test suite recording sends needs no credentials.
        @configuration_error = ConfigurationError.new("WeCom robot #{@name}: the key is missing (give key: the " \
                                                      "robot's key or webhook URL)")
        raise @configuration_error if WeCom.delivery.credentials_needed?

        return
      end
      @native = Native::Webhook.new(key, settings.connection, PER_MINUTE)
    end

    # mention: user ids to @ (or "@all"); mention_mobiles: their phone numbers instead.
    def send_text(content, mention: [], mention_mobiles: [], wait: @wait)
      body = { "content" => Messages::Check.string(content, "content", max_bytes: TEXT_MAX_BYTES) }
      mentioned = list(mention, "mention") { |id| Messages::Check.string(id, "mention") }
      mobiles = list(mention_mobiles, "mention_mobiles") do |mobile|
        mobile = Integer === mobile ? mobile.to_s : Messages::Check.string(mobile, "mention_mobiles")
        raise ArgumentError, "mention_mobiles: #{mobile.inspect} is not a phone number or \"@all\"" unless MOBILE.match?(mobile)

        mobile
      end
      body["mentioned_list"] = mentioned unless mentioned.empty?
      body["mentioned_mobile_list"] = mobiles unless mobiles.empty?
      deliver("text", body, wait, mentioned)
    end

    # Markdown of at most 4096 bytes.
    def send_markdown(content, wait: @wait)
      deliver("markdown", { "content" => Messages::Check.string(content, "content", max_bytes: MARKDOWN_MAX_BYTES) },
              wait)
    end

    # image: a path, a File or IO, or bytes with filename:; jpg or png of at most 2 MB. It travels
    # inside the message (base64, with the md5 of the raw bytes).
    def send_image(image, filename: nil, wait: @wait)
      upload = Media.upload(image, type: :image, filename: filename,
                                   limits: { image: { max_bytes: IMAGE_MAX_BYTES, extensions: IMAGE_EXTENSIONS } })
      bytes = upload.bytes || ::File.binread(upload.path)
      deliver("image", { "base64" => Base64.strict_encode64(bytes), "md5" => Digest::MD5.hexdigest(bytes) }, wait)
    end

    # articles: 1 to 8 Hashes with title:, url:, and optional description:, picurl:.
    def send_news(articles, wait: @wait)
      deliver(*Messages.news(articles), wait)
    end

    # file: a media_id from upload_media, or a file to upload first (at most 20 MB).
    def send_file(file, filename: nil, wait: @wait)
      deliver("file", { "media_id" => media_id_for(file, :file, filename) }, wait)
    end

    # voice: a media_id, or an amr file to upload first (at most 2 MB).
    def send_voice(voice, filename: nil, wait: @wait)
      deliver("voice", { "media_id" => media_id_for(voice, :voice, filename) }, wait)
    end

    # card: a Hash in WeCom's template_card shape (text_notice or news_notice).
    def send_template_card(card, wait: @wait)
      deliver(*Messages.template_card(card), wait)
    end

    # Uploads a file for send_file (type: :file, 20 MB) or send_voice (:voice, amr, 2 MB);
    # returns its media_id. source as in WeCom::Client#upload_media.
    def upload_media(source, type: :file, filename: nil)
      Media.upload(source, type: type, filename: filename, limits: Media::ROBOT_LIMITS).deliver(robot: name) { native }
    end

    # The robot's name, base URL and proxy (never the key).
    # @return [String]
    def inspect
      "#<#{self.class.name} name=#{name.inspect} base_url=#{base_url.inspect}#{" proxy=#{@proxy_shown}" if @proxy_shown}>"
    end
    alias to_s inspect

    private

    def deliver(msgtype, body, wait, mentioned = [])
      WeCom.delivery.robot_message(robot: name, msgtype: msgtype, body: body, mentioned: mentioned) do
        Instrumentation.instrument("robot.wecom", robot: name, msgtype: msgtype) do
          native.send_message({ "msgtype" => msgtype, msgtype => body }, wait ? true : false)
        end
      end
    end

    def media_id_for(source, type, filename)
      return upload_media(source, type: type, filename: filename) if filename || Media.file?(source)

      Messages::Check.string(source, "media_id")
    end

    def list(values, field, &check)
      values = [values] if String === values
      raise ArgumentError, "#{field} must be an Array, got #{Messages::Check.class_of(values)}" unless Array === values

      values.map(&check).uniq
    end

    # [key, base_url] from a key or a webhook URL.
    def split(key)
      # Never shown in an error: it is the robot's credential.
      key = Messages::Check.text(key, "key").strip
      return [nil, nil] if key.empty?

      match = URL.match(key)
      match ? [match[:key], match[:base]] : [key, nil]
    end

    def native
      raise @configuration_error if @configuration_error

      @native
    end
  end
end
