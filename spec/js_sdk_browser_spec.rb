# frozen_string_literal: true

require "cgi"

# Pages inside WeCom in a real headless Chromium: a page served by a real Puma loads the
# emulator's stand-in JS-SDK script, which checks every signature against the tickets the
# emulator issued, so `config:ok` proves the gem signed the page URL the way WeCom checks it.
RSpec.describe "Pages inside WeCom in a browser", browser: true do
  # The signer mounted at /wecom/jssdk, a ww.register page and a classic wx.config page.
  def page_app(endpoint)
    emu = emulator
    signer = client
    view = Object.new.extend(WeCom::JsSdk::Helper)
    lambda do |env|
      path = env["PATH_INFO"]
      if path.start_with?("/wecom/jssdk")
        return endpoint.call(env.merge("SCRIPT_NAME" => "/wecom/jssdk", "PATH_INFO" => path.delete_prefix("/wecom/jssdk")))
      end

      page_url = "http://#{env['HTTP_HOST']}#{path}#{"?#{env['QUERY_STRING']}" unless env['QUERY_STRING'].to_s.empty?}"
      body = case path
             when "/ww" then register_page(emu)
             when "/classic"
               <<~HTML
                 <!doctype html><title>classic</title><p id="config">waiting</p>
                 #{view.wecom_js_sdk_config(js_api_list: %w[selectEnterpriseContact], client: signer, url: page_url,
                                            script_url: emu.js_sdk_script_url)}
                 <script>
                   wx.ready(function () { document.getElementById("config").textContent = "config:ok"; });
                   wx.error(function (e) { document.getElementById("config").textContent = e.errMsg; });
                 </script>
               HTML
             else return [404, {}, ["not found"]]
             end
      [200, { "content-type" => "text/html; charset=utf-8" }, [body]]
    end
  end

  def register_page(emu)
    <<~HTML
      <!doctype html><title>ww</title><p id="config">waiting</p><p id="agent">waiting</p>
      <script src="#{CGI.escapeHTML(emu.js_sdk_script_url)}"></script>
      <script>
        function sign(kind) {
          return function (url) {
            return fetch("/wecom/jssdk/" + kind + "?url=" + encodeURIComponent(url)).then(function (r) { return r.json(); });
          };
        }
        function show(id) { return function (answer) { document.getElementById(id).textContent = answer.errMsg; }; }
        ww.register({
          corpId: #{JSON.generate(emu.corp_id)}, agentId: #{emu.agent_id}, jsApiList: ["selectEnterpriseContact"],
          getConfigSignature: sign("config"), getAgentConfigSignature: sign("agent_config"),
          onConfigSuccess: show("config"), onConfigFail: show("config"),
          onAgentConfigSuccess: show("agent"), onAgentConfigFail: show("agent")
        });
      </script>
    HTML
  end

  def text(id)
    @browser.find_element(css: "##{id}").text
  end

  def serve(trusted_domains)
    @server = PumaServer.start(page_app(WeCom::JsSdk::Endpoint.new(client: client, trusted_domains: trusted_domains)))
  end

  after { @server&.stop }

  it "ww.register gets config:ok and agentConfig:ok from signatures of the signing endpoint" do
    serve(["127.0.0.1"])
    @browser = Browser.start(user_agent: Browser::WECOM_USER_AGENT)
    @browser.navigate.to(@server.url("/ww?from=workbench#/interviews/7"))
    Browser.wait_for(@browser) { text("agent") != "waiting" }
    expect([text("config"), text("agent")]).to eq(%w[config:ok agentConfig:ok])
    page = @server.url("/ww?from=workbench")
    expect(emulator.js_sdk_checks).to eq([{ api: "config", url: page, ok: true, err_msg: "config:ok" },
                                          { api: "agentConfig", url: page, ok: true, err_msg: "agentConfig:ok" }])
  end

  it "the classic wx.config page from the view helper gets config:ok" do
    serve(["127.0.0.1"])
    @browser = Browser.start(user_agent: Browser::WECOM_USER_AGENT)
    @browser.navigate.to(@server.url("/classic?id=7&name=%E5%BC%A0%E4%B8%89"))
    Browser.wait_for(@browser) { text("config") != "waiting" }
    expect(text("config")).to eq("config:ok")
    expect(emulator.js_sdk_checks.map { |c| c[:url] }).to eq([@server.url("/classic?id=7&name=%E5%BC%A0%E4%B8%89")])
  end

  it "a page on a domain the endpoint does not trust gets no signature: config:invalid signature" do
    serve(["hr.example.com"])
    @browser = Browser.start
    @browser.navigate.to(@server.url("/ww"))
    Browser.wait_for(@browser) { text("config") != "waiting" }
    expect(text("config")).to eq("config:invalid signature")
    expect(text("agent")).to eq("waiting")
    expect(emulator.ticket_calls).to eq(jsapi: 0, agent: 0)
  end

  it "a signature made with an expired ticket fails in the browser until the ticket is dropped" do
    serve(["127.0.0.1"])
    old = client.jsapi_ticket
    emulator.expire_tickets!
    @browser = Browser.start
    @browser.navigate.to(@server.url("/classic"))
    Browser.wait_for(@browser) { text("config") != "waiting" }
    expect(text("config")).to eq("config:invalid signature")
    client.invalidate_jsapi_ticket(old)
    @browser.navigate.refresh
    Browser.wait_for(@browser) { !["waiting", "config:invalid signature"].include?(text("config")) }
    expect(text("config")).to eq("config:ok")
  end
end
