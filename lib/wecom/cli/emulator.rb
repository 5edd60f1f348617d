# frozen_string_literal: true

require "shellwords"

module WeCom
  class CLI
    # `wecom emulator`: runs WeCom::Emulator in the foreground and prints each message it receives
    # as a JSON line, until SIGINT or SIGTERM. With --callback it delivers to the app's callback
    # URL as WeCom does, and reads line commands on stdin (`click TASK_ID USER KEY`) to press the
    # buttons of the template cards the app sent.
    class Emulator < Command
      SYNOPSIS = ""
      SUMMARY = "run a local fake WeCom server and print each message it receives"
      USAGE = "[options]"
      # Strings longer than this (a robot image's base64, say) are shown as their size.
      MAX_STRING = 4096
      POLL_SECONDS = 0.1
      # The line commands read from stdin with --callback.
      LINE_COMMANDS = <<~TEXT.freeze
        Commands (one a line on stdin):
          click TASK_ID USER KEY [QUESTION=OPTION,OPTION ...]
                 USER presses the button KEY of the template card TASK_ID (or its msgid); the app's
                 reply is printed as {"kind":"click",...,"reply":...}
          help   shows this
      TEXT

      def_delegators :@output, :complain
      private :complain

      def run(args)
        no_arguments(args)
        settings = emulator_settings
        callback = callback_settings
        begin
          emulator = WeCom::Emulator.start(**settings, port: @options[:port] || 0, tls: tls_settings,
                                           max_records: @options.fetch(:max_records, WeCom::Emulator::DEFAULT_MAX_RECORDS))
        rescue RuntimeError => e
          raise WeCom::Error, e.message
        end
        register_callback(emulator, callback) if callback
        serve(emulator, settings, commands: callback ? true : false)
      ensure
        emulator&.stop
      end

      private

      def define_options(o)
        o.separator "Runs WeCom::Emulator, a local fake WeCom server, until Ctrl-C (SIGINT) or SIGTERM."
        o.separator "Its first line is \"WeCom emulator on http://127.0.0.1:PORT\" (with --json a JSON object"
        o.separator "with base_url); then each message it receives is printed as one JSON line."
        o.separator "It accepts the credentials in WECOM_CORP_ID, WECOM_SECRET and WECOM_AGENT_ID, else"
        o.separator "corp_id \"corp\", agent_id 1000002 and the emulator's default secret (\"secret\")."
        o.separator ""
        o.separator "With --callback URL it is WeCom calling your app too: it delivers callbacks to URL signed and"
        o.separator "encrypted with the app's Token and EncodingAESKey (--callback-token and --callback-aes-key,"
        o.separator "else WECOM_CALLBACK_TOKEN and WECOM_CALLBACK_ENCODING_AES_KEY, as the app reads them), checks"
        o.separator "the URL at start as WeCom does when the settings are saved (a failure is only a warning), and"
        o.separator "reads commands on stdin:"
        LINE_COMMANDS.each_line.drop(1).each { |line| o.separator(line.chomp) }
        o.separator ""
        o.separator "Examples:"
        o.separator "  wecom emulator --port 8080 &"
        o.separator "  WECOM_BASE_URL=http://127.0.0.1:8080 wecom send text --to zhangsan hello"
        o.separator ""
        o.separator "  wecom emulator --port 8080 --callback http://127.0.0.1:3000/wecom/hr"
        o.separator "  (your app sends a button_interaction card with task_id interview-42 to zhangsan)"
        o.separator "  click interview-42 zhangsan accept"
        o.separator ""
        o.separator "Options:"
        o.on("--port PORT", Integer, "the port on 127.0.0.1 (default: any free port)") do |v|
          usage!("--port must be from 0 to 65535, got #{v}") unless v.between?(0, 65_535)

          @options[:port] = v
        end
        o.on("--tls-cert FILE", "serve HTTPS with this PEM certificate (chain), with --tls-key") do |v|
          @options[:tls_cert] = v
        end
        o.on("--tls-key FILE", "the PEM private key of --tls-cert") do |v|
          @options[:tls_key] = v
        end
        o.on("--max-records N", Integer, "how many requests, messages, ... to keep, the newest (default: " \
                                         "#{WeCom::Emulator::DEFAULT_MAX_RECORDS}); older ones are only counted") do |v|
          unless v.between?(0, WeCom::Emulator::MAX_RECORDS_LIMIT)
            usage!("--max-records must be from 0 to #{WeCom::Emulator::MAX_RECORDS_LIMIT}, got #{v}")
          end

          @options[:max_records] = v
        end
        o.on("--directory FILE", "a JSON file of the corp's members and departments:",
             '{"departments":[{"id":1,"name":"HQ"}],"users":[{"userid":"zhangsan","name":"张三",...}]}') do |v|
          @options[:directory] = v
        end
        o.on("--callback URL", "the app's callback URL (its \"receive messages\" setting)") do |v|
          @options[:callback] = v
        end
        o.on("--callback-token TOKEN", "its Token (default: WECOM_CALLBACK_TOKEN)") do |v|
          @options[:callback_token] = v
        end
        o.on("--callback-aes-key KEY", "its EncodingAESKey (default: WECOM_CALLBACK_ENCODING_AES_KEY)") do |v|
          @options[:callback_aes_key] = v
        end
      end

      # { cert:, key: } with --tls-cert and --tls-key, else nil.
      def tls_settings
        cert, key = @options.values_at(:tls_cert, :tls_key)
        return nil unless cert || key

        usage!(cert ? "--tls-cert needs --tls-key FILE" : "--tls-key needs --tls-cert FILE") unless cert && key
        { cert: cert, key: key }
      end

      # { url:, token:, encoding_aes_key: } with --callback, else nil.
      def callback_settings
        url = @options[:callback]
        if url.nil?
          given = %i[callback_token callback_aes_key].select { |name| @options[name] }
          usage!("#{given.map { |name| "--#{name.to_s.tr('_', '-')}" }.join(' and ')} need --callback URL") if given.any?
          return nil
        end

        token = @options[:callback_token] || present(@env["WECOM_CALLBACK_TOKEN"])
        key = @options[:callback_aes_key] || present(@env["WECOM_CALLBACK_ENCODING_AES_KEY"])
        missing = []
        missing << "--callback-token (or WECOM_CALLBACK_TOKEN)" unless token
        missing << "--callback-aes-key (or WECOM_CALLBACK_ENCODING_AES_KEY)" unless key
        usage!("--callback needs #{missing.join(' and ')}") unless missing.empty?
        sensitive(token)
        sensitive(key)
        { url: url, token: token, encoding_aes_key: key }
      end

      # Registers the app's callback; a URL check that fails (the app is not up yet, say) is a
      # warning: clicks are still delivered.
      def register_callback(emulator, callback)
        emulator.register_callback(callback[:url], token: callback[:token],
                                                   encoding_aes_key: callback[:encoding_aes_key], verify: false)
        begin
          emulator.verify_callback_url(callback[:url], token: callback[:token],
                                                       encoding_aes_key: callback[:encoding_aes_key])
          @callback_checked = true
        rescue WeCom::Error, SystemCallError, IOError => e
          @callback_warning = "the URL check of #{callback[:url]} failed (#{e.message}); clicks are delivered anyway"
        end
      end

      def emulator_settings
        agent_id = present(@env["WECOM_AGENT_ID"]) || "1000002"
        unless agent_id.match?(/\A\d+\z/) && agent_id.to_i.positive?
          raise WeCom::ConfigurationError, "WECOM_AGENT_ID must be a positive integer, got #{agent_id.inspect}"
        end

        { corp_id: present(@env["WECOM_CORP_ID"]) || "corp", secret: present(@env["WECOM_SECRET"]) || "secret",
          agent_id: agent_id.to_i, directory: directory_file }
      end

      # The --directory file's members and departments, or nil (the emulator's default corp).
      def directory_file
        file = @options[:directory] or return nil
        usage!("no such file: #{file} (--directory)") unless File.file?(file)
        JSON.parse(File.read(file))
      rescue JSON::ParserError => e
        usage!("--directory #{file} is not JSON: #{e.message.lines.first&.chomp}")
      end

      def serve(emulator, settings, commands:)
        reader, writer = IO.pipe
        handlers = %w[INT TERM].to_h do |signal|
          [signal, trap(signal) do
            writer.write_nonblock(".")
          rescue IO::WaitWritable, IOError
            nil
          end]
        end
        announce(emulator, settings)
        seen = {}
        watched = [reader]
        watched << @stdin if commands && @stdin.is_a?(IO)
        pending = +""
        loop do
          print_received(emulator, seen)
          ready, = IO.select(watched, nil, nil, POLL_SECONDS)
          break if ready&.include?(reader)
          next unless ready&.include?(@stdin)

          watched.delete(@stdin) unless read_commands(emulator, pending, seen)
        end
        print_received(emulator, seen)
      rescue Errno::EPIPE
        # Whoever read the output went away: stop quietly.
        nil
      ensure
        handlers&.each { |signal, handler| trap(signal, handler || "DEFAULT") }
        [reader, writer].each { |io| io&.close }
      end

      def announce(emulator, settings)
        secret_source = present(@env["WECOM_SECRET"]) ? "WECOM_SECRET" : "the emulator's default"
        callback_url = emulator.callback_url
        if json?
          emit(base_url: emulator.base_url, corp_id: settings[:corp_id], agent_id: settings[:agent_id],
               **(callback_url ? { callback: callback_url, callback_checked: @callback_checked ? true : false } : {}))
        else
          say("WeCom emulator on #{emulator.base_url}")
          complain_line("corp_id #{settings[:corp_id]}, agent_id #{settings[:agent_id]}, secret from " \
                        "#{secret_source}; Ctrl-C stops it")
          if callback_url
            complain_line("callbacks go to #{callback_url}; type \"click TASK_ID USER KEY\" to press a card's button " \
                          "(\"help\" lists the commands)")
          end
        end
        complain("warning: #{@callback_warning}", error: "CallbackUrlCheckFailed") if @callback_warning
      end

      # Reads what stdin has and runs each complete line; false at the end of stdin.
      def read_commands(emulator, pending, seen)
        chunk = @stdin.read_nonblock(4096, exception: false)
        return true if chunk == :wait_readable
        return false if chunk.nil?

        pending << chunk
        while (line = pending.slice!(/\A[^\n]*\n/))
          print_received(emulator, seen)
          run_line(emulator, line)
        end
        true
      end

      # One line command; a mistake in it is reported on stderr and the emulator goes on.
      def run_line(emulator, line)
        words = Shellwords.split(line.encode(Encoding::UTF_8, invalid: :replace, undef: :replace))
        case words.first
        when nil then nil
        when "help" then LINE_COMMANDS.each_line { |text| complain_line(text.chomp) }
        when "click" then click(emulator, words.drop(1))
        else raise ArgumentError, "unknown command #{words.first.inspect}: click or help"
        end
      rescue ArgumentError, WeCom::Error => e
        complain(e.message, error: e.class.name)
      end

      def click(emulator, words)
        id, user, key, *answers = words
        raise ArgumentError, "usage: click TASK_ID USER KEY [QUESTION=OPTION,OPTION ...]" if key.nil?

        selected = answers.to_h do |answer|
          question, options = answer.split("=", 2)
          raise ArgumentError, "#{answer.inspect} is not QUESTION=OPTION,OPTION" if options.nil? || question.empty?

          [question, list(options)]
        end
        reply = emulator.click(id, user: user, key: key, selected: selected)
        say(JSON.generate({ kind: "click", task_id: id, user: user, key: key, reply: reply }))
      end

      # Prints what arrived since the last call, one JSON line each.
      def print_received(emulator, seen)
        received = emulator.received_since(seen)
        # Uploads first: a file message that arrived in the same poll refers to one.
        { "upload" => :uploads, "message" => :messages, "robot_message" => :robot_messages,
          "chat_message" => :chat_messages, "card_update" => :card_updates }.each do |kind, records|
          received.fetch(records).each do |item|
            say(JSON.generate({ kind: kind, body: hide_robot_key(kind, shown(item)) }))
          end
        end
        seen.replace(received.fetch(:counts))
      end

      # A robot's key is its credential: robot messages carry it as "key", a robot's upload as its
      # "uploader" (an app's is its agent id, an Integer). An upload record holds no message
      # content, so any other *key* field in it goes too.
      def hide_robot_key(kind, body)
        return body unless body.is_a?(Hash)

        case kind
        when "robot_message" then body.key?("key") ? body.merge("key" => REDACTED) : body
        when "upload"
          body = hide_keys(body)
          body["uploader"].is_a?(String) ? body.merge("uploader" => REDACTED) : body
        else body
        end
      end

      def hide_keys(value)
        case value
        when Hash then value.to_h { |k, v| [k, k.include?("key") && !v.is_a?(Hash) ? REDACTED : hide_keys(v)] }
        when Array then value.map { |v| hide_keys(v) }
        else value
        end
      end

      # A received body made printable: String keys, long or binary strings replaced by their size.
      def shown(value)
        case value
        when Hash then value.to_h { |k, v| [k.to_s, shown(v)] }
        when Array then value.map { |v| shown(v) }
        when String
          text = value.encoding == Encoding::BINARY ? value.dup.force_encoding(Encoding::UTF_8) : value
          if !text.valid_encoding? || text.bytesize > MAX_STRING
            "(#{value.bytesize} bytes)"
          else
            text
          end
        when Symbol then value.to_s
        else value
        end
      end
    end
  end
end
