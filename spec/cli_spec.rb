# frozen_string_literal: true

require "open3"
require "json"
require "digest"
require "base64"

# The `wecom` command, run as users run it: exe/wecom in a subprocess, configured by the WECOM_*
# variables and talking over HTTP to an emulator started by the example.
RSpec.describe "The wecom command" do
  root = File.expand_path("..", __dir__)
  exe = File.join(root, "exe", "wecom")
  # A 1x1 PNG.
  png = Base64.decode64("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6k" \
                        "gAAAABJRU5ErkJggg==")

  let(:robot_key) { "robot-key-#{SecureRandom.hex(8)}" }
  let(:env) do
    { "WECOM_CORP_ID" => credentials[:corp_id], "WECOM_SECRET" => credentials[:secret],
      "WECOM_AGENT_ID" => credentials[:agent_id].to_s, "WECOM_BASE_URL" => emulator.base_url,
      "WECOM_ROBOT_KEY" => nil }
  end

  define_method(:exe) { exe }
  define_method(:root) { root }

  # Runs exe/wecom; returns [stdout, stderr, Process::Status].
  define_method(:wecom) do |*args, env: self.env, stdin: ""|
    Open3.capture3(env, RbConfig.ruby, exe, *args, stdin_data: stdin, chdir: root)
  end

  def no_credentials
    %w[WECOM_CORP_ID WECOM_SECRET WECOM_AGENT_ID WECOM_BASE_URL WECOM_ROBOT_KEY].to_h { |name| [name, nil] }
  end

  describe "help" do
    it "prints the usage of the command and of every command to stdout, exits 0, and shows no secret" do
      secret_env = env.merge("WECOM_ROBOT_KEY" => robot_key)
      [[%w[--help], "Usage: wecom COMMAND"], [%w[-h], "Usage: wecom COMMAND"], [%w[help], "Usage: wecom COMMAND"],
       [%w[send --help], "Usage: wecom send TYPE"], [%w[send text -h], "Usage: wecom send TYPE"],
       [%w[robot --help], "Usage: wecom robot TYPE"], [%w[upload --help], "Usage: wecom upload FILE"],
       [%w[token --help], "Usage: wecom token"], [%w[emulator --help], "Usage: wecom emulator"],
       [%w[help send], "Usage: wecom send TYPE"],
       [%w[--json token --help], "Usage: wecom token"]].each do |args, banner|
        out, err, status = wecom(*args, env: secret_env)
        expect(status.exitstatus).to eq(0), "wecom #{args.join(' ')}: #{err}"
        expect(out).to start_with(banner), "wecom #{args.join(' ')}"
        expect(err).to eq("")
        expect(out).not_to include(credentials[:secret], robot_key)
      end
      expect(emulator.messages).to eq([])
    end

    it "lists the commands, the message types and the configuration variables" do
      out, = wecom("--help")
      %w[send robot upload token emulator WECOM_CORP_ID WECOM_SECRET WECOM_AGENT_ID WECOM_BASE_URL
         WECOM_ROBOT_KEY --json].each { |word| expect(out).to include(word) }
      send_help, = wecom("send", "--help")
      %w[text markdown textcard image file --to --party --tag --safe --title --description --url --button --app
         --base-url].each { |word| expect(send_help).to include(word) }
      robot_help, = wecom("robot", "--help")
      %w[--key --mention --mention-mobiles WECOM_ROBOT_KEY].each { |word| expect(robot_help).to include(word) }
    end

    it "prints the version with --version" do
      out, _, status = wecom("--version")
      expect(status.exitstatus).to eq(0)
      expect(out).to eq("wecom #{WeCom::VERSION}\n")
    end
  end

  describe "send" do
    it "sends a text message and prints its msgid" do
      out, err, status = wecom("send", "text", "--to", "zhangsan", "Interview at 15:00")
      expect(status.exitstatus).to eq(0), err
      expect(err).to eq("")
      expect(emulator.messages.size).to eq(1)
      message = emulator.messages.last
      expect(message).to include("msgtype" => "text", "touser" => "zhangsan", "agentid" => credentials[:agent_id],
                                 "text" => { "content" => "Interview at 15:00" }, "safe" => 0)
      expect(out).to match(/\ASent: msgid \S+\n\z/)
    end

    it "prints the result as JSON with --json, invalid recipients included" do
      emulator = start_emulator(**credentials, users: %w[zhangsan lisi])
      out, err, status = wecom("send", "text", "--to", "zhangsan,ghost", "--json", "hello",
                               env: env.merge("WECOM_BASE_URL" => emulator.base_url))
      expect(status.exitstatus).to eq(0), err
      result = JSON.parse(out)
      expect(result["msgid"]).to be_a(String).and(satisfy { |id| !id.empty? })
      expect(result["invalid_users"]).to eq(["ghost"])
      expect(emulator.messages.last["touser"]).to eq("zhangsan|ghost")
    end

    it "warns on stderr about recipients WeCom could not reach, and still exits 0" do
      emulator = start_emulator(**credentials, users: %w[zhangsan])
      out, err, status = wecom("send", "text", "--to", "zhangsan", "--to", "ghost", "hello",
                               env: env.merge("WECOM_BASE_URL" => emulator.base_url))
      expect(status.exitstatus).to eq(0)
      expect(out).to start_with("Sent: msgid ")
      expect(err).to eq("wecom: WeCom could not reach these users: ghost\n")
    end

    it "sends markdown to parties and tags, confidential with --safe" do
      _, err, status = wecom("send", "markdown", "--party", "2,3", "--tag", "7", "--safe", "**3** interviews today")
      expect(status.exitstatus).to eq(0), err
      expect(emulator.messages.last).to include("msgtype" => "markdown", "toparty" => "2|3", "totag" => "7",
                                                "safe" => 1, "markdown" => { "content" => "**3** interviews today" })
    end

    it "sends a textcard with its button" do
      _, err, status = wecom("send", "textcard", "--to", "zhangsan", "--title", "Interview",
                             "--description", "Today 15:00, room 3", "--url", "https://hr.example.com/i/42",
                             "--button", "Open")
      expect(status.exitstatus).to eq(0), err
      expect(emulator.messages.last["textcard"]).to eq(
        "title" => "Interview", "description" => "Today 15:00, room 3", "url" => "https://hr.example.com/i/42",
        "btntxt" => "Open"
      )
    end

    it "sends to everyone with --to @all" do
      _, err, status = wecom("send", "text", "--to", "@all", "All hands at 10")
      expect(status.exitstatus).to eq(0), err
      expect(emulator.messages.last["touser"]).to eq("@all")
    end

    it "reads the text from stdin when it is -" do
      _, err, status = wecom("send", "text", "--to", "zhangsan", "-", stdin: "from a pipe\n")
      expect(status.exitstatus).to eq(0), err
      expect(emulator.messages.last["text"]["content"]).to eq("from a pipe")
    end

    it "sends with --base-url instead of WECOM_BASE_URL" do
      _, err, status = wecom("send", "text", "--to", "zhangsan", "--base-url", emulator.base_url, "hi",
                             env: env.merge("WECOM_BASE_URL" => "http://127.0.0.1:#{free_port}"))
      expect(status.exitstatus).to eq(0), err
      expect(emulator.messages.last["text"]["content"]).to eq("hi")
    end

    it "sends a media_id as an image" do
      _, err, status = wecom("send", "image", "--to", "zhangsan", "MEDIA_ID_1")
      expect(status.exitstatus).to eq(0), err
      expect(emulator.messages.last).to include("msgtype" => "image", "image" => { "media_id" => "MEDIA_ID_1" })
    end

    # Needs Client#send_image/#send_file to upload a path, and the emulator's uploads.
    it "uploads an image file, then sends it" do
      path = tmp_file("chart.png", png)
      _, err, status = wecom("send", "image", "--to", "zhangsan", path)
      expect(status.exitstatus).to eq(0), err
      upload = emulator.uploads.last
      expect(upload).to include(type: "image", filename: "chart.png", size: png.bytesize)
      expect(emulator.messages.last).to include("msgtype" => "image", "image" => { "media_id" => upload[:media_id] })
    end

    it "uploads a file, then sends it" do
      path = tmp_file("handbook.txt", "Welcome aboard\n")
      _, err, status = wecom("send", "file", "--to", "zhangsan,lisi", path)
      expect(status.exitstatus).to eq(0), err
      upload = emulator.uploads.last
      expect(upload).to include(type: "file", filename: "handbook.txt", size: 15)
      expect(emulator.messages.last).to include("msgtype" => "file", "touser" => "zhangsan|lisi",
                                                "file" => { "media_id" => upload[:media_id] })
    end
  end

  describe "WeCom and network errors" do
    it "exits 1 and prints the errcode and errmsg on stderr" do
      emulator.fail_next(81013)
      out, err, status = wecom("send", "text", "--to", "zhangsan", "hi")
      expect(status.exitstatus).to eq(1)
      expect(out).to eq("")
      expect(err).to start_with("wecom: ").and include("errcode 81013").and include("user & party & tag all invalid")
      expect(err.lines.size).to eq(1)
    end

    it "prints a JSON error object on stderr with --json" do
      emulator.fail_next(81013)
      out, err, status = wecom("--json", "send", "text", "--to", "zhangsan", "hi")
      expect(status.exitstatus).to eq(1)
      expect(out).to eq("")
      error = JSON.parse(err)
      expect(error).to include("error" => "WeCom::APIError", "errcode" => 81_013)
      expect(error["errmsg"]).to start_with("user & party & tag all invalid")
    end

    it "exits 1 on a wrong secret, without printing it" do
      wrong = "wrong-secret-#{SecureRandom.hex(8)}"
      out, err, status = wecom("token", env: env.merge("WECOM_SECRET" => wrong))
      expect(status.exitstatus).to eq(1)
      expect(err).to start_with("wecom: ").and include("40001")
      expect(out + err).not_to include(wrong)
    end

    it "exits 1 when WeCom cannot be reached" do
      out, err, status = wecom("send", "text", "--to", "zhangsan", "hi",
                               env: env.merge("WECOM_BASE_URL" => "http://127.0.0.1:#{free_port}"))
      expect(status.exitstatus).to eq(1)
      expect(out).to eq("")
      expect(err).to start_with("wecom: ").and match(/connect/i)
    end

    it "exits 1 naming the variables when credentials are missing" do
      out, err, status = wecom("send", "text", "--to", "zhangsan", "hi", env: no_credentials)
      expect(status.exitstatus).to eq(1)
      expect(out).to eq("")
      expect(err).to start_with("wecom: ")
      expect(err).to include("WECOM_CORP_ID", "WECOM_SECRET", "WECOM_AGENT_ID")
      expect(err).not_to include("WeCom::Client.new")
    end

    it "exits 1 naming WECOM_ROBOT_KEY and --key when the robot has no key" do
      out, err, status = wecom("robot", "text", "hi")
      expect(status.exitstatus).to eq(1)
      expect(out).to eq("")
      expect(err).to start_with("wecom: ").and include("WECOM_ROBOT_KEY", "--key")
    end

    it "names only the missing variable" do
      _, err, status = wecom("token", env: env.merge("WECOM_SECRET" => nil))
      expect(status.exitstatus).to eq(1)
      expect(err).to include("WECOM_SECRET")
      expect(err).not_to include("WECOM_CORP_ID", "WECOM_AGENT_ID")
    end
  end

  describe "usage errors" do
    [
      [%w[frobnicate], /unknown command 'frobnicate'/, "wecom --help"],
      [[], /no command given/, "wecom --help"],
      [%w[send text --to zhangsan --bogus hi], /invalid option: --bogus/, "wecom send --help"],
      [%w[send text --to zhangsan], /missing TEXT/, "wecom send --help"],
      [%w[send text --to zhangsan hello world], /too many arguments/, "wecom send --help"],
      [%w[send], /missing TYPE/, "wecom send --help"],
      [%w[send video --to zhangsan x], /unknown message type 'video'/, "wecom send --help"],
      [%w[send text hi], /no recipients/, "wecom send --help"],
      [%w[send text --to zhangsan --title T hi], /--title: only for wecom send textcard/, "wecom send --help"],
      [%w[send textcard --to zhangsan --title T], /textcard needs --description, --url/, "wecom send --help"],
      [%w[send text --to], /missing argument: --to/, "wecom send --help"],
      [%w[send image --to zhangsan ./missing.png], %r{no such file: \./missing\.png}, "wecom send --help"],
      [%w[upload], /missing FILE/, "wecom upload --help"],
      [%w[upload /nonexistent/file.png], %r{no such file: /nonexistent/file\.png}, "wecom upload --help"],
      [%w[upload /etc/hostname --type gif], /invalid argument: --type gif/, "wecom upload --help"],
      [%w[token extra], /token takes no argument/, "wecom token --help"],
      [%w[emulator --port 99999], /--port must be from 0 to 65535/, "wecom emulator --help"],
      [%w[emulator --max-records -1], /--max-records must be from 0 to 1000000, got -1/, "wecom emulator --help"],
      [%w[robot markdown --key some-robot-key --mention zhangsan hi], /--mention .* only for wecom robot text/,
       "wecom robot --help"],
      [%w[robot image --key some-robot-key /nonexistent.png], /no such file/, "wecom robot --help"],
      [%w[help frobnicate], /unknown command 'frobnicate'/, "wecom --help"]
    ].each do |args, problem, hint|
      it "exits 2 with a one-line hint: wecom #{args.join(' ')}" do
        out, err, status = wecom(*args)
        expect(status.exitstatus).to eq(2)
        expect(out).to eq("")
        expect(err).to match(problem)
        expect(err).to start_with("wecom: ").and end_with("(see '#{hint}')\n")
        expect(err.lines.size).to eq(1)
        expect(emulator.messages).to eq([])
      end
    end

    it "exits 2 on input the library refuses, and sends nothing" do
      out, err, status = wecom("send", "text", "--to", "zhangsan", "x" * 2049)
      expect(status.exitstatus).to eq(2)
      expect(out).to eq("")
      expect(err).to start_with("wecom: content").and include("2049 bytes")
      expect(emulator.messages).to eq([])
      expect(emulator.requests).to eq([])
    end

    it "reports a usage error before missing credentials" do
      _, err, status = wecom("send", "text", "hi", env: no_credentials)
      expect(status.exitstatus).to eq(2)
      expect(err).to include("no recipients")
    end

    it "prints a usage error as JSON with --json" do
      out, err, status = wecom("send", "text", "--json", "--to", "zhangsan")
      expect(status.exitstatus).to eq(2)
      expect(out).to eq("")
      expect(JSON.parse(err)).to include("error" => "UsageError", "message" => a_string_including("missing TEXT"))
    end
  end

  describe "token" do
    it "prints the seconds the token has left and never the token or the secret" do
      # The emulator hands out the same token to every fetch in the first half of its lifetime,
      # so this is the token the command gets.
      token = WeCom::Client.new(**credentials, base_url: emulator.base_url).access_token
      out, err, status = wecom("token")
      expect(status.exitstatus).to eq(0), err
      seconds = out[/expires in (\d+) s/, 1]
      expect(seconds.to_i).to be_between(7000, 7200)
      expect(out).to include("corp_id #{credentials[:corp_id]}")
      expect(out + err).not_to include(token)
      expect(out + err).not_to include(credentials[:secret])

      # That it was this token: a send by the command uses it.
      wecom("send", "text", "--to", "zhangsan", "hi")
      expect(emulator.requests.last[:query]["access_token"]).to eq(token)
    end

    it "prints {\"expires_in\": seconds} with --json" do
      token = WeCom::Client.new(**credentials, base_url: emulator.base_url).access_token
      out, err, status = wecom("token", "--json")
      expect(status.exitstatus).to eq(0), err
      data = JSON.parse(out)
      expect(data["expires_in"]).to be_an(Integer).and(be_between(7000, 7200))
      expect(data).to include("corp_id" => credentials[:corp_id], "agent_id" => credentials[:agent_id])
      expect(out).not_to include(token, credentials[:secret])
    end
  end

  describe "--app with --require" do
    let(:hr_secret) { "hr-secret-#{SecureRandom.hex(8)}" }
    let(:emulator) { start_emulator(**credentials, apps: [{ secret: hr_secret, agent_id: 1_000_005 }]) }
    let(:config_file) do
      tmp_file("wecom_apps.rb", <<~RUBY)
        WeCom.configure do |c|
          c.corp_id = #{credentials[:corp_id].inspect}
          c.base_url = #{emulator.base_url.inspect}
          c.app :hr, secret: #{hr_secret.inspect}, agent_id: 1_000_005
        end
      RUBY
    end

    it "sends as the registered app" do
      _, err, status = wecom("send", "text", "--app", "hr", "--require", config_file, "--to", "zhangsan", "from HR",
                             env: no_credentials)
      expect(status.exitstatus).to eq(0), err
      expect(emulator.messages.last).to include("agentid" => 1_000_005, "text" => { "content" => "from HR" })
    end

    it "checks the registered app's credentials without printing its secret" do
      out, err, status = wecom("token", "--app", "hr", "-r", config_file, env: no_credentials)
      expect(status.exitstatus).to eq(0), err
      expect(out).to include("agent_id 1000005").and match(/expires in \d+ s/)
      expect(out + err).not_to include(hr_secret)
    end

    it "exits 1 for an app that is not registered" do
      out, err, status = wecom("token", "--app", "payroll", "-r", config_file, env: no_credentials)
      expect(status.exitstatus).to eq(1)
      expect(out).to eq("")
      expect(err).to include("app :payroll is not registered").and include(":hr")
    end
  end

  describe "--require of a file that fails" do
    it "is a usage error in one line, naming the file and where it failed, exit 2" do
      [["missing", nil, /no such file: .*missing\.rb \(--require\)/],
       ["load", "require \"wecom_no_such_library\"\n", /failed: LoadError: cannot load such file -- wecom_no_such_library \(.*load\.rb:1\)/],
       ["syntax", "def broken(\n", /failed: SyntaxError: .*syntax\.rb:\d+: syntax error/],
       ["raise", "x = 1\nraise ArgumentError, \"bad setting\"\n", /failed: ArgumentError: bad setting \(.*raise\.rb:2\)/]]
        .each do |name, source, message|
          file = source ? tmp_file("#{name}.rb", source) : File.join(tmp_dir, "#{name}.rb")
          [[], ["--json"]].each do |json|
            out, err, status = wecom(*json, "token", "--require", file)
            expect(status.exitstatus).to eq(2), "#{name}: #{err}"
            expect(out).to eq("")
            expect(err.lines.size).to eq(1), "#{name}: #{err}"
            if json.empty?
              expect(err).to match(message).and include(file)
            else
              expect(JSON.parse(err)).to include("error" => "UsageError", "message" => match(message))
            end
          end
        end
      expect(emulator.requests).to be_empty
    end
  end

  describe "redaction" do
    it "hides the secret and the robot key even in the error of a --require'd file" do
      file = tmp_file("boom.rb", 'raise "boom: #{ENV["WECOM_SECRET"]} #{ENV["WECOM_ROBOT_KEY"]}"' + "\n")
      _, err, status = wecom("token", "-r", file, env: env.merge("WECOM_ROBOT_KEY" => robot_key))
      expect(status.exitstatus).to eq(2)
      expect(err).to start_with("wecom: --require #{file} failed: RuntimeError: boom: [REDACTED] [REDACTED]")
      expect(err).not_to include(credentials[:secret], robot_key)
    end
  end

  describe "WeCom::CLI in process" do
    before { require "wecom/cli" }

    it "returns the exit status and reads the WECOM_* variables from env:, not ENV" do
      stdout = StringIO.new
      stderr = StringIO.new
      status = WeCom::CLI.new(%w[send text --to zhangsan --json in-process], stdout: stdout, stderr: stderr,
                                                                                env: env).run
      expect(status).to eq(0), stderr.string
      expect(JSON.parse(stdout.string)["msgid"]).to be_a(String)
      expect(emulator.messages.last["text"]["content"]).to eq("in-process")

      status = WeCom::CLI.new(%w[token], stdout: stdout, stderr: stderr, env: no_credentials).run
      expect(status).to eq(1)
      expect(stderr.string).to include("WECOM_CORP_ID")
    end

    it "returns 0 for --help instead of exiting" do
      stdout = StringIO.new
      expect(WeCom::CLI.new(%w[send --help], stdout: stdout, stderr: StringIO.new, env: {}).run).to eq(0)
      expect(stdout.string).to start_with("Usage: wecom send TYPE")
    end
  end

  describe "emulator" do
    # Starts `wecom emulator` with args; yields stdin, stdout, stderr and the wait thread, and
    # kills the process if the example left it running.
    def run_emulator(*args, env: self.env)
      stdin, stdout, stderr, thread = Open3.popen3(env, RbConfig.ruby, exe, "emulator", *args, chdir: root)
      yield stdout, stderr, thread, stdin
    ensure
      if thread&.alive?
        Process.kill("KILL", thread.pid)
        thread.join
      end
      [stdin, stdout, stderr].each { |io| io&.close }
    end

    def next_line(io)
      Timeout.timeout(10) { io.gets }
    end

    it "prints its URL, then each message it receives as a JSON line, and exits 0 on SIGTERM" do
      port = free_port
      run_emulator("--port", port.to_s) do |stdout, stderr, thread|
        expect(next_line(stdout)).to eq("WeCom emulator on http://127.0.0.1:#{port}\n")
        client = WeCom::Client.new(**credentials, base_url: "http://127.0.0.1:#{port}")
        client.send_text("Interview at 15:00", to: "zhangsan")
        client.send_markdown("**second**", to: "lisi")

        first = JSON.parse(next_line(stdout))
        expect(first["kind"]).to eq("message")
        expect(first["body"]).to include("msgtype" => "text", "touser" => "zhangsan",
                                         "text" => { "content" => "Interview at 15:00" })
        expect(JSON.parse(next_line(stdout))["body"]).to include("markdown" => { "content" => "**second**" })

        Process.kill("TERM", thread.pid)
        expect(Timeout.timeout(10) { thread.value }.exitstatus).to eq(0)
        expect(stdout.read).to eq("")
        expect(stderr.read).not_to include(credentials[:secret])
      end
    end

    it "prints a JSON header with --json and exits 0 on SIGINT" do
      run_emulator("--json") do |stdout, _stderr, thread|
        header = JSON.parse(next_line(stdout))
        expect(header).to include("corp_id" => credentials[:corp_id], "agent_id" => credentials[:agent_id])
        expect(header["base_url"]).to match(%r{\Ahttp://127\.0\.0\.1:\d+\z})
        WeCom::Client.new(**credentials, base_url: header["base_url"]).send_text("hi", to: "zhangsan")
        expect(JSON.parse(next_line(stdout))["body"]["text"]).to eq("content" => "hi")

        Process.kill("INT", thread.pid)
        expect(Timeout.timeout(10) { thread.value }.exitstatus).to eq(0)
      end
    end

    it "keeps printing every message after its --max-records window is full" do
      run_emulator("--json", "--max-records", "1") do |stdout, _stderr, thread|
        client = WeCom::Client.new(**credentials, base_url: JSON.parse(next_line(stdout))["base_url"])
        contents = (1..4).map do |i|
          client.send_text("number #{i}", to: "zhangsan")
          JSON.parse(next_line(stdout))["body"]["text"]["content"]
        end
        expect(contents).to eq(["number 1", "number 2", "number 3", "number 4"])
        Process.kill("TERM", thread.pid)
        expect(Timeout.timeout(10) { thread.value }).to be_success
      end
    end

    it "serves the wecom command itself" do
      run_emulator do |stdout, _stderr, thread|
        base_url = next_line(stdout)[%r{http://\S+}]
        _, err, status = wecom("send", "text", "--to", "zhangsan", "round trip",
                               env: env.merge("WECOM_BASE_URL" => base_url))
        expect(status.exitstatus).to eq(0), err
        expect(JSON.parse(next_line(stdout))["body"]["text"]["content"]).to eq("round trip")
        Process.kill("TERM", thread.pid)
        expect(Timeout.timeout(10) { thread.value }).to be_success
      end
    end

    it "exits 1 when its port is taken" do
      out, err, status = wecom("emulator", "--port", emulator.port.to_s)
      expect(status.exitstatus).to eq(1)
      expect(out).to eq("")
      expect(err).to start_with("wecom: ").and include("could not start")
    end

    # Needs WeCom::Webhook and the emulator's robot_messages and uploads.
    it "prints robot messages and uploads without the robot key" do
      run_emulator do |stdout, _stderr, thread|
        base_url = next_line(stdout)[%r{http://\S+}]
        robot = WeCom::Webhook.new(key: robot_key, base_url: base_url)
        robot.send_text("Deploy done")
        line = next_line(stdout)
        expect(line).not_to include(robot_key)
        printed = JSON.parse(line)
        expect(printed["kind"]).to eq("robot_message")
        expect(printed["body"]).to include("msgtype" => "text", "key" => "[REDACTED]")
        expect(printed["body"]["text"]).to include("content" => "Deploy done")

        robot.send_file(tmp_file("report.txt", "all green\n"))
        lines = [next_line(stdout), next_line(stdout)]
        expect(lines.join).not_to include(robot_key)
        upload, message = lines.map { |l| JSON.parse(l) }
        expect(upload).to include("kind" => "upload")
        expect(upload["body"]).to include("filename" => "report.txt", "size" => 10, "uploader" => "[REDACTED]")
        expect(message).to include("kind" => "robot_message")
        expect(message["body"]["file"]).to eq("media_id" => upload["body"]["media_id"])

        Process.kill("TERM", thread.pid)
        expect(Timeout.timeout(10) { thread.value }).to be_success
      end
    end

    describe "--callback: WeCom calling the app, a button pressed from stdin" do
      let(:callback_token) { "tok#{SecureRandom.alphanumeric(20)}" }
      let(:aes_key) { Base64.strict_encode64(SecureRandom.random_bytes(32)).delete("=") }
      let(:card) do
        { card_type: "button_interaction", task_id: "interview-42", main_title: { title: "Interview at 15:00" },
          button_list: [{ text: "Accept", key: "accept" }] }
      end

      # The app's callback endpoint, served by Puma in this process; on "accept" it answers
      # update_button and updates the card through the emulator at `base_url[0]`.
      def serve_app(base_url)
        require "puma"
        require "puma/server"
        client_settings = credentials
        handler = Class.new(WeCom::Callback::Handler) do
          on :template_card_event, key: "accept" do |ev|
            WeCom::Client.new(**client_settings, base_url: base_url[0])
                         .update_template_card(response_code: ev.response_code, button: "Accepted")
            reply update_button: "Accepted"
          end
        end
        callback = WeCom::Callback.new(token: callback_token, encoding_aes_key: aes_key, receive_id: credentials[:corp_id])
        @app_server = PumaServer.build(WeCom::Callback::Endpoint.new(callback, handler), threads: 4)
        @app_server.add_tcp_listener("127.0.0.1", 0)
        @app_server.run
        "http://127.0.0.1:#{@app_server.connected_ports.first}/wecom/hr"
      end

      after { @app_server&.stop(true) }

      # Lines of stdout until one of `kind`, parsed.
      def next_of_kind(stdout, kind)
        loop do
          line = JSON.parse(next_line(stdout))
          return line if line["kind"] == kind
        end
      end

      it "delivers `click TASK_ID USER KEY` to the app and prints its reply, and the app's card update" do
        base_url = []
        url = serve_app(base_url)
        callback_env = env.merge("WECOM_CALLBACK_TOKEN" => callback_token, "WECOM_CALLBACK_ENCODING_AES_KEY" => aes_key)
        run_emulator("--callback", url, env: callback_env) do |stdout, stderr, thread, stdin|
          base_url << next_line(stdout)[%r{http://\S+}]
          expect(stderr.gets).to start_with("corp_id ")
          expect(stderr.gets).to include("callbacks go to #{url}").and include("click TASK_ID USER KEY")
          WeCom::Client.new(**credentials, base_url: base_url[0]).send_template_card(card, to: "zhangsan")
          expect(next_of_kind(stdout, "message")["body"]["template_card"]).to include("task_id" => "interview-42")

          stdin.puts "click nope zhangsan accept"
          expect(Timeout.timeout(10) { stderr.gets })
            .to eq("wecom: no interactive template card has msgid or task_id \"nope\"\n")
          stdin.puts "click interview-42 zhangsan accept"
          click = next_of_kind(stdout, "click")
          expect(click).to include("task_id" => "interview-42", "user" => "zhangsan", "key" => "accept")
          expect(click["reply"]).to include("MsgType" => "update_button", "Button" => { "ReplaceName" => "Accepted" })
          update = next_of_kind(stdout, "card_update")
          expect(update["body"]).to include("task_id" => "interview-42", "users" => ["zhangsan"])
          expect(update["body"]["body"]["button"]).to eq("replace_name" => "Accepted")

          Process.kill("TERM", thread.pid)
          expect(Timeout.timeout(10) { thread.value }).to be_success
          expect(stdout.read + stderr.read).not_to include(callback_token, aes_key)
        end
      end

      it "takes the keys as options, and warns when the URL check fails" do
        url = "http://127.0.0.1:#{free_port}/wecom/hr"
        run_emulator("--json", "--callback", url, "--callback-token", callback_token, "--callback-aes-key", aes_key) do
          |stdout, stderr, thread, stdin|
          header = JSON.parse(next_line(stdout))
          expect(header).to include("callback" => url, "callback_checked" => false)
          warning = JSON.parse(Timeout.timeout(10) { stderr.gets })
          expect(warning).to include("error" => "CallbackUrlCheckFailed")
          expect(warning["message"]).to include("the URL check of #{url} failed").and include("delivered anyway")
          stdin.puts "click interview-42"
          expect(JSON.parse(Timeout.timeout(10) { stderr.gets })["message"]).to start_with("usage: click TASK_ID USER KEY")
          Process.kill("TERM", thread.pid)
          expect(Timeout.timeout(10) { thread.value }).to be_success
        end
      end

      it "refuses callback keys without --callback, and --callback without keys" do
        _, err, status = wecom("emulator", "--callback-token", "t")
        expect(status.exitstatus).to eq(2)
        expect(err).to include("--callback-token need --callback URL")
        _, err, status = wecom("emulator", "--callback", "http://127.0.0.1:1/x",
                               env: env.merge("WECOM_CALLBACK_TOKEN" => nil, "WECOM_CALLBACK_ENCODING_AES_KEY" => nil))
        expect(status.exitstatus).to eq(2)
        expect(err).to include("--callback needs --callback-token (or WECOM_CALLBACK_TOKEN) and --callback-aes-key")
        _, err, status = wecom("emulator", "--callback", "ftp://x", "--callback-token", "t", "--callback-aes-key", aes_key)
        expect(status.exitstatus).to eq(2)
        expect(err).to include("url must be an http(s) URL")
      end
    end

    # Needs Client#upload_media and the emulator's uploads.
    it "prints an app's upload with its agent id" do
      run_emulator do |stdout, _stderr, thread|
        base_url = next_line(stdout)[%r{http://\S+}]
        client = WeCom::Client.new(**credentials, base_url: base_url)
        media_id = client.upload_media(tmp_file("chart.png", png), type: :image)
        printed = JSON.parse(next_line(stdout))
        expect(printed).to include("kind" => "upload")
        expect(printed["body"]).to include("media_id" => media_id, "type" => "image", "filename" => "chart.png",
                                           "uploader" => credentials[:agent_id])
        Process.kill("TERM", thread.pid)
        expect(Timeout.timeout(10) { thread.value }).to be_success
      end
    end
  end

  # These need WeCom::Webhook (lib/wecom/webhook.rb) and the emulator's robot_messages.
  describe "robot" do
    let(:robot_env) { env.merge("WECOM_ROBOT_KEY" => robot_key) }

    it "sends text with mentions through the key in WECOM_ROBOT_KEY, never printing the key" do
      out, err, status = wecom("robot", "text", "--mention", "zhangsan,@all", "--mention-mobiles", "13800001111",
                               "Deploy done", env: robot_env)
      expect(status.exitstatus).to eq(0), err
      expect(out).to eq("Sent to the group robot.\n")
      message = emulator.robot_messages.last
      expect(message).to include("key" => robot_key, "msgtype" => "text")
      expect(message["text"]).to include("content" => "Deploy done", "mentioned_list" => ["zhangsan", "@all"],
                                         "mentioned_mobile_list" => ["13800001111"])
      expect(out + err).not_to include(robot_key)
    end

    it "takes the key or the whole webhook URL from --key, and prints {\"ok\":true} with --json" do
      url = "#{emulator.base_url}/cgi-bin/webhook/send?key=#{robot_key}"
      out, err, status = wecom("robot", "markdown", "--key", url, "--json", "**Deploy** done",
                               env: env.merge("WECOM_BASE_URL" => nil))
      expect(status.exitstatus).to eq(0), err
      expect(JSON.parse(out)).to eq("ok" => true)
      expect(emulator.robot_messages.last).to include("key" => robot_key, "msgtype" => "markdown",
                                                      "markdown" => { "content" => "**Deploy** done" })
      expect(out + err).not_to include(robot_key)
    end

    it "sends an image as base64 with its md5" do
      path = tmp_file("chart.png", png)
      _, err, status = wecom("robot", "image", path, env: robot_env)
      expect(status.exitstatus).to eq(0), err
      message = emulator.robot_messages.last
      expect(message["msgtype"]).to eq("image")
      expect(message["image"]).to eq("base64" => Base64.strict_encode64(png), "md5" => Digest::MD5.hexdigest(png))
    end

    it "uploads a file to the robot, then sends it" do
      path = tmp_file("report.txt", "all green\n")
      _, err, status = wecom("robot", "file", path, env: robot_env)
      expect(status.exitstatus).to eq(0), err
      upload = emulator.uploads.last
      expect(upload).to include(filename: "report.txt", size: 10)
      expect(emulator.robot_messages.last).to include("msgtype" => "file",
                                                      "file" => { "media_id" => upload[:media_id] })
    end

    it "exits 1 on a WeCom error, without printing the key" do
      emulator.fail_next(93000)
      out, err, status = wecom("robot", "text", "hi", env: robot_env)
      expect(status.exitstatus).to eq(1)
      expect(err).to start_with("wecom: ").and include("93000")
      expect(out + err).not_to include(robot_key)
    end
  end

  # These need Client#upload_media and the emulator's uploads.
  describe "upload" do
    it "uploads a file and prints its media_id" do
      path = tmp_file("chart.png", png)
      out, err, status = wecom("upload", path, "--type", "image")
      expect(status.exitstatus).to eq(0), err
      upload = emulator.uploads.last
      expect(upload).to include(type: "image", filename: "chart.png", size: png.bytesize)
      expect(out).to eq("#{upload[:media_id]}\n")
    end

    it "prints {\"media_id\": ...} with --json, and uploads as a file by default" do
      path = tmp_file("notes.txt", "hello\n")
      out, err, status = wecom("upload", "--json", path)
      expect(status.exitstatus).to eq(0), err
      expect(JSON.parse(out)).to eq("media_id" => emulator.uploads.last[:media_id], "type" => "file")
      expect(emulator.uploads.last).to include(type: "file", filename: "notes.txt")
    end
  end
end
