# frozen_string_literal: true

require "base64"
require "open3"
require "tmpdir"

# `rails generate wecom:callback NAME` in a real (minimal) Rails application, each step in a
# subprocess as in spec/railtie_spec.rb: the generator writes the handler and the route, then the
# application boots with them and answers WeCom through Rails' router.
RSpec.describe "rails generate wecom:callback" do
  let(:root) { File.expand_path("..", __dir__) }
  let(:fixtures) { File.join(__dir__, "fixtures", "rails") }
  let(:token) { "tok#{SecureRandom.alphanumeric(20)}" }
  let(:aes_key) { Base64.strict_encode64(SecureRandom.random_bytes(32)).delete("=") }

  around do |example|
    Dir.mktmpdir("wecom-rails") do |dir|
      @app = dir
      FileUtils.mkdir_p(File.join(dir, "config", "initializers"))
      File.write(File.join(dir, "config", "routes.rb"), "Rails.application.routes.draw do\nend\n")
      example.run
    end
  end

  def read(path)
    File.read(File.join(@app, path))
  end

  def run_fixture(script, *args)
    env = { "RUBYLIB" => File.join(root, "lib"), "DEMO_ROOT" => @app, "RAILS_ENV" => "test",
            "DEMO_CALLBACK_TOKEN" => token, "DEMO_CALLBACK_AES_KEY" => aes_key,
            "WECOM_CORP_ID" => nil, "WECOM_SECRET" => nil, "WECOM_AGENT_ID" => nil, "WECOM_BASE_URL" => nil }
    Open3.capture2e(env, RbConfig.ruby, File.join(fixtures, script), *args, chdir: @app)
  end

  def generate(*args)
    out, status = run_fixture("generate_callback.rb", *args)
    expect(status).to be_success, out
    out
  end

  # The settings an app writes after generating (each endpoint needs its keys when routes load):
  # an app's callback settings for `app`, a c.callback endpoint for each of `callbacks`.
  def configure(app, callbacks: [])
    File.write(File.join(@app, "config", "initializers", "wecom.rb"), <<~RUBY)
      WeCom.configure do |c|
        c.corp_id = "ww-generated"
        c.app :#{app}, secret: "s", agent_id: 1_000_002, callback_token: ENV.fetch("DEMO_CALLBACK_TOKEN"),
                        callback_encoding_aes_key: ENV.fetch("DEMO_CALLBACK_AES_KEY")
        #{callbacks.map { |name| %(c.callback :#{name}, token: "t", encoding_aes_key: ENV.fetch("DEMO_CALLBACK_AES_KEY")) }.join("\n  ")}
      end
    RUBY
  end

  it "writes app/wecom/NAME_handler.rb and mounts it at /wecom/NAME" do
    out = generate("hr")
    expect(out).to include("create  app/wecom/hr_handler.rb").and include("route  mount WeCom::Callback::Endpoint")
    expect(out).to include('c.app :hr, callback_token: "...", callback_encoding_aes_key: "..."')
    handler = read("app/wecom/hr_handler.rb")
    expect(handler).to include("class HrHandler < WeCom::Callback::Handler")
    expect(handler).to include("on :text, content: /\\Ahelp\\z/i do |msg|").and include("fallback { |_msg| nil }")
    expect(read("config/routes.rb")).to eq(<<~RUBY)
      Rails.application.routes.draw do
        mount WeCom::Callback::Endpoint.new(:hr, HrHandler), at: "/wecom/hr"
      end
    RUBY
  end

  it "boots with the generated handler and route, and answers WeCom through Rails' router" do
    generate("hr")
    configure(:hr)
    out, status = run_fixture("callback_request.rb", "/wecom/hr")
    expect(status).to be_success, out
    seen = JSON.parse(out.lines.last)
    expect(seen["route"]).to start_with("/wecom/hr")
    expect(seen["endpoint"]).to include("handler=HrHandler")
    expect(seen["url_check"]).to eq([200, "1616140317555161061"])
    help, other = seen["replies"]
    expect(help[0]).to eq(200)
    expect(help[1]).to include("MsgType" => "text", "ToUserName" => "zhangsan")
    expect(help[1]["Content"]).to start_with("Hello zhangsan!")
    expect(other).to eq([200, nil]) # the fallback: no reply
  end

  it "names the class, file, endpoint and path after NAME, namespaces included" do
    configure(:interview_bot, callbacks: [:admin_contacts])
    generate("InterviewBot")
    expect(read("app/wecom/interview_bot_handler.rb")).to include("class InterviewBotHandler < WeCom::Callback::Handler")
    generate("admin/contacts")
    expect(read("app/wecom/admin/contacts_handler.rb")).to include("class Admin::ContactsHandler")
    expect(read("config/routes.rb"))
      .to include('mount WeCom::Callback::Endpoint.new(:interview_bot, InterviewBotHandler), at: "/wecom/interview_bot"')
      .and include('mount WeCom::Callback::Endpoint.new(:admin_contacts, Admin::ContactsHandler), at: "/wecom/admin/contacts"')
  end
end
