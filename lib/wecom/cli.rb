# frozen_string_literal: true

require "delegate"
require "json"
require "optparse"

module WeCom
  # The `wecom` command: app messages, group robot messages, media uploads, a credentials check
  # and a local emulator, from a shell or a script.
  #
  #   status = WeCom::CLI.new(%w[send text --to zhangsan hello]).run   # => 0
  #
  # #run returns the exit status: 0 on success, 1 on a WeCom, network or configuration error
  # (WeCom::Error), 2 on a usage error (unknown command or option, missing argument, input the
  # library refuses with ArgumentError). It never prints the secret, an access token or a robot
  # key. exe/wecom calls it with ARGV.
  class CLI
    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 130

    SEND_TYPES = %w[text markdown textcard image file].freeze
    ROBOT_TYPES = %w[text markdown image file].freeze
    MEDIA_TYPES = %w[image voice video file].freeze
    COMMANDS = %w[send robot upload token emulator help].freeze
    # Options of `wecom send` that only a textcard takes.
    TEXTCARD_OPTIONS = { title: "--title", description: "--description", url: "--url", button: "--button" }.freeze
    # Values this short are left alone by the redaction of output: replacing them would mangle
    # ordinary words, and real secrets, tokens and robot keys are far longer.
    REDACT_MIN_LENGTH = 8
    REDACTED = "[REDACTED]"
    # Strings longer than this (a robot image's base64, say) are shown as their size by `wecom emulator`.
    EMULATOR_MAX_STRING = 4096
    EMULATOR_POLL_SECONDS = 0.1
    # ArgumentErrors of a method called wrongly (a bug), not of input the library refused.
    CALL_MISTAKE = /\A(wrong number of arguments|(unknown|missing) keywords?\b)/
    # An argument of `send image|file` meant as a path, not a media_id: it names a directory or
    # has a file extension.
    PATH_LIKE = %r{/|\.[A-Za-z0-9]{1,5}\z}

    # A mistake in the command line: exit status 2.
    class UsageError < StandardError; end

    # --help was given: print this usage text and exit 0.
    class Help < StandardError
      attr_reader :text

      def initialize(text)
        super("help")
        @text = text
      end
    end

    # OptionParser without its built-in --help, --version and completion switches, which print to
    # the process's STDOUT and call exit.
    class Parser < OptionParser
      def add_officious; end
    end
    private_constant :Parser

    # The library's configuration, but with the WECOM_* variables read from the CLI's env: instead
    # of the process's ENV.
    class EnvConfiguration < SimpleDelegator
      def initialize(configuration, env)
        super(configuration)
        @env = env
      end

      def resolve(name, _env = nil, app: nil)
        __getobj__.resolve(name, @env, app: app)
      end
    end
    private_constant :EnvConfiguration

    def initialize(argv, stdout: $stdout, stderr: $stderr, stdin: $stdin, env: ENV)
      @argv = argv.map(&:to_s)
      @stdout = stdout
      @stderr = stderr
      @stdin = stdin
      @env = env
      @options = { to: [], party: [], tag: [], mention: [], mention_mobiles: [], requires: [] }
      @sensitive = []
      # Known before parsing, so that even an error in parsing is reported as JSON.
      @json = @argv.take_while { |arg| arg != "--" }.include?("--json")
    end

    # Runs the command; returns the exit status.
    def run
      dispatch(parse_global)
      OK
    rescue Help => e
      say(e.text)
      OK
    rescue UsageError, OptionParser::ParseError => e
      usage_error(e.message)
    rescue ArgumentError => e
      # The library's input checks (empty content, too long, no recipients, a bad base URL ...);
      # a method called with the wrong arguments is a bug instead.
      e.message.match?(CALL_MISTAKE) ? unexpected(e) : usage_error(e.message)
    rescue WeCom::Error => e
      failure(e)
    rescue SystemCallError, IOError => e
      failure(e, kind: e.class.name)
    rescue Interrupt
      complain("interrupted", error: "Interrupt")
      INTERRUPTED
    rescue StandardError => e
      unexpected(e)
    end

    private

    # A bug, in wecom or in a --require'd file: the backtrace helps, and is redacted like the rest.
    def unexpected(error)
      complain("unexpected #{error.class}: #{error.message}", error: error.class.name)
      complain_line(error.backtrace.first(20).map { |line| "  #{line}" }.join("\n")) if error.backtrace && !@json
      FAILED
    end

    # ---- parsing ---------------------------------------------------------------------------

    # Options before the command, then the command's name. Returns the remaining arguments.
    def parse_global
      args = @argv.dup
      parser = top_parser
      parser.order!(args)
      @command = args.shift
      usage!("no command given: one of #{COMMANDS.join(', ')}") if @command.nil?
      usage!("unknown command '#{@command}': one of #{COMMANDS.join(', ')}") unless COMMANDS.include?(@command)

      args
    end

    def dispatch(args)
      case @command
      when "help" then help_command(args)
      else
        positional = command_parser(@command).permute!(args)
        require_files
        run_command(@command, positional)
      end
    end

    def run_command(command, args)
      case command
      when "send" then send_command(args)
      when "robot" then robot_command(args)
      when "upload" then upload_command(args)
      when "token" then token_command(args)
      when "emulator" then emulator_command(args)
      end
    end

    def top_parser
      Parser.new do |o|
        o.banner = "Usage: wecom COMMAND [options]"
        o.separator ""
        o.separator "Send WeCom (企业微信) app messages and group robot messages from the command line."
        o.separator ""
        o.separator "Commands:"
        o.separator "  send TYPE ...      send an app message: #{SEND_TYPES.join(', ')}"
        o.separator "  robot TYPE ...     send through a group robot's webhook: #{ROBOT_TYPES.join(', ')}"
        o.separator "  upload FILE        upload a file to WeCom's media store and print its media_id"
        o.separator "  token              check the app's credentials and print when its access token expires"
        o.separator "  emulator           run a local fake WeCom server and print each message it receives"
        o.separator "  help [COMMAND]     show a command's options (also: wecom COMMAND --help)"
        o.separator ""
        o.separator "Examples:"
        o.separator "  wecom send text --to zhangsan \"Interview at 15:00\""
        o.separator "  wecom send textcard --to zhangsan,lisi --title Interview --description \"Room 3\" \\"
        o.separator "                      --url https://hr.example.com/interviews/42"
        o.separator "  wecom robot text --mention @all \"Deploy done\""
        o.separator "  wecom upload report.pdf --type file"
        o.separator "  wecom token --app hr --require ./config/wecom_apps.rb"
        o.separator ""
        o.separator "Configuration (as in the library):"
        o.separator "  WECOM_CORP_ID, WECOM_SECRET, WECOM_AGENT_ID   the app's credentials"
        o.separator "  WECOM_BASE_URL                                another API address (a proxy, the emulator)"
        o.separator "  WECOM_ROBOT_KEY                               a group robot's key, or its whole webhook URL"
        o.separator ""
        o.separator "Options (also accepted after the command):"
        client_options(o)
        common_options(o, top: true)
        o.separator ""
        o.separator "Exit status: 0 done, 1 WeCom, network or configuration error, 2 usage error."
      end
    end

    def command_parser(command)
      Parser.new do |o|
        case command
        when "send" then send_options(o)
        when "robot" then robot_options(o)
        when "upload" then upload_options(o)
        when "token" then token_options(o)
        when "emulator" then emulator_options(o)
        end
        common_options(o)
      end
    end

    def send_options(o)
      o.banner = "Usage: wecom send TYPE [options] ARGUMENT"
      o.separator ""
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

    def robot_options(o)
      o.banner = "Usage: wecom robot TYPE [options] ARGUMENT"
      o.separator ""
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
      o.on("--base-url URL", "another API address (default: WECOM_BASE_URL, else WeCom's)") do |v|
        @options[:base_url] = v
      end
    end

    def upload_options(o)
      o.banner = "Usage: wecom upload FILE [options]"
      o.separator ""
      o.separator "Uploads FILE to WeCom's temporary media store (kept 3 days, shared by the corp's apps)"
      o.separator "and prints its media_id, for `wecom send image|file MEDIA_ID` and the library."
      o.separator ""
      o.separator "Example:"
      o.separator "  media_id=$(wecom upload chart.png --type image)"
      o.separator ""
      o.separator "Options:"
      o.on("--type TYPE", MEDIA_TYPES, "#{MEDIA_TYPES.join(', ')} (default: file)") { |v| @options[:type] = v }
      client_options(o)
    end

    def token_options(o)
      o.banner = "Usage: wecom token [options]"
      o.separator ""
      o.separator "Fetches an access token with the app's credentials and prints how many seconds it has"
      o.separator "left. The token itself is never printed."
      o.separator ""
      o.separator "Options:"
      client_options(o)
    end

    def emulator_options(o)
      o.banner = "Usage: wecom emulator [options]"
      o.separator ""
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

    # Options of the commands that talk to WeCom as an app.
    def client_options(o)
      o.on("--app NAME", "the app registered as NAME with WeCom.configure (see --require)") do |v|
        @options[:app] = v
      end
      o.on("--base-url URL", "another API address (default: WECOM_BASE_URL, else WeCom's)") do |v|
        @options[:base_url] = v
      end
      o.on("-r", "--require FILE", "load a Ruby file first, such as one calling WeCom.configure") do |v|
        @options[:requires] << v
      end
    end

    def common_options(o, top: false)
      o.on("--json", "print machine-readable JSON") { @json = true }
      o.on("-h", "--help", "show this help") { raise Help, o.help }
      o.on("--version", "show wecom's version") { raise Help, "wecom #{WeCom::VERSION}" } if top
    end

    # ---- commands --------------------------------------------------------------------------

    def help_command(args)
      topic = args.shift
      raise Help, top_parser.help if topic.nil?
      usage!("too many arguments: wecom help [COMMAND]") unless args.empty?
      usage!("unknown command '#{topic}': one of #{COMMANDS.join(', ')}") unless COMMANDS.include?(topic)
      raise Help, top_parser.help if topic == "help"

      raise Help, command_parser(topic).help
    end

    def send_command(args)
      type = message_type(args, SEND_TYPES, "send")
      extra = TEXTCARD_OPTIONS.select { |name, _| @options.key?(name) }
      if type != "textcard" && !extra.empty?
        usage!("#{extra.values.join(', ')}: only for wecom send textcard")
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
      if @json
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

    def robot_command(args)
      type = message_type(args, ROBOT_TYPES, "robot")
      mentions = !@options[:mention].empty? || !@options[:mention_mobiles].empty?
      usage!("--mention and --mention-mobiles are only for wecom robot text") if mentions && type != "text"

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
      @json ? emit(ok: true) : say("Sent to the group robot.")
    end

    def upload_command(args)
      path = existing_file(one_argument(args, "FILE"))
      type = @options[:type] || "file"
      client = build_client
      unless client.respond_to?(:upload_media)
        raise WeCom::Error, "uploading needs WeCom::Client#upload_media, which this version of wecom lacks"
      end

      media_id = client.upload_media(path, type: type.to_sym)
      @json ? emit(media_id: media_id, type: type) : say(media_id)
    end

    def token_command(args)
      usage!("token takes no argument (got #{args.first.inspect})") unless args.empty?
      client = build_client
      sensitive(client.access_token)
      seconds = client.token_expires_in&.floor
      if @json
        emit(expires_in: seconds, app: client.app&.to_s, corp_id: client.corp_id, agent_id: client.agent_id)
      elsif seconds
        say("Credentials OK (corp_id #{client.corp_id}, agent_id #{client.agent_id}): " \
            "the access token expires in #{seconds} s")
      else
        say("Credentials OK (corp_id #{client.corp_id}, agent_id #{client.agent_id}): " \
            "the access token's expiry is not known")
      end
    end

    def emulator_command(args)
      usage!("emulator takes no argument (got #{args.first.inspect})") unless args.empty?
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

    # ---- the emulator ----------------------------------------------------------------------

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
        break if IO.select([reader], nil, nil, EMULATOR_POLL_SECONDS)
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
      if @json
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
        if !text.valid_encoding? || text.bytesize > EMULATOR_MAX_STRING
          "(#{value.bytesize} bytes)"
        else
          text
        end
      when Symbol then value.to_s
      else value
      end
    end

    # ---- helpers ---------------------------------------------------------------------------

    def message_type(args, types, command)
      type = args.shift
      usage!("missing TYPE: one of #{types.join(', ')}") if type.nil?
      return type if types.include?(type)

      usage!("unknown message type '#{type}' for wecom #{command}: one of #{types.join(', ')}")
    end

    def one_argument(args, name)
      usage!("missing #{name}") if args.empty?
      usage!("too many arguments: one #{name} (quote it if it has spaces)") if args.size > 1
      args.first
    end

    # TEXT, or "-" for the standard input (a trailing newline dropped).
    def content_argument(args, name)
      content = one_argument(args, name)
      content == "-" ? @stdin.read.to_s.chomp : content
    end

    def existing_file(path)
      usage!("no such file: #{path}") unless File.file?(path)
      usage!("cannot read #{path}") unless File.readable?(path)
      path
    end

    def list(value)
      value.split(",").map(&:strip).reject(&:empty?)
    end

    def list_or_nil(name)
      @options[name].empty? ? nil : @options[name]
    end

    def present(value)
      value.nil? || value.to_s.empty? ? nil : value.to_s
    end

    def usage!(message)
      raise UsageError, message
    end

    def require_files
      @options[:requires].each do |file|
        usage!("no such file: #{file} (--require)") unless File.file?(file)
        path = File.expand_path(file)
        begin
          require path
        rescue ScriptError, StandardError => e
          # The file's mistake, in one line saying where: wecom's backtrace would not help.
          at = e.backtrace&.find { |line| line.start_with?("#{path}:") }&.[](/\A.*?:\d+/)
          usage!("--require #{file} failed: #{e.class}: #{e.message.lines.first&.chomp}#{" (#{at})" if at}")
        end
      end
    end

    def build_client
      WeCom::Client.new(@options[:app], base_url: @options[:base_url],
                                        configuration: EnvConfiguration.new(WeCom.configuration, @env))
    rescue WeCom::ConfigurationError => e
      raise unless e.message.include?(" not set") && !@options[:app] && !WeCom.configuration.default_app

      # The library's hint speaks of WeCom::Client.new; on the command line it is the variables.
      raise WeCom::ConfigurationError, "#{e.message.sub(/: pass them to WeCom::Client\.new.*\z/m, '')}: set " \
                                       "these environment variables (or give --app NAME with --require FILE)"
    end

    def build_webhook
      key = present(@options[:key]) || present(@env["WECOM_ROBOT_KEY"])
      unless key
        raise WeCom::ConfigurationError, "WeCom robot key not set: set WECOM_ROBOT_KEY (the key or the webhook URL) " \
                                         "or give --key"
      end
      sensitive(key)
      url_key = key[/[?&]key=([^&#]+)/, 1]
      sensitive(url_key) if url_key

      settings = { key: key }
      base_url = @options[:base_url] || (present(@env["WECOM_BASE_URL"]) unless key.match?(%r{\Ahttps?://}i))
      settings[:base_url] = base_url if base_url
      WeCom::Webhook.new(**settings)
    end

    # ---- output ----------------------------------------------------------------------------

    # Values never to print: the secrets of the configured apps, access tokens, robot keys.
    def sensitive(value)
      @sensitive << value.to_s if value && value.to_s.length >= REDACT_MIN_LENGTH
    end

    def redact(text)
      secrets = @sensitive + [@env["WECOM_SECRET"], @env["WECOM_ROBOT_KEY"]] + configured_secrets
      secrets.compact.map(&:to_s).select { |s| s.length >= REDACT_MIN_LENGTH }.uniq
             .sort_by { |s| -s.length }
             .reduce(text.to_s) { |out, secret| out.gsub(secret, REDACTED) }
    end

    def configured_secrets
      configuration = WeCom.configuration
      [configuration.secret] + configuration.apps.map { |name| configuration.app_settings(name)[:secret] }
    rescue StandardError
      []
    end

    def say(text)
      @stdout.puts(redact(text))
      @stdout.flush
    end

    def emit(data)
      say(JSON.generate(data))
    end

    def complain_line(text)
      @stderr.puts(redact(text))
      @stderr.flush
    end

    def complain(message, error:, **fields)
      if @json
        complain_line(JSON.generate({ error: error, **fields, message: message }))
      else
        complain_line("wecom: #{message}")
      end
    end

    def usage_error(message)
      command = @command
      help = COMMANDS.include?(command) && command != "help" ? "wecom #{command} --help" : "wecom --help"
      complain("#{message} (see '#{help}')", error: "UsageError")
      USAGE
    end

    def failure(error, kind: error.class.name)
      fields = {}
      if error.is_a?(WeCom::Error)
        fields[:errcode] = error.errcode
        fields[:errmsg] = error.errmsg
        fields[:status] = error.status if error.status
      end
      complain(error.message, error: kind, **fields)
      FAILED
    end
  end
end
