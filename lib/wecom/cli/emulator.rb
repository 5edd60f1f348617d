# frozen_string_literal: true

module WeCom
  class CLI
    # `wecom emulator`: runs WeCom::Emulator in the foreground and prints each message it receives
    # as a JSON line, until SIGINT or SIGTERM.
    class Emulator < Command
      SYNOPSIS = ""
      SUMMARY = "run a local fake WeCom server and print each message it receives"
      USAGE = "[options]"
      # Strings longer than this (a robot image's base64, say) are shown as their size.
      MAX_STRING = 4096
      POLL_SECONDS = 0.1

      def run(args)
        no_arguments(args)
        settings = emulator_settings
        begin
          emulator = WeCom::Emulator.start(**settings, port: @options[:port] || 0)
        rescue RuntimeError => e
          raise WeCom::Error, e.message
        end
        serve(emulator, settings)
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
        o.separator "Example:"
        o.separator "  wecom emulator --port 8080 &"
        o.separator "  WECOM_BASE_URL=http://127.0.0.1:8080 wecom send text --to zhangsan hello"
        o.separator ""
        o.separator "Options:"
        o.on("--port PORT", Integer, "the port on 127.0.0.1 (default: any free port)") do |v|
          usage!("--port must be from 0 to 65535, got #{v}") unless v.between?(0, 65_535)

          @options[:port] = v
        end
      end

      def emulator_settings
        agent_id = present(@env["WECOM_AGENT_ID"]) || "1000002"
        unless agent_id.match?(/\A\d+\z/) && agent_id.to_i.positive?
          raise WeCom::ConfigurationError, "WECOM_AGENT_ID must be a positive integer, got #{agent_id.inspect}"
        end

        { corp_id: present(@env["WECOM_CORP_ID"]) || "corp", secret: present(@env["WECOM_SECRET"]) || "secret",
          agent_id: agent_id.to_i }
      end

      def serve(emulator, settings)
        reader, writer = IO.pipe
        handlers = %w[INT TERM].to_h do |signal|
          [signal, trap(signal) do
            writer.write_nonblock(".")
          rescue IO::WaitWritable, IOError
            nil
          end]
        end
        announce(emulator, settings)
        seen = Hash.new(0)
        loop do
          print_received(emulator, seen)
          break if IO.select([reader], nil, nil, POLL_SECONDS)
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
        if json?
          emit(base_url: emulator.base_url, corp_id: settings[:corp_id], agent_id: settings[:agent_id])
        else
          say("WeCom emulator on #{emulator.base_url}")
          complain_line("corp_id #{settings[:corp_id]}, agent_id #{settings[:agent_id]}, secret from " \
                        "#{secret_source}; Ctrl-C stops it")
        end
      end

      # Prints what arrived since the last call, one JSON line each.
      def print_received(emulator, seen)
        # Uploads first: a file message that arrived in the same poll refers to one.
        { "upload" => :uploads, "message" => :messages, "robot_message" => :robot_messages,
          "chat_message" => :chat_messages }.each do |kind, reader|
          next unless emulator.respond_to?(reader)

          received = Array(emulator.public_send(reader))
          seen[kind] = 0 if received.size < seen[kind]
          received.drop(seen[kind]).each do |item|
            say(JSON.generate({ kind: kind, body: hide_robot_key(kind, shown(item)) }))
          end
          seen[kind] = received.size
        end
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
