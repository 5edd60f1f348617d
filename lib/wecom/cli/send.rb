# frozen_string_literal: true

module WeCom
  class CLI
    # `wecom send TYPE ...`: an app message to users, parties or tags.
    class Send < Command
      TYPES = %w[text markdown textcard image file].freeze
      SYNOPSIS = "TYPE ..."
      SUMMARY = "send an app message: #{TYPES.join(', ')}".freeze
      USAGE = "TYPE [options] ARGUMENT"
      # Options that only a textcard takes.
      TEXTCARD_OPTIONS = { title: "--title", description: "--description", url: "--url", button: "--button" }.freeze
      # An argument of image|file meant as a path, not a media_id: it names a directory or has a
      # file extension.
      PATH_LIKE = %r{/|\.[A-Za-z0-9]{1,5}\z}

      def run(args)
        type = message_type(args)
        extra = TEXTCARD_OPTIONS.select { |name, _| @options.key?(name) }
        if type != "textcard" && !extra.empty?
          usage!("#{extra.values.join(', ')}: only for wecom #{@name} textcard")
        end
        if @options.values_at(:to, :party, :tag).all?(&:empty?)
          usage!("no recipients: give --to (user ids or @all), --party or --tag")
        end

        recipients = { to: list_or_nil(:to), party: list_or_nil(:party), tag: list_or_nil(:tag),
                       safe: @options[:safe] ? true : false }
        arguments, message = send_arguments(type, args)
        # The library's input checks, before any credentials are needed: bad input is a usage error.
        WeCom::Client.check(type, *arguments, **message, **recipients)

        client = build_client
        if %w[image file].include?(type) && File.file?(arguments.first) && !client.respond_to?(:upload_media)
          raise WeCom::Error, "sending a file needs WeCom::Client#upload_media, which this version of wecom lacks: " \
                              "upload it elsewhere and give its media_id"
        end
        result = client.public_send(:"send_#{type}", *arguments, **message, **recipients)
        report_sent(result)
      end

      private

      def define_options(o)
        o.separator "Sends an app message. TYPE and ARGUMENT:"
        o.separator "  text TEXT          plain text, at most 2048 bytes (TEXT - reads it from stdin)"
        o.separator "  markdown TEXT      WeCom markdown, at most 2048 bytes (TEXT - reads it from stdin)"
        o.separator "  textcard           a card: --title, --description and --url, optional --button"
        o.separator "  image FILE         an image (jpg, png), uploaded first; or the media_id of an upload"
        o.separator "  file FILE          any file up to 20 MB, uploaded first; or the media_id of an upload"
        o.separator ""
        o.separator "Examples:"
        o.separator "  wecom send text --to zhangsan \"Interview at 15:00\""
        o.separator "  wecom send markdown --party 2 \"**3** interviews today\""
        o.separator "  wecom send textcard --to @all --title Payday --description Friday --url https://hr.example.com"
        o.separator "  wecom send file --to zhangsan,lisi handbook.pdf"
        o.separator ""
        o.separator "Recipients (at least one; lists are comma-separated, options may repeat):"
        o.on("--to USERS", "user ids, or @all for everyone the app can see") { |v| @options[:to].concat(list(v)) }
        o.on("--party IDS", "department ids") { |v| @options[:party].concat(list(v)) }
        o.on("--tag IDS", "tag ids") { |v| @options[:tag].concat(list(v)) }
        o.separator ""
        o.separator "Textcard:"
        o.on("--title TITLE", "the card's title (at most 128 bytes)") { |v| @options[:title] = v }
        o.on("--description TEXT", "the card's text (at most 512 bytes)") { |v| @options[:description] = v }
        o.on("--url URL", "the page the card opens") { |v| @options[:url] = v }
        o.on("--button TEXT", "the card's button label (at most 4 characters)") { |v| @options[:button] = v }
        o.separator ""
        o.separator "Sending:"
        o.on("--safe", "confidential: recipients cannot forward it") { @options[:safe] = true }
        client_options(o)
      end

      def send_arguments(type, args)
        case type
        when "text", "markdown" then [[content_argument(args, "TEXT")], {}]
        when "image", "file"
          file = one_argument(args, "FILE")
          # A media_id from an earlier upload, or a file to upload: a missing file is a mistake.
          existing_file(file) if file.match?(PATH_LIKE)
          [[file], {}]
        else
          unless args.empty?
            usage!("textcard takes no argument (got #{args.first.inspect}): give --title, --description, --url")
          end
          missing = %i[title description url].reject { |name| @options[name] }
          usage!("textcard needs #{missing.map { |name| TEXTCARD_OPTIONS[name] }.join(', ')}") unless missing.empty?
          message = { title: @options[:title], description: @options[:description], url: @options[:url] }
          message[:button_text] = @options[:button] if @options.key?(:button)
          [[], message]
        end
      end

      def report_sent(result)
        data = result.to_h
        if json?
          emit(data)
          return
        end

        say("Sent: msgid #{result.msgid}")
        { "users" => :invalid_users, "parties" => :invalid_parties, "tags" => :invalid_tags,
          "unlicensed users" => :unlicensed_users }.each do |label, key|
          ids = Array(data[key])
          complain_line("wecom: WeCom could not reach these #{label}: #{ids.join(', ')}") unless ids.empty?
        end
      end

      def list_or_nil(name)
        @options[name].empty? ? nil : @options[name]
      end
    end
  end
end
