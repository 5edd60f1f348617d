# frozen_string_literal: true

require "spec_helper"
require "digest"
require "stringio"

# WeCom::Callback through the compiled extension: WeCom's side of each callback is made with
# Native::Callback's sign_* methods (what the emulator delivers with), and an independent Ruby
# SHA-1 where a spec needs a signature over something the sign_* methods would not make.
RSpec.describe WeCom::Callback do
  let(:token) { "QDG6eK" }
  let(:aes_key) { "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C" }
  let(:corp_id) { "ww5823bf96d3bd56c7" }
  let(:callback) { WeCom::Callback.new(token: token, encoding_aes_key: aes_key, receive_id: corp_id) }
  # WeCom's side.
  let(:wecom) { WeCom::Native::Callback.new(token, aes_key, corp_id) }

  def signed(fields, timestamp: Time.now, keys: wecom)
    signature, stamp, nonce, body = keys.sign_message(fields, timestamp.to_i.to_s)
    [{ "msg_signature" => signature, "timestamp" => stamp, "nonce" => nonce }, body]
  end

  def received(fields)
    callback.parse(*signed({ "ToUserName" => corp_id, "FromUserName" => "zhangsan", "CreateTime" => "1700000000",
                             "AgentID" => "1000002" }.merge(fields)))
  end

  # msg_signature as WeCom computes it, written independently of the extension.
  def sha1_signature(*parts)
    Digest::SHA1.hexdigest([token, *parts].sort.join)
  end

  describe "settings" do
    it "takes an app's callback_token and callback_encoding_aes_key, and its corp_id as the receive id" do
      WeCom.configure do |c|
        c.corp_id = corp_id
        c.app :hr, secret: "s", agent_id: 1_000_002, callback_token: token, callback_encoding_aes_key: aes_key
      end
      hr = described_class.new(:hr)
      expect(hr.receive_id).to eq(corp_id)
      params, body = signed({ "MsgType" => "text", "Content" => "hi", "MsgId" => "1" })
      expect(hr.parse(params, body).content).to eq("hi")
    end

    it "takes a c.callback endpoint's token and key (the contact-sync assistant's, say)" do
      WeCom.configure do |c|
        c.corp_id = corp_id
        c.callback :contacts, token: token, encoding_aes_key: aes_key
      end
      contacts = described_class.new(:contacts)
      expect(contacts.receive_id).to eq(corp_id)
      expect(contacts.verify_url(url_check("1234567"))).to eq("1234567")
    end

    it "names what is missing, and refuses a key that is not 43 characters of base64 without echoing it" do
      WeCom.configure { |c| c.app :hr, secret: "s", agent_id: 1 }
      expect { described_class.new(:hr) }
        .to raise_error(WeCom::ConfigurationError, /missing for :hr: token, encoding_aes_key, receive_id/)
      expect { described_class.new(:nope) }.to raise_error(WeCom::ConfigurationError, /:nope is not registered/)
      expect { described_class.new(token: token, encoding_aes_key: "short-secret-key", receive_id: corp_id) }
        .to raise_error(WeCom::ConfigurationError, /encoding_aes_key must be 43 characters/) { |e|
              expect(e.message).not_to include("short-secret-key")
            }
      expect { described_class.new(token: token, encoding_aes_key: aes_key, receive_id: corp_id, replay_window: 0) }
        .to raise_error(ArgumentError, /replay_window must be a positive number of seconds/)
    end

    it "never shows the token or the key" do
      WeCom.configure do |c|
        c.app :hr, secret: "s", agent_id: 1, callback_token: token, callback_encoding_aes_key: aes_key
        c.callback :contacts, token: token, encoding_aes_key: aes_key
      end
      shown = [callback.inspect, WeCom.configuration.inspect, WeCom.configuration.app_settings(:hr).inspect,
               WeCom.configuration.callback_settings(:contacts).inspect]
      shown.each do |text|
        expect(text).not_to include(token)
        expect(text).not_to include(aes_key)
      end
      expect(WeCom.configuration.inspect).to include("callbacks={contacts: {token=[REDACTED]")
    end
  end

  def url_check(echo, timestamp: Time.now, keys: wecom)
    signature, stamp, nonce, echostr = keys.sign_url_check(echo, timestamp.to_i.to_s)
    { "msg_signature" => signature, "timestamp" => stamp, "nonce" => nonce, "echostr" => echostr }
  end

  describe "#verify_url" do
    it "answers the echostr's plaintext, from String or Symbol keys" do
      expect(callback.verify_url(url_check("8612345678901234"))).to eq("8612345678901234")
      expect(callback.verify_url(url_check("42").transform_keys(&:to_sym))).to eq("42")
    end

    it "refuses a wrong signature, a stale or future timestamp, and missing parameters" do
      params = url_check("42")
      expect { callback.verify_url(params.merge("msg_signature" => params["msg_signature"].tr("0-9a-f", "1-9a-f0"))) }
        .to raise_error(WeCom::CallbackSignatureInvalid) { |e| expect(e.response_status).to eq(403) }
      expect { callback.verify_url(url_check("42", timestamp: Time.now - 301)) }
        .to raise_error(WeCom::CallbackStale) { |e| expect(e.response_status).to eq(403) }
      expect { callback.verify_url(url_check("42", timestamp: Time.now + 301)) }.to raise_error(WeCom::CallbackStale)
      expect { callback.verify_url(params.except("echostr")) }
        .to raise_error(WeCom::CallbackParameterMissing, /echostr/) { |e| expect(e.response_status).to eq(400) }
      expect { callback.verify_url({}) }.to raise_error(WeCom::CallbackParameterMissing)
    end

    it "takes a replay window of the caller's" do
      wide = described_class.new(token: token, encoding_aes_key: aes_key, receive_id: corp_id, replay_window: 3600)
      expect(wide.verify_url(url_check("42", timestamp: Time.now - 1800))).to eq("42")
      expect { callback.verify_url(url_check("42", timestamp: Time.now - 1800)) }.to raise_error(WeCom::CallbackStale)
    end
  end

  describe "#parse" do
    it "reads a text message, from a String or an IO body" do
      msg = received("MsgType" => "text", "Content" => "help", "MsgId" => "7264")
      expect(msg.msg_type).to eq(:text)
      expect(msg.event).to be_nil
      expect([msg.from_user, msg.to_user, msg.agent_id, msg.msg_id, msg.content])
        .to eq(["zhangsan", corp_id, 1_000_002, "7264", "help"])
      expect(msg.create_time).to eq(Time.at(1_700_000_000))
      expect(msg[:Content]).to eq("help")
      expect(msg["Content"]).to eq("help")
      expect(msg.to_h).to be_frozen

      params, body = signed({ "MsgType" => "text", "Content" => "你好", "MsgId" => "1", "FromUserName" => "lisi" })
      expect(callback.parse(params, StringIO.new(body)).content).to eq("你好")
    end

    it "reads media and location messages" do
      image = received("MsgType" => "image", "PicUrl" => "http://p/1.png", "MediaId" => "m1", "MsgId" => "1")
      expect([image.msg_type, image.media_id, image.pic_url]).to eq([:image, "m1", "http://p/1.png"])
      place = received("MsgType" => "location", "Location_X" => "23.134521", "Location_Y" => "113.358803",
                       "Scale" => "20", "Label" => "Guangzhou", "MsgId" => "2")
      expect(place.location.to_h).to include(latitude: 23.134521, longitude: 113.358803, scale: 20, label: "Guangzhou")
    end

    it "reads menu, scan, photo and location events" do
      click = received("MsgType" => "event", "Event" => "click", "EventKey" => "TODAY")
      expect([click.msg_type, click.event, click.event_key, click.key, click.msg_id]).to eq([:event, "click", "TODAY", "TODAY", nil])
      expect(click.event?("click")).to be(true)
      scan = received("MsgType" => "event", "Event" => "scancode_waitmsg", "EventKey" => "scan",
                      "ScanCodeInfo" => { "ScanType" => "qrcode", "ScanResult" => "https://x.example" })
      expect([scan.scan_type, scan.scan_result]).to eq(["qrcode", "https://x.example"])
      photos = received("MsgType" => "event", "Event" => "pic_photo_or_album", "EventKey" => "pics",
                        "SendPicsInfo" => { "Count" => "2", "PicList" => { "item" => [{ "PicMd5Sum" => "a" },
                                                                                       { "PicMd5Sum" => "b" }] } })
      expect(photos[:SendPicsInfo]["PicList"]["item"].map { |item| item["PicMd5Sum"] }).to eq(%w[a b])
      gps = received("MsgType" => "event", "Event" => "LOCATION", "Latitude" => "23.1", "Longitude" => "113.3",
                     "Precision" => "30.0")
      expect(gps.location.to_h).to include(latitude: 23.1, longitude: 113.3, precision: 30.0)
      expect(gps.event?("location")).to be(true)
    end

    it "reads a template_card_event with its selected items" do
      event = received("MsgType" => "event", "Event" => "template_card_event", "EventKey" => "accept",
                       "TaskId" => "interview-42", "CardType" => "vote_interaction", "ResponseCode" => "rc-1",
                       "SelectedItems" => { "SelectedItem" => [
                         { "QuestionKey" => "q1", "OptionIds" => { "OptionId" => %w[a b] } },
                         { "QuestionKey" => "q2", "OptionIds" => { "OptionId" => "c" } }
                       ] })
      expect([event.event, event.key, event.task_id, event.card_type, event.response_code])
        .to eq(["template_card_event", "accept", "interview-42", "vote_interaction", "rc-1"])
      expect(event.selected_items.map(&:to_h)).to eq([{ question_key: "q1", option_ids: %w[a b] },
                                                       { question_key: "q2", option_ids: ["c"] }])
    end

    it "reads contact changes and batch job results" do
      user = received("MsgType" => "event", "Event" => "change_contact", "ChangeType" => "update_user",
                      "UserID" => "zhangsan", "NewUserID" => "zhangsan2", "Department" => "1,2,3",
                      "FromUserName" => "sys")
      expect([user.change_type, user.user_id, user.new_user_id, user.department_ids, user.from_user])
        .to eq(["update_user", "zhangsan", "zhangsan2", [1, 2, 3], "sys"])
      party = received("MsgType" => "event", "Event" => "change_contact", "ChangeType" => "create_party",
                       "Id" => "5", "Name" => "Interviewers", "ParentId" => "1")
      expect([party.party_id, party.parent_id, party[:Name]]).to eq([5, 1, "Interviewers"])
      tag = received("MsgType" => "event", "Event" => "change_contact", "ChangeType" => "update_tag",
                     "TagId" => "9", "AddUserItems" => "a,b", "DelPartyItems" => "3")
      expect([tag.tag_id, tag.add_user_items, tag.del_user_items, tag.del_party_items]).to eq([9, %w[a b], [], [3]])
      job = received("MsgType" => "event", "Event" => "batch_job_result",
                     "BatchJob" => { "JobId" => "j1", "JobType" => "sync_user", "ErrCode" => "0", "ErrMsg" => "ok" })
      expect(job.batch_job.to_h).to eq(job_id: "j1", job_type: "sync_user", errcode: 0, errmsg: "ok")
    end

    it "keeps every field of a type it does not know, and reads nil for fields not sent" do
      odd = received("MsgType" => "event", "Event" => "open_approval_change",
                     "ApprovalInfo" => { "ThirdNo" => "t1", "ApprovalNodes" => { "ApprovalNode" => { "NodeStatus" => "1" } } })
      expect(odd.event).to eq("open_approval_change")
      expect(odd[:ApprovalInfo]["ApprovalNodes"]["ApprovalNode"]["NodeStatus"]).to eq("1")
      expect([odd.content, odd.task_id, odd.location, odd.batch_job, odd.selected_items, odd.department_ids])
        .to eq([nil, nil, nil, nil, [], []])
      bare = callback.parse(*signed({ "MsgType" => "shiny_new_type" }))
      expect([bare.msg_type, bare.from_user, bare.agent_id, bare.create_time]).to eq([:shiny_new_type, nil, nil, nil])
    end

    it "refuses another receiver's callback, a tampered body, bad base64 and a DTD" do
      other = WeCom::Native::Callback.new(token, aes_key, "ww0ther")
      expect { callback.parse(*signed({ "MsgType" => "text" }, keys: other)) }
        .to raise_error(WeCom::CallbackReceiveIdMismatch) { |e| expect(e.response_status).to eq(403) }

      params, body = signed({ "MsgType" => "text", "Content" => "hi" })
      tampered = body.sub(%r{<Encrypt><!\[CDATA\[(.)}) { "<Encrypt><![CDATA[#{Regexp.last_match(1) == 'A' ? 'B' : 'A'}" }
      expect { callback.parse(params, tampered) }.to raise_error(WeCom::CallbackSignatureInvalid)

      stamp, nonce = params.values_at("timestamp", "nonce")
      bad = { "msg_signature" => sha1_signature(stamp, nonce, "!!notbase64"), "timestamp" => stamp, "nonce" => nonce }
      expect { callback.parse(bad, "<xml><Encrypt><![CDATA[!!notbase64]]></Encrypt></xml>") }
        .to raise_error(WeCom::CallbackMalformed) { |e| expect(e.response_status).to eq(400) }

      dtd = %(<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Encrypt>&a;</Encrypt></xml>)
      expect { callback.parse(params, dtd) }.to raise_error(WeCom::CallbackMalformed)
      expect { callback.parse(params, "<xml><Nothing/></xml>") }.to raise_error(WeCom::CallbackParameterMissing, /Encrypt/)
    end

    it "refuses a body over 1 MB, also from an IO it reads no further than the limit" do
      params, = signed({ "MsgType" => "text" })
      huge = "<xml><Encrypt>#{'A' * WeCom::Callback::MAX_BODY}</Encrypt></xml>"
      expect { callback.parse(params, huge) }.to raise_error(WeCom::CallbackTooLarge) { |e| expect(e.response_status).to eq(413) }
      counting = Class.new(StringIO) do
        attr_reader :asked

        def read(length = nil, *rest)
          @asked = length
          super
        end
      end
      io = counting.new(huge * 3)
      expect { callback.parse(params, io) }.to raise_error(WeCom::CallbackTooLarge)
      expect(io.asked).to eq(WeCom::Callback::MAX_BODY + 1) # never the whole stream
      expect(io.pos).to eq(0) # rewound for whoever reads it next
    end

    it "never puts the token or the key in an error message" do
      errors = []
      [url_check("1", timestamp: Time.now - 999), {}, url_check("1").merge("msg_signature" => "0" * 40)].each do |params|
        callback.verify_url(params)
      rescue WeCom::CallbackError => e
        errors << e.message
      end
      expect(errors.size).to eq(3)
      errors.each { |message| expect(message).not_to include(token, aes_key) }
    end

    it "takes only query parameters as a Hash and the body as a String or IO" do
      expect { callback.parse(nil, "") }.to raise_error(ArgumentError, /params must be the request's query parameters/)
      expect { callback.parse({}, 42) }.to raise_error(ArgumentError, /body must be the raw request body/)
    end
  end

  describe "#reply" do
    let(:message) { received("MsgType" => "text", "Content" => "help", "MsgId" => "1") }

    def opened(**content)
      wecom.open_reply(callback.reply(message, **content))
    end

    it "encrypts a text reply addressed back to the sender" do
      before = Time.now.to_i
      tree = opened(text: "Commands: today, next")
      after = Time.now.to_i
      expect(tree).to include("ToUserName" => "zhangsan", "FromUserName" => corp_id, "MsgType" => "text",
                              "Content" => "Commands: today, next")
      expect(Integer(tree["CreateTime"])).to be_between(before, after)
    end

    it "builds media, news, update_button and template_card replies in WeCom's shape" do
      expect(opened(image: "m1")).to include("MsgType" => "image", "Image" => { "MediaId" => "m1" })
      expect(opened(voice: "m2")).to include("MsgType" => "voice", "Voice" => { "MediaId" => "m2" })
      expect(opened(video: { media_id: "m3", title: "Intro" }))
        .to include("MsgType" => "video", "Video" => { "MediaId" => "m3", "Title" => "Intro" })
      news = opened(news: [{ title: "15:00 interview", url: "https://hr.example/i/1", description: "Room 3" },
                           { title: "16:00 interview", url: "https://hr.example/i/2", picurl: "https://hr.example/p.png" }])
      expect(news).to include("MsgType" => "news", "ArticleCount" => "2")
      expect(news["Articles"]["item"].map { |item| item.values_at("Title", "Url") })
        .to eq([["15:00 interview", "https://hr.example/i/1"], ["16:00 interview", "https://hr.example/i/2"]])
      expect(opened(update_button: "Accepted"))
        .to include("MsgType" => "update_button", "Button" => { "ReplaceName" => "Accepted" })
      card = opened(template_card: { card_type: "button_interaction", task_id: "t1", main_title: { title: "Accepted" },
                                     button_list: [{ text: "Done", key: "done" }, { text: "Undo", key: "undo" }] })
      expect(card["MsgType"]).to eq("update_template_card")
      expect(card["TemplateCard"]).to include("CardType" => "button_interaction", "TaskId" => "t1",
                                              "MainTitle" => { "Title" => "Accepted" })
      expect(card["TemplateCard"]["ButtonList"].map { |button| button["Key"] }).to eq(%w[done undo])
    end

    it "checks the reply like the app message of its kind" do
      expect { callback.reply(message) }.to raise_error(ArgumentError, /exactly one of text:, image:.*got none/)
      expect { callback.reply(message, text: "a", image: "m") }.to raise_error(ArgumentError, /got text:, image:/)
      expect { callback.reply(message, markdown: "a") }.to raise_error(ArgumentError, /exactly one of/)
      expect { callback.reply(message, text: "x" * 2049) }.to raise_error(ArgumentError, /content is 2049 bytes/)
      expect { callback.reply(message, news: [{ title: "t", url: "https://x.example" }] * 9) }
        .to raise_error(ArgumentError, /articles/)
      expect { callback.reply(message, template_card: { card_type: "vote_interaction" }) }
        .to raise_error(ArgumentError, /task_id\] is required/)
      expect { callback.reply(message, template_card: { card_type: "text_notice", "bad key" => "x" }) }
        .to raise_error(ArgumentError, /reply/)
      expect { callback.reply(message.to_h, text: "a") }.to raise_error(ArgumentError, /WeCom::Callback::Message/)
    end
  end

  describe WeCom::Callback::Endpoint do
    it "reads its settings on the first request, so routes load where they are absent (assets:precompile)" do
      handler = Class.new(WeCom::Callback::Handler) { on(:text) { reply text: "ok" } }
      endpoint = described_class.new(:hr, handler)
      expect(endpoint.inspect).to include(":hr")
      env = { "REQUEST_METHOD" => "GET", "QUERY_STRING" => URI.encode_www_form(url_check("7")) }
      expect { endpoint.call(env) }.to raise_error(WeCom::ConfigurationError, /app :hr is not registered/)
      WeCom.configure do |c|
        c.corp_id = corp_id
        c.app :hr, secret: "s", agent_id: 1, callback_token: token, callback_encoding_aes_key: aes_key
      end
      expect(endpoint.call(env)).to eq([200, { "content-type" => "text/plain" }, ["7"]])
      expect { described_class.new(:hr, Object) }.to raise_error(ArgumentError, /Handler subclass/)
    end
  end

  describe WeCom::Callback::Message do
    it "tells WeCom's retries of one delivery from other deliveries" do
      text = ->(id) { received("MsgType" => "text", "Content" => "x", "MsgId" => id) }
      expect(text.call("1").dedupe_key).to eq(text.call("1").dedupe_key)
      expect(text.call("1").dedupe_key).not_to eq(text.call("2").dedupe_key)
      card = lambda do |key, code|
        received("MsgType" => "event", "Event" => "template_card_event", "EventKey" => key, "TaskId" => "t",
                 "ResponseCode" => code)
      end
      expect(card.call("accept", "r1").dedupe_key).to eq(card.call("accept", "r1").dedupe_key)
      expect(card.call("accept", "r1").dedupe_key).not_to eq(card.call("reject", "r1").dedupe_key)
      expect(card.call("accept", "r1").dedupe_key).not_to eq(card.call("accept", "r2").dedupe_key)
      change = ->(user) { received("MsgType" => "event", "Event" => "change_contact", "ChangeType" => "update_user", "UserID" => user) }
      expect(change.call("a").dedupe_key).not_to eq(change.call("b").dedupe_key)
    end

    it "is a frozen value" do
      msg = received("MsgType" => "text", "Content" => "x", "MsgId" => "1")
      expect(msg).to be_frozen
      expect(msg).to eq(described_class.new(msg.to_h.dup))
      expect { msg.to_h["Content"] << "y" }.to raise_error(FrozenError)
    end
  end

  describe WeCom::Callback::Claims do
    let(:key) { "wecom-callback:#{corp_id}:msg:#{SecureRandom.hex(4)}" }

    def stores
      [nil, WeCom::TokenStore::File.new(Dir.mktmpdir("wecom-claims")),
       WeCom::TokenStore::Redis.new(url: "redis://127.0.0.1:6379/0", namespace: "wecom-spec-#{SecureRandom.hex(4)}")]
    end

    it "gives a key to one claimant until it is released, in memory, a directory and Redis" do
      stores.each do |store|
        spec = store.respond_to?(:native_spec) ? store.native_spec : store
        first = described_class.new(spec)
        second = spec.nil? ? first : described_class.new(spec)
        owner = first.claim(key, 60)
        expect(owner).to be_a(String)
        expect(second.claim(key, 60)).to be_nil
        first.release(key, owner)
        expect(second.claim(key, 60)).to be_a(String)
      end
    end

    it "claims and releases through the native store" do
      claims = described_class.new
      owner = claims.claim(key, 60)
      expect(claims.claim(key, 60)).to be_nil
      claims.release(key, owner)
      expect(claims.claim(key, 60)).to be_a(String)
    end

    it "uses the callback's app's token store" do
      dir = Dir.mktmpdir("wecom-claims")
      WeCom.configure do |c|
        c.corp_id = corp_id
        c.app :hr, secret: "s", agent_id: 1, callback_token: token, callback_encoding_aes_key: aes_key,
                   token_store: WeCom::TokenStore::File.new(dir)
      end
      claims = described_class.for(WeCom::Callback.new(:hr))
      expect(claims.claim(key, 60)).to be_a(String)
      expect(described_class.new(WeCom::TokenStore::File.new(dir).native_spec).claim(key, 60)).to be_nil
      expect(Dir.children(dir)).to include(a_string_starting_with("claim-"))
    end
  end
end
