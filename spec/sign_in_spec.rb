# frozen_string_literal: true

require "spec_helper"

RSpec.describe WeCom::SignIn do
  let(:args) { { corp_id: "ww1", agent_id: 1_000_002, redirect_uri: "https://hr.example.com/cb?x=1", state: "abc123" } }

  it "builds the in-WeCom OAuth2 URL with the redirect URI encoded and #wechat_redirect" do
    url = described_class.authorize_url(**args, scope: "snsapi_privateinfo")
    expect(url).to eq("https://open.weixin.qq.com/connect/oauth2/authorize?appid=ww1&" \
                      "redirect_uri=https%3A%2F%2Fhr.example.com%2Fcb%3Fx%3D1&response_type=code&" \
                      "scope=snsapi_privateinfo&state=abc123&agentid=1000002#wechat_redirect")
  end

  it "builds the web (QR) login URL on an overridable host" do
    url = described_class.authorize_url(**args, flow: :qr, qr_host: "http://127.0.0.1:9")
    expect(url).to eq("http://127.0.0.1:9/wwlogin/sso/login?login_type=CorpApp&appid=ww1&agentid=1000002&" \
                      "redirect_uri=https%3A%2F%2Fhr.example.com%2Fcb%3Fx%3D1&state=abc123")
  end

  it "refuses a state WeCom would not carry, naming the field and the limit" do
    expect { described_class.authorize_url(**args, state: "a" * 129) }.to raise_error(ArgumentError, /state.*128/)
    expect { described_class.authorize_url(**args, state: "a-b") }.to raise_error(ArgumentError, /state/)
  end

  it "refuses a relative or fragment redirect_uri, an unknown scope and an unknown flow" do
    expect { described_class.authorize_url(**args, redirect_uri: "/cb") }.to raise_error(ArgumentError, /redirect_uri/)
    expect { described_class.authorize_url(**args, redirect_uri: "https://a.example/#x") }
      .to raise_error(ArgumentError, /redirect_uri/)
    expect { described_class.authorize_url(**args, scope: "snsapi_userinfo") }.to raise_error(ArgumentError, /scope/)
    expect { described_class.authorize_url(**args, flow: :popup) }.to raise_error(ArgumentError, /flow/)
  end
end
