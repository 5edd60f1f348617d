# frozen_string_literal: true

require "spec_helper"
require "rack/mock"
require "omniauth/strategies/wecom"
begin
  require "rack/session" # Rack 3 (Debian 13): the rack-session gem
rescue LoadError
  require "rack/session/cookie" # Rack 2
end

# The sign-in state is decoded in Ruby (a regexp, an HMAC, a constant-time compare), so like the
# Ruby ⇄ JSON conversion it cannot run under libFuzzer: this sends a seeded random corpus of
# states made from a real one — every byte flipped, cut, grown, swapped, re-signed with another
# nonce or a past expiry, random bytes, huge values — through the strategy's callback phase.
# Each must fail as :csrf_detected before WeCom is asked anything, and never raise; the real state
# still signs in afterwards, so the check is not simply refusing everything.
RSpec.describe OmniAuth::Strategies::WeCom, "state decoding, a property over a mutated corpus" do
  MUTATIONS = Integer(ENV.fetch("WECOM_STATE_MUTATIONS", "1500"))

  let(:app) do
    wecom = emulator.base_url
    Rack::Builder.new do
      use Rack::Session::Cookie, key: "hr.session", secret: "s" * 64
      use OmniAuth::Builder do
        provider :wecom, app: :hr, callback_url: "http://hr.example/auth/wecom/callback", oauth_host: wecom,
                         qr_host: wecom
      end
      run ->(env) { [200, { "content-type" => "text/plain" }, [env["omniauth.auth"] ? "signed in" : "no auth"]] }
    end.to_app
  end

  include_context "OmniAuth with the emulator as WeCom"

  def request(path, cookie)
    Rack::MockRequest.new(app).get(path, "HTTP_COOKIE" => cookie, "HTTP_USER_AGENT" => "wxwork/4.1.0")
  end

  def callback(state, code, cookie)
    request("/auth/wecom/callback?#{URI.encode_www_form(code: code, state: state)}", cookie)
  end

  # A signed state, as the strategy makes them, with any expiry and nonce.
  def signed(expires_at, nonce)
    body = expires_at.to_i.to_s(36).rjust(7, "0") + nonce
    body + OpenSSL::HMAC.hexdigest("SHA256", described_class.signing_key(:hr), body)[0, 40]
  end

  def mutations(state, random)
    alphabet = [*"0".."9", *"a".."z", *"A".."Z", "-", "_", "%", "\0", "é", " "]
    nonce = state[7, 20]
    Array.new(MUTATIONS) do |i|
      case i % 9
      when 0 then state.dup.tap { |s| s[random.rand(s.size)] = alphabet.sample(random: random) }
      when 1 then state[0, random.rand(state.size)]
      when 2 then state + alphabet.sample(random.rand(1..5), random: random).join
      when 3 then state.dup.tap { |s| s.insert(random.rand(s.size), alphabet.sample(random: random)) }
      when 4 then state.chars.map { |c| random.rand(4).zero? ? c.swapcase : c }.join
      when 5 then signed(Time.now + 600, Array.new(20) { alphabet.first(62).sample(random: random) }.join)
      when 6 then signed(Time.now - random.rand(1..10_000), nonce)
      when 7 then random.bytes(random.rand(1..200)).force_encoding(Encoding::BINARY)
      else ("a" * random.rand(1_000..100_000)) + state
      end
    end.uniq - [state]
  end

  it "refuses every mutation of a real state as :csrf_detected, without asking WeCom; the real one still signs in" do
    started = request(described_class.entry_path(app: :hr), nil)
    expect(started.status).to eq(302)
    cookie = started["set-cookie"][/\A[^;]+/]
    state = URI.decode_www_form(URI(started["location"]).query).to_h.fetch("state")
    code = URI.decode_www_form(URI(Net::HTTP.get_response(URI(started["location"]))["location"]).query).to_h.fetch("code")

    corpus = mutations(state, Random.new(RSpec.configuration.seed))
    expect(corpus.size).to be > MUTATIONS * 0.8 # some cuts repeat
    outcomes = corpus.map do |mutated|
      response = callback(mutated, code, cookie)
      response.status == 302 ? URI.decode_www_form(URI(response["location"]).query.to_s).to_h["message"] : response.status
    end
    expect(outcomes.tally).to eq("csrf_detected" => corpus.size)
    expect(emulator.requests.map { |r| r[:path] }).not_to include("/cgi-bin/auth/getuserinfo")

    expect(callback(state, code, cookie).body).to eq("signed in")
    expect(callback(state, code, cookie)["location"]).to include("message=csrf_detected") # used once
  end

  it "fails a code that is not one as :invalid_code (WeCom is asked only about plausible ones), an empty one as :missing_code" do
    random = Random.new(RSpec.configuration.seed)
    codes = { random.bytes(40).force_encoding(Encoding::BINARY) => "invalid_code", "x" * 100_000 => "invalid_code",
              "\0" => "invalid_code", "é" * 50 => "invalid_code", "a b%00" => "invalid_code", "" => "missing_code" }
    codes.each do |code, failure|
      started = request(described_class.entry_path(app: :hr), nil)
      cookie = started["set-cookie"][/\A[^;]+/]
      state = URI.decode_www_form(URI(started["location"]).query).to_h.fetch("state")
      message = URI.decode_www_form(URI(callback(state, code, cookie)["location"]).query).to_h["message"]
      expect(message).to eq(failure), "code #{code[0, 20].inspect}: #{message}"
    end
    asked = emulator.requests.select { |r| r[:path] == "/cgi-bin/auth/getuserinfo" }.size
    expect(asked).to eq(2) # "é" * 50 and "a b%00": WeCom answers 40029
  end
end
