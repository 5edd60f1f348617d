# frozen_string_literal: true

module WeCom
  class CLI
    # `wecom robot TYPE ...`: a message to a group chat through a group robot's webhook.
    class Robot < Command
      TYPES = %w[text markdown image file].freeze
      SYNOPSIS = "TYPE ..."
      SUMMARY = "send through a group robot's webhook: #{TYPES.join(', ')}".freeze
      USAGE = "TYPE [options] ARGUMENT"

      def run(args)
        type = message_type(args)
        mentions = !@options[:mention].empty? || !@options[:mention_mobiles].empty?
        usage!("--mention and --mention-mobiles are only for wecom #{@name} text") if mentions && type != "text"

        argument = if %w[text markdown].include?(type)
                     content_argument(args, "TEXT")
                   else
                     existing_file(one_argument(args, "FILE"))
                   end
        webhook = build_webhook
        case type
        when "text"
          webhook.send_text(argument, mention: @options[:mention], mention_mobiles: @options[:mention_mobiles])
        else
          webhook.public_send(:"send_#{type}", argument)
        end
        json? ? emit(ok: true) : say("Sent to the group robot.")
      end

      private

      def define_options(o)
        o.separator "Sends a message to a group chat through a group robot's webhook. TYPE and ARGUMENT:"
        o.separator "  text TEXT          plain text, at most 2048 bytes (TEXT - reads it from stdin)"
        o.separator "  markdown TEXT      WeCom markdown, at most 4096 bytes (TEXT - reads it from stdin)"
        o.separator "  image FILE         a jpg or png image, at most 2 MB"
        o.separator "  file FILE          a file, uploaded to the robot first"
        o.separator ""
        o.separator "The robot's key comes from --key, else WECOM_ROBOT_KEY. It may be the key or the whole"
        o.separator "webhook URL (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...). Treat it as a"
        o.separator "secret: prefer WECOM_ROBOT_KEY, since other users can see a command line."
        o.separator ""
        o.separator "Examples:"
        o.separator "  wecom robot text --mention zhangsan,lisi \"Deploy done\""
        o.separator "  wecom robot markdown \"**Deploy** done\""
        o.separator "  wecom robot image chart.png"
        o.separator ""
        o.separator "Options:"
        o.on("--key KEY", "the robot's key or webhook URL (default: WECOM_ROBOT_KEY)") do |v|
          @options[:key] = v
          sensitive(v)
        end
        o.on("--mention USERS", "text only: user ids to mention, or @all") { |v| @options[:mention].concat(list(v)) }
        o.on("--mention-mobiles PHONES", "text only: mobile numbers to mention, or @all") do |v|
          @options[:mention_mobiles].concat(list(v))
        end
        base_url_option(o)
      end

      def build_webhook
        key = present(@options[:key]) || present(@env["WECOM_ROBOT_KEY"])
        unless key
          raise WeCom::ConfigurationError, "WeCom robot key not set: set WECOM_ROBOT_KEY (the key or the webhook " \
                                           "URL) or give --key"
        end
        sensitive(key)
        url_key = key[/[?&]key=([^&#]+)/, 1]
        sensitive(url_key) if url_key

        settings = { key: key }
        base_url = @options[:base_url] || (present(@env["WECOM_BASE_URL"]) unless key.match?(%r{\Ahttps?://}i))
        settings[:base_url] = base_url if base_url
        WeCom::Webhook.new(**settings)
      end
    end
  end
end
