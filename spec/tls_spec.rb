# frozen_string_literal: true

require "spec_helper"
require "json"
require "open3"
require "pathname"

# HTTPS to the emulator with certificates the test makes (spec/support/test_certificates.rb):
# ca_file adds a CA to the trusted roots, and a certificate that is not trusted, expired or for
# another host is a WeCom::CertificateError that says what to do.
RSpec.describe "TLS: ca_file and certificate errors" do
  # A missing openssl fails these examples, never skips them: bin/setup installs it.
  before { raise "the openssl CLI is not installed: run bin/setup, which installs it" unless TestCertificates.available? }

  let(:certificates) { TestCertificates.shared }
  let(:ca_file) { certificates.ca_file }
  let(:https) { start_emulator(**credentials, tls: certificates.server) }

  around do |example|
    saved = %w[HTTPS_PROXY https_proxy ALL_PROXY all_proxy].to_h { |name| [name, ENV.fetch(name, nil)] }
    saved.each_key { |name| ENV.delete(name) }
    example.run
  ensure
    saved.each { |name, value| value.nil? ? ENV.delete(name) : ENV[name] = value }
  end

  def refused(client, text = "refused")
    error, seconds = raised_and_seconds(WeCom::CertificateError) { client.send_text(text, to: "zhangsan") }
    expect(error).not_to be_nil, "expected a WeCom::CertificateError"
    expect(seconds).to be < 2
    expect(error).to be_a(WeCom::NetworkError)
    expect(error).not_to be_retryable
    expect(error).not_to be_delivery_unknown
    expect(error.message).to include("the TLS certificate of 127.0.0.1:#{https.port}")
    expect(error.message).to include("certificate checks are never turned off")
    expect(error.message).not_to include(credentials[:secret])
    error
  end

  it "sends over HTTPS to the emulator when ca_file holds its CA" do
    expect(https.base_url).to eq("https://127.0.0.1:#{https.port}")
    result = https.client(ca_file: ca_file).send_text("over TLS", to: "zhangsan")
    expect(result.msgid).not_to be_empty
    expect(https.messages.last["text"]).to eq("content" => "over TLS")
  end

  it "refuses the certificate without ca_file, pointing at ca_file, and does not retry" do
    error = refused(https.client(max_retries: 3, retry_base_delay: 0.01))
    expect(error.message).to include("UnknownIssuer")
    expect(error.message).to include("give that CA's certificate (a PEM file) as ca_file")
    expect(error.path).to eq("/cgi-bin/gettoken")
    expect(https.requests).to be_empty
  end

  it "refuses it with another CA's ca_file, naming that file" do
    error = refused(https.client(ca_file: certificates.ca_file("other_ca")))
    expect(error.message).to include("must be in ca_file #{certificates.ca_file('other_ca').inspect}")
  end

  it "refuses an expired certificate even from a trusted CA" do
    expired = start_emulator(**credentials, tls: certificates.server(expired: true))
    error, = raised_and_seconds(WeCom::CertificateError) do
      expired.client(ca_file: ca_file).send_text("expired", to: "zhangsan")
    end
    expect(error.message).to include("out of its validity period")
    expect(error.message).to include("must be renewed")
    expect(expired.requests).to be_empty
  end

  it "refuses a certificate for another host name even from a trusted CA" do
    elsewhere = start_emulator(**credentials, tls: certificates.server(names: %w[wecom.example]))
    error, = raised_and_seconds(WeCom::CertificateError) do
      elsewhere.client(ca_file: ca_file).send_text("wrong host", to: "zhangsan")
    end
    expect(error.message).to include("not valid for name")
    expect(error.message).to include("base_url must name a host the certificate is for")
  end

  it "accepts the certificate for localhost too" do
    client = WeCom::Client.new(**credentials, base_url: "https://localhost:#{https.port}", ca_file: ca_file)
    client.send_text("by name", to: "zhangsan")
    expect(https.messages.last["text"]).to eq("content" => "by name")
  end

  it "tunnels through tinyproxy with CONNECT, TLS end to end, trusting ca_file" do
    raise "tinyproxy is not installed: run bin/setup, which installs it" unless Tinyproxy.available?
    proxy = Tinyproxy.new
    begin
      https.client(proxy: proxy.url, ca_file: ca_file).send_text("tunnelled", to: "zhangsan")
      expect(https.messages.last["text"]).to eq("content" => "tunnelled")
      expect(proxy.log).to include("CONNECT 127.0.0.1:#{https.port}")
      # The proxy saw only the tunnel: the requests inside were encrypted.
      expect(proxy.log).not_to include("/cgi-bin/")
      # Without ca_file the tunnel opens but the certificate is refused.
      error = refused(https.client(proxy: proxy.url))
      expect(error.message).to include("through the proxy 127.0.0.1:#{proxy.port}")
    ensure
      proxy.stop
    end
  end

  it "sends a group robot's messages over HTTPS with ca_file, and refuses without" do
    key = "robot-#{SecureRandom.hex(8)}"
    robots = start_emulator(**credentials, robots: [key], tls: certificates.server)
    WeCom::Webhook.new(key: robots.robot_url(key), ca_file: ca_file).send_text("robot over TLS")
    expect(robots.robot_messages(key).last["text"]).to eq("content" => "robot over TLS")
    error, = raised_and_seconds(WeCom::CertificateError) { WeCom::Webhook.new(key: robots.robot_url(key)).send_text("no") }
    expect(error.message).to include("ca_file")
    expect(robots.robot_messages(key).size).to eq(1)
  end

  it "takes ca_file from WeCom.configure, per app, so apps with other CAs never share a client" do
    WeCom.configure do |c|
      c.base_url = https.base_url
      c.corp_id = credentials[:corp_id]
      c.app :trusting, secret: credentials[:secret], agent_id: 1_000_002, ca_file: ca_file
      c.app :other, secret: credentials[:secret], agent_id: 1_000_002, ca_file: certificates.ca_file("other_ca")
      c.app :none, secret: credentials[:secret], agent_id: 1_000_002
    end
    3.times do
      WeCom::Client.new(:trusting).send_text("configured", to: "zhangsan")
      expect { WeCom::Client.new(:other).send_text("other", to: "zhangsan") }.to raise_error(WeCom::CertificateError)
      expect { WeCom::Client.new(:none).send_text("none", to: "zhangsan") }.to raise_error(WeCom::CertificateError)
    end
    expect(https.messages.map { |m| m["text"]["content"] }).to eq(%w[configured] * 3)
    WeCom.configure { |c| c.ca_file = ca_file }
    WeCom::Webhook.new(key: https.robot_url("k")).send_text("top-level ca_file")
    expect(https.robot_messages("k").last["text"]).to eq("content" => "top-level ca_file")
  end

  it "takes a Pathname" do
    https.client(ca_file: Pathname(ca_file)).send_text("pathname", to: "zhangsan")
    expect(https.messages.last["text"]).to eq("content" => "pathname")
  end

  describe "a bad ca_file" do
    def argument_error(value)
      expect { https.client(ca_file: value) }.to raise_error(ArgumentError) { |e| return e.message }
    end

    it "is an ArgumentError naming ca_file and the path: missing, a directory, no certificate, not PEM" do
      missing = certificates.path("missing.pem")
      expect(argument_error(missing)).to start_with("ca_file #{missing.inspect} cannot be read: No such file")
      expect(argument_error(certificates.dir)).to start_with("ca_file #{certificates.dir.inspect} cannot be read")
      key = certificates.server[:key]
      expect(argument_error(key)).to eq("ca_file #{key.inspect} holds no certificate " \
                                        "(a PEM file with -----BEGIN CERTIFICATE----- blocks)")
      broken = tmp_file("broken.pem", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n")
      expect(argument_error(broken)).to start_with("ca_file #{broken.inspect} is not a readable PEM file")
      empty = tmp_file("empty.pem", "")
      expect(argument_error(empty)).to include("ca_file #{empty.inspect} holds no certificate")
    end

    it "is an ArgumentError for something that is not a path, for robots too" do
      expect(argument_error(123)).to eq("ca_file must be the path of a PEM file of CA certificates " \
                                        "(added to the trusted roots), got Integer")
      expect(argument_error("")).to include("ca_file must be the path of a PEM file")
      expect { WeCom::Webhook.new(key: "k", ca_file: "/nonexistent/ca.pem") }
        .to raise_error(ArgumentError, %r{\Aca_file "/nonexistent/ca.pem" cannot be read})
    end

    it "is a ConfigurationError naming the app when configured" do
      WeCom.configure do |c|
        c.app :hr, corp_id: "corp", secret: "s", agent_id: 1, ca_file: "/nonexistent/ca.pem"
      end
      expect { WeCom::Client.new(:hr) }
        .to raise_error(WeCom::ConfigurationError, %r{\AWeCom app :hr: ca_file "/nonexistent/ca.pem" cannot be read})
    end
  end

  describe "the emulator's tls: option" do
    it "refuses what is not { cert:, key: } and names the file that is wrong" do
      expect { start_emulator(tls: "cert.pem") }
        .to raise_error(ArgumentError, /\Atls must be \{ cert: PATH, key: PATH \} \(PEM files\), got "cert.pem"/)
      expect { start_emulator(tls: { cert: certificates.server[:cert] }) }.to raise_error(ArgumentError, /tls must be/)
      missing = certificates.path("nope.pem")
      expect { start_emulator(tls: { cert: missing, key: certificates.server[:key] }) }
        .to raise_error(WeCom::ConfigurationError, /the TLS certificate file #{Regexp.escape(missing)} cannot be read/)
      expect { start_emulator(tls: { cert: certificates.server[:cert], key: ca_file }) }
        .to raise_error(WeCom::ConfigurationError, /#{Regexp.escape(ca_file)} holds no usable private key/)
    end
  end

  describe "wecom emulator --tls-cert FILE --tls-key FILE" do
    exe = File.expand_path("../exe/wecom", __dir__)
    let(:env) { { "WECOM_CORP_ID" => credentials[:corp_id], "WECOM_SECRET" => credentials[:secret] } }

    it "serves HTTPS, which a client trusting ca_file sends to" do
      server = certificates.server
      stdin, stdout, stderr, thread = Open3.popen3(env, RbConfig.ruby, exe, "emulator", "--tls-cert", server[:cert],
                                                   "--tls-key", server[:key])
      line = Timeout.timeout(10) { stdout.gets }
      expect(line).to match(%r{\AWeCom emulator on https://127\.0\.0\.1:\d+\n\z})
      base_url = line[%r{https://\S+}]
      WeCom::Client.new(**credentials, base_url: base_url, ca_file: ca_file).send_text("cli over TLS", to: "zhangsan")
      expect(JSON.parse(Timeout.timeout(10) { stdout.gets })["body"]["text"]).to eq("content" => "cli over TLS")
      Process.kill("TERM", thread.pid)
      expect(Timeout.timeout(10) { thread.value }).to be_success
    ensure
      Process.kill("KILL", thread.pid) if thread&.alive?
      [stdin, stdout, stderr].each { |io| io&.close }
    end

    it "needs both files: a usage error (exit 2) names the missing one" do
      _, err, status = Open3.capture3(env, RbConfig.ruby, exe, "emulator", "--tls-cert", certificates.server[:cert])
      expect(status.exitstatus).to eq(2)
      expect(err).to start_with("wecom: --tls-cert needs --tls-key FILE")
      _, err, status = Open3.capture3(env, RbConfig.ruby, exe, "emulator", "--tls-key", certificates.server[:key])
      expect(status.exitstatus).to eq(2)
      expect(err).to start_with("wecom: --tls-key needs --tls-cert FILE")
    end
  end
end
