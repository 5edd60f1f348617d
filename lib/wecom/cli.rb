# frozen_string_literal: true

require "delegate"
require "forwardable"
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
  #
  # This file is the entry point: the options before the command, the exit statuses, the output
  # and the registry, COMMANDS (at the end). Each command is a class in lib/wecom/cli/, a
  # CLI::Command, with its options, its help and its #run.
  class CLI
    OK = 0
    FAILED = 1
    USAGE = 2
    INTERRUPTED = 130

    # The command that is not in COMMANDS: `wecom help [COMMAND]`.
    HELP = "help"
    # A line of "Commands:" in `wecom --help`: the command with its arguments, what it does.
    COMMAND_LINE = "  %-18s %s"
    # Values this short are left alone by the redaction of output: replacing them would mangle
    # ordinary words, and real secrets, tokens and robot keys are far longer.
    REDACT_MIN_LENGTH = 8
    REDACTED = "[REDACTED]"
    # ArgumentErrors of a method called wrongly (a bug), not of input the library refused.
    CALL_MISTAKE = /\A(wrong number of arguments|(unknown|missing) keywords?\b)/

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

    # What the command prints: results on stdout, errors and warnings on stderr (as JSON objects
    # with --json), every line with the secrets redacted.
    class Output
      attr_accessor :json

      def initialize(stdout, stderr, env, json:)
        @stdout = stdout
        @stderr = stderr
        @env = env
        @json = json
        @sensitive = []
      end

      # A value never to print: the secrets of the configured apps, access tokens, robot keys.
      def sensitive(value)
        @sensitive << value.to_s if value && value.to_s.length >= REDACT_MIN_LENGTH
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

      private

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
    end
    private_constant :Output

    # The options every command takes, and those of the commands that talk to WeCom as an app
    # (robots take --base-url too); all are also accepted before the command. Writes to @options
    # and @output.
    module Options
      private

      def client_options(o)
        o.on("--app NAME", "the app registered as NAME with WeCom.configure (see --require)") do |v|
          @options[:app] = v
        end
        base_url_option(o)
        o.on("-r", "--require FILE", "load a Ruby file first, such as one calling WeCom.configure") do |v|
          @options[:requires] << v
        end
      end

      def base_url_option(o)
        o.on("--base-url URL", "another API address (default: WECOM_BASE_URL, else WeCom's)") do |v|
          @options[:base_url] = v
        end
      end

      def common_options(o, top: false)
        o.on("--json", "print machine-readable JSON") { @output.json = true }
        o.on("-h", "--help", "show this help") { raise Help, o.help }
        o.on("--version", "show wecom's version") { raise Help, "wecom #{WeCom::VERSION}" } if top
      end

      def usage!(message)
        raise UsageError, message
      end
    end
    private_constant :Options

    include Options

    def initialize(argv, stdout: $stdout, stderr: $stderr, stdin: $stdin, env: ENV)
      @argv = argv.map(&:to_s)
      @stdin = stdin
      @env = env
      @options = { to: [], party: [], tag: [], mention: [], mention_mobiles: [], requires: [] }
      # --json is known before parsing, so that even an error in parsing is reported as JSON.
      @output = Output.new(stdout, stderr, env, json: @argv.take_while { |arg| arg != "--" }.include?("--json"))
    end

    # Runs the command; returns the exit status.
    def run
      dispatch(parse_global)
      OK
    rescue Help => e
      @output.say(e.text)
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
      @output.complain("interrupted", error: "Interrupt")
      INTERRUPTED
    rescue StandardError => e
      unexpected(e)
    end

    private

    # ---- parsing and dispatch --------------------------------------------------------------

    # Options before the command, then the command's name. Returns the remaining arguments.
    def parse_global
      args = @argv.dup
      top_parser.order!(args)
      @command = args.shift
      usage!("no command given: one of #{command_names.join(', ')}") if @command.nil?
      check_command(@command)
      args
    end

    def dispatch(args)
      return help_command(args) if @command == HELP

      command = build_command(@command)
      positional = command.parser.permute!(args)
      require_files
      command.run(positional)
    end

    def command_names
      [*COMMANDS.keys, HELP]
    end

    def check_command(name)
      usage!("unknown command '#{name}': one of #{command_names.join(', ')}") unless command_names.include?(name)
    end

    def build_command(name)
      COMMANDS.fetch(name).new(name, output: @output, options: @options, stdin: @stdin, env: @env)
    end

    def help_command(args)
      topic = args.shift
      raise Help, top_parser.help if topic.nil?
      usage!("too many arguments: wecom #{HELP} [COMMAND]") unless args.empty?
      check_command(topic)
      raise Help, top_parser.help if topic == HELP

      raise Help, build_command(topic).parser.help
    end

    def top_parser
      Parser.new do |o|
        o.banner = "Usage: wecom COMMAND [options]"
        o.separator ""
        o.separator "Send WeCom (企业微信) app messages and group robot messages from the command line."
        o.separator ""
        o.separator "Commands:"
        COMMANDS.each do |name, command|
          o.separator format(COMMAND_LINE, "#{name} #{command::SYNOPSIS}".strip, command::SUMMARY)
        end
        o.separator format(COMMAND_LINE, "#{HELP} [COMMAND]", "show a command's options (also: wecom COMMAND --help)")
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

    # ---- exit statuses ---------------------------------------------------------------------

    def usage_error(message)
      help = COMMANDS.key?(@command) ? "wecom #{@command} --help" : "wecom --help"
      @output.complain("#{message} (see '#{help}')", error: "UsageError")
      USAGE
    end

    def failure(error, kind: error.class.name)
      fields = {}
      if error.is_a?(WeCom::Error)
        fields[:errcode] = error.errcode
        fields[:errmsg] = error.errmsg
        fields[:status] = error.status if error.status
      end
      @output.complain(error.message, error: kind, **fields)
      FAILED
    end

    # A bug, in wecom or in a --require'd file: the backtrace helps, and is redacted like the rest.
    def unexpected(error)
      @output.complain("unexpected #{error.class}: #{error.message}", error: error.class.name)
      return FAILED if @output.json || !error.backtrace

      @output.complain_line(error.backtrace.first(20).map { |line| "  #{line}" }.join("\n"))
      FAILED
    end

    # A command of `wecom`. A subclass defines SYNOPSIS (its arguments in `wecom --help`), SUMMARY
    # (what it does, there), USAGE (its banner after `wecom NAME`), #define_options (its help text
    # and options) and #run (given the arguments left after the options).
    class Command
      extend Forwardable
      include Options

      def_delegators :@output, :say, :emit, :complain_line, :sensitive
      private :say, :emit, :complain_line, :sensitive

      def initialize(name, output:, options:, stdin:, env:)
        @name = name
        @output = output
        @options = options
        @stdin = stdin
        @env = env
      end

      # The command's options, then those every command takes.
      def parser
        Parser.new do |o|
          o.banner = "Usage: wecom #{@name} #{self.class::USAGE}"
          o.separator ""
          define_options(o)
          common_options(o)
        end
      end

      private

      def json?
        @output.json
      end

      # The first argument, one of the command's TYPES.
      def message_type(args)
        types = self.class::TYPES
        type = args.shift
        usage!("missing TYPE: one of #{types.join(', ')}") if type.nil?
        return type if types.include?(type)

        usage!("unknown message type '#{type}' for wecom #{@name}: one of #{types.join(', ')}")
      end

      def no_arguments(args)
        usage!("#{@name} takes no argument (got #{args.first.inspect})") unless args.empty?
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

      def present(value)
        value.nil? || value.to_s.empty? ? nil : value.to_s
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
    end

    # The registry: each command's name, once, in the order `wecom --help` lists them. A command
    # NAME is the class CLI::Name in lib/wecom/cli/NAME.rb.
    COMMANDS = %w[send robot upload token emulator].to_h do |name|
      require_relative "cli/#{name}"
      [name, const_get(name.capitalize, false)]
    end.freeze
  end
end
