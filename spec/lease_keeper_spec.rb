# frozen_string_literal: true

require "spec_helper"
require "active_support"
require "active_support/cache"

# Renewable claims: what lets WeCom's retry take over a callback whose process died mid-handler
# within seconds (spec/callback_endpoint_spec.rb SIGKILLs a Puma worker), while a handler that
# merely runs long keeps its claim.
RSpec.describe WeCom::Callback::Claims, "#renew" do
  let(:key) { "wecom-callback:lease:#{SecureRandom.hex(4)}" }

  def stores
    { "memory" => nil, "file" => WeCom::TokenStore::File.new(Dir.mktmpdir("wecom-lease")).native_spec,
      "redis" => WeCom::TokenStore::Redis.new(url: "redis://127.0.0.1:6379/0",
                                              namespace: "wecom-spec-#{SecureRandom.hex(4)}").native_spec,
      "Rails.cache" => WeCom::TokenStore::RailsCache.new(ActiveSupport::Cache::MemoryStore.new) }
  end

  it "extends a claim its owner holds past its first lifetime, in every built-in store; no one else can" do
    stores.each do |name, store|
      claims = described_class.new(store)
      expect(claims.renews?).to be(true), name
      owner = claims.claim(key, 0.4)
      3.times do
        sleep 0.2
        expect(claims.renew(key, owner, 0.4)).to be(true), name
        expect(claims.renew(key, "someone else", 0.4)).to be(false), name
      end
      expect(claims.claim(key, 0.4)).to be_nil, "#{name}: renewed 0.6 s past its 0.4 s"
      sleep 0.5
      expect(claims.renew(key, owner, 0.4)).to be(false), "#{name}: a lapsed claim stays lapsed"
      expect(claims.claim(key, 0.4)).to be_a(String), name
    end
  end

  it "renews nothing in a store written in Ruby without #renew, and says so" do
    store = StoreWithoutRenew.new
    claims = described_class.new(store)
    owner = claims.claim(key, 5)
    expect(claims.renews?).to be(false)
    expect(claims.renew(key, owner, 5)).to be(false)
  end
end

RSpec.describe WeCom::Callback::LeaseKeeper do
  let(:key) { "wecom-callback:lease:#{SecureRandom.hex(4)}" }

  # Claims that count the renewals they are asked for.
  class CountingClaims < WeCom::Callback::Claims
    attr_reader :renewals

    def initialize(store = nil)
      super
      @renewals = 0
    end

    def renew(key, owner, ttl)
      @renewals += 1
      super
    end
  end

  it "keeps a short claim alive while long work runs, and lets it lapse once the work is over" do
    claims = CountingClaims.new
    owner = claims.claim(key, 0.3)
    keeper = described_class.new(claims, ttl: 0.3, every: 0.1)
    keeper.hold(key, owner) do
      sleep 1
      expect(claims.claim(key, 0.3)).to be_nil # 1 s into a 0.3 s claim
    end
    expect(claims.renewals).to be_between(6, 12)
    sleep 0.4
    expect(claims.claim(key, 0.3)).to be_a(String)
  end

  it "asks the store nothing for work shorter than its renewal period" do
    claims = CountingClaims.new
    keeper = described_class.new(claims, ttl: 3, every: 1)
    100.times do |i|
      keeper.hold("#{key}:#{i}", claims.claim("#{key}:#{i}", 3)) { :done }
    end
    expect(keeper.hold(key, claims.claim(key, 3)) { :answer }).to eq(:answer)
    sleep 0.2
    expect(claims.renewals).to eq(0)
  end

  it "reports a claim found gone, or a store that fails, while its work still runs" do
    claims = CountingClaims.new
    lost = Queue.new
    keeper = described_class.new(claims, ttl: 0.2, every: 0.05) { |lost_key, error| lost << [lost_key, error] }
    keeper.hold(key, "an owner that never claimed it") { Timeout.timeout(5) { lost.pop } }.then do |lost_key, error|
      expect([lost_key, error]).to eq([key, nil])
    end

    def claims.renew(*) = raise(WeCom::NetworkError, "the store is down")
    keeper.hold(key, claims.claim(key, 1)) { Timeout.timeout(5) { lost.pop } }.then do |lost_key, error|
      expect(lost_key).to eq(key)
      expect(error).to be_a(WeCom::NetworkError).and(have_attributes(message: "the store is down"))
    end
  end

  it "renews in a forked child too (its thread did not survive the fork)" do
    dir = Dir.mktmpdir("wecom-lease")
    claims = WeCom::Callback::Claims.new(WeCom::TokenStore::File.new(dir).native_spec)
    keeper = described_class.new(claims, ttl: 0.3, every: 0.1)
    keeper.hold(key, claims.claim(key, 0.3)) { sleep 0.2 } # the parent's keeper thread runs
    sleep 0.4
    child = fork do
      keeper.hold("#{key}:child", claims.claim("#{key}:child", 0.3)) { sleep 1.2 }
      exit!(0)
    end
    sleep 0.9
    held_by_child = claims.claim("#{key}:child", 0.3).nil?
    Process.wait(child)
    expect(held_by_child).to be(true)
  end
end
