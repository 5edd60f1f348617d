# frozen_string_literal: true

# Every sending helper of WeCom::Client, through the compiled extension, against the emulator:
# the exact JSON WeCom receives, recipients, options, results, splitting and recall.
RSpec.describe WeCom::Client do
  let(:agent_id) { credentials[:agent_id] }

  # The whole message/send body for one message with default options.
  def envelope(msgtype, body, recipients = { "touser" => "zhangsan" })
    { "msgtype" => msgtype, "agentid" => agent_id, msgtype => body, "safe" => 0, "enable_id_trans" => 0 }
      .merge(recipients)
  end

  def sent
    emulator.messages.last
  end

  def send_requests(emu = emulator)
    emu.requests.select { |request| request[:path] == "/cgi-bin/message/send" }
  end

  describe "#send_text" do
    it "sends the content as a text message and answers its msgid" do
      result = client.send_text("Interview at 15:00 面试", to: "zhangsan")

      aggregate_failures do
        expect(emulator.messages).to eq([envelope("text", { "content" => "Interview at 15:00 面试" })])
        expect(result.msgid).to be_a(String).and(match(/\S/))
        expect(result.msgids).to eq([result.msgid])
        expect(result.all_delivered?).to be(true)
      end
    end
  end

  describe "#send_markdown" do
    it "sends the content as a markdown message" do
      client.send_markdown("**Offer** from <font color=\"info\">HR</font>", to: "zhangsan")

      expect(emulator.messages).to eq(
        [envelope("markdown", { "content" => "**Offer** from <font color=\"info\">HR</font>" })]
      )
    end
  end

  describe "#send_textcard" do
    it "sends title, description, url and button_text as btntxt" do
      client.send_textcard(title: "Interview", description: "<div class=\"gray\">15:00</div>",
                           url: "https://example.com/i/1", button_text: "详情", to: "zhangsan")

      expect(sent).to eq(envelope("textcard", { "title" => "Interview", "description" => "<div class=\"gray\">15:00</div>",
                                                "url" => "https://example.com/i/1", "btntxt" => "详情" }))
    end

    it "leaves btntxt out without button_text" do
      client.send_textcard(title: "Interview", description: "15:00", url: "https://example.com", to: "zhangsan")

      expect(sent["textcard"]).to eq("title" => "Interview", "description" => "15:00", "url" => "https://example.com")
    end
  end

  describe "#send_news" do
    it "sends url and mini program articles with their optional fields" do
      client.send_news(
        [{ title: "Welcome", description: "Day one", url: "https://example.com/a", picurl: "https://example.com/a.png" },
         { "title" => "Open the app", "appid" => "wx123", "pagepath" => "pages/index" }],
        to: "zhangsan"
      )

      expect(sent).to eq(envelope("news", { "articles" => [
                                    { "title" => "Welcome", "description" => "Day one", "url" => "https://example.com/a",
                                      "picurl" => "https://example.com/a.png" },
                                    { "title" => "Open the app", "appid" => "wx123", "pagepath" => "pages/index" }
                                  ] }))
    end

    it "sends up to 8 articles" do
      client.send_news(Array.new(8) { |i| { title: "T#{i}", url: "https://example.com/#{i}" } }, to: "zhangsan")

      expect(sent["news"]["articles"].map { |a| a["title"] }).to eq(%w[T0 T1 T2 T3 T4 T5 T6 T7])
    end
  end

  describe "#send_mpnews" do
    it "sends the articles with every field" do
      client.send_mpnews([{ title: "Handbook", thumb_media_id: "THUMB", content: "<p>Hello</p>", author: "HR",
                            content_source_url: "https://example.com/src", digest: "Short" }], to: "zhangsan")

      expect(sent).to eq(envelope("mpnews", { "articles" => [
                                    { "title" => "Handbook", "thumb_media_id" => "THUMB", "content" => "<p>Hello</p>",
                                      "author" => "HR", "content_source_url" => "https://example.com/src",
                                      "digest" => "Short" }
                                  ] }))
    end
  end

  { send_image: "image", send_voice: "voice", send_file: "file" }.each do |method, msgtype|
    describe "##{method}" do
      it "sends the media_id as a #{msgtype} message" do
        client.public_send(method, "MEDIA_#{msgtype}", to: "zhangsan")

        expect(emulator.messages).to eq([envelope(msgtype, { "media_id" => "MEDIA_#{msgtype}" })])
      end
    end
  end

  describe "#send_video" do
    it "sends media_id, title and description" do
      client.send_video("MEDIA", title: "Onboarding", description: "Watch before Monday", to: "zhangsan")

      expect(sent).to eq(envelope("video", { "media_id" => "MEDIA", "title" => "Onboarding",
                                             "description" => "Watch before Monday" }))
    end

    it "sends only the media_id when title and description are not given" do
      client.send_video("MEDIA", to: "zhangsan")

      expect(sent["video"]).to eq("media_id" => "MEDIA")
    end
  end

  describe "#send_miniprogram_notice" do
    it "sends content_item given as a Hash as key/value pairs, in order" do
      client.send_miniprogram_notice(appid: "wx123", title: "会议室预订成功", page: "pages/index",
                                     description: "4月27日", emphasis_first_item: true,
                                     content_item: { "会议室" => "402", "时间" => "15:00" }, to: "zhangsan")

      expect(sent).to eq(envelope("miniprogram_notice", {
                                    "appid" => "wx123", "title" => "会议室预订成功", "page" => "pages/index",
                                    "description" => "4月27日", "emphasis_first_item" => true,
                                    "content_item" => [{ "key" => "会议室", "value" => "402" },
                                                       { "key" => "时间", "value" => "15:00" }]
                                  }))
    end

    it "sends content_item given as an Array of key:/value: Hashes" do
      client.send_miniprogram_notice(appid: "wx123", title: "Booking", to: "zhangsan",
                                     content_item: [{ key: "Room", value: "402" }, { "key" => "Seats", "value" => 8 }])

      expect(sent["miniprogram_notice"]).to eq(
        "appid" => "wx123", "title" => "Booking", "emphasis_first_item" => false,
        "content_item" => [{ "key" => "Room", "value" => "402" }, { "key" => "Seats", "value" => "8" }]
      )
    end

    it "takes recipients and options next to the notice fields" do
      client.send_miniprogram_notice(appid: "wx123", title: "Booking", party: 2, safe: true)

      expect(sent).to include("toparty" => "2", "safe" => 1).and(satisfy { |m| !m.key?("touser") })
    end
  end

  describe "#send_template_card" do
    let(:text_notice) do
      { card_type: "text_notice", source: { desc: "HR" }, main_title: { title: "Welcome", desc: "Day one" },
        emphasis_content: { title: "15:00", desc: "Start" }, card_action: { type: 1, url: "https://example.com" } }
    end

    it "sends the card with its keys as Strings and numbers as numbers" do
      result = client.send_template_card(text_notice, to: "zhangsan")

      aggregate_failures do
        expect(sent).to eq(envelope("template_card", {
                                      "card_type" => "text_notice", "source" => { "desc" => "HR" },
                                      "main_title" => { "title" => "Welcome", "desc" => "Day one" },
                                      "emphasis_content" => { "title" => "15:00", "desc" => "Start" },
                                      "card_action" => { "type" => 1, "url" => "https://example.com" }
                                    }))
        expect(result.response_code).to be_nil
      end
    end

    it "answers the response_code of an interactive button_interaction card" do
      card = { "card_type" => "button_interaction", "task_id" => "task-1", "main_title" => { "title" => "Approve?" },
               "button_list" => [{ "text" => "Yes", "key" => "yes" }, { "text" => "No", "key" => "no", "style" => 2 }] }

      result = client.send_template_card(card, to: "zhangsan")

      aggregate_failures do
        expect(sent["template_card"]).to eq(card)
        expect(result.response_code).to be_a(String).and(match(/\A\S{10,}\z/))
        expect(result.to_h[:response_code]).to eq(result.response_code)
      end
    end
  end

  describe "#send_message" do
    it "sends any msgtype with its body converted to JSON" do
      body = { card_type: :text_notice, main_title: { title: "Hi" }, ratio: 1.5, count: 3, none: nil,
               flags: [true, false], tags: %i[a b], nested: [[1, "x"], { deep: "y" }] }

      client.send_message(:template_card, body, to: "zhangsan")

      expect(sent["template_card"]).to eq(
        "card_type" => "text_notice", "main_title" => { "title" => "Hi" }, "ratio" => 1.5, "count" => 3,
        "none" => nil, "flags" => [true, false], "tags" => %w[a b], "nested" => [[1, "x"], { "deep" => "y" }]
      )
    end

    it "converts Strings and Symbols in other encodings to UTF-8" do
      latin1 = "café".encode("ISO-8859-1")
      client.send_message(:text, { content: latin1, latin1.to_sym => "x".encode("UTF-16LE") }, to: "zhangsan")

      expect(sent["text"]).to eq("content" => "café", "café" => "x")
    end

    it "takes the msgtype as a String" do
      client.send_message("text", { "content" => "hi" }, to: "zhangsan")

      expect(emulator.messages).to eq([envelope("text", { "content" => "hi" })])
    end

    it "passes a msgtype the builders do not know to WeCom and raises what WeCom answers" do
      expect { client.send_message(:interactive_taskcard, { title: "x" }, to: "zhangsan") }
        .to raise_error(WeCom::APIError) { |error| expect(error.errcode).to eq(40008) }
      body = JSON.parse(send_requests.last[:body])
      expect(body).to include("msgtype" => "interactive_taskcard", "interactive_taskcard" => { "title" => "x" })
    end
  end

  describe "recipients" do
    def sent_to(**recipients)
      client.send_text("hi", **recipients)
      sent
    end

    it "takes one user id as a String" do
      expect(sent_to(to: "zhangsan")).to eq(envelope("text", { "content" => "hi" }))
    end

    it "joins an Array of user ids with |" do
      expect(sent_to(to: %w[zhangsan lisi])["touser"]).to eq("zhangsan|lisi")
    end

    it "takes a Symbol" do
      expect(sent_to(to: :zhangsan)["touser"]).to eq("zhangsan")
    end

    it "takes ids already joined as \"a|b\", dropping blanks around them" do
      expect(sent_to(to: " zhangsan | lisi|")["touser"]).to eq("zhangsan|lisi")
    end

    it "removes duplicates, keeping the first occurrence's order" do
      expect(sent_to(to: ["lisi", :zhangsan, "lisi|wangwu", "zhangsan"])["touser"]).to eq("lisi|zhangsan|wangwu")
    end

    it "sends to: :all as @all and omits party and tag" do
      message = sent_to(to: :all, party: [1, 2], tag: 3)

      aggregate_failures do
        expect(message["touser"]).to eq("@all")
        expect(message).not_to include("toparty", "totag")
      end
    end

    it "treats \"@all\" inside \"a|b\" like :all" do
      expect(sent_to(to: "bob|@all")["touser"]).to eq("@all")
    end

    it "treats \"@all\" inside an Array like :all" do
      expect(sent_to(to: ["zhangsan", "@all"])["touser"]).to eq("@all")
    end

    it "sends party: as toparty (Integer or Array), without touser" do
      message = sent_to(party: [1, "2", 1])

      aggregate_failures do
        expect(message["toparty"]).to eq("1|2")
        expect(message).not_to include("touser", "totag")
      end
    end

    it "sends party: and tag: next to users" do
      message = sent_to(to: "zhangsan", party: 1, tag: [7, 8])

      expect(message).to include("touser" => "zhangsan", "toparty" => "1", "totag" => "7|8")
    end
  end

  describe "options" do
    it "sends safe: 0 and enable_id_trans: 0 and no duplicate check by default" do
      client.send_text("hi", to: "zhangsan")

      aggregate_failures do
        expect(sent).to include("safe" => 0, "enable_id_trans" => 0)
        expect(sent).not_to include("enable_duplicate_check", "duplicate_check_interval")
      end
    end

    it "sends safe: true as safe 1" do
      client.send_text("hi", to: "zhangsan", safe: true)

      expect(sent).to include("safe" => 1, "enable_id_trans" => 0)
    end

    it "sends id_trans: true as enable_id_trans 1" do
      client.send_text("hi", to: "zhangsan", id_trans: true)

      expect(sent).to include("enable_id_trans" => 1, "safe" => 0)
    end

    it "sends duplicate_check: true with WeCom's default interval of 1800 s" do
      client.send_text("hi", to: "zhangsan", duplicate_check: true)

      expect(sent).to include("enable_duplicate_check" => 1, "duplicate_check_interval" => 1800)
    end

    it "sends duplicate_check: 600 as a 600 s interval" do
      client.send_text("hi", to: "zhangsan", duplicate_check: 600)

      expect(sent).to include("enable_duplicate_check" => 1, "duplicate_check_interval" => 600)
    end

    it "lets WeCom drop an identical send: both answer the same msgid, one message is recorded" do
      first = client.send_text("hi", to: "zhangsan", duplicate_check: true)
      second = client.send_text("hi", to: "zhangsan", duplicate_check: true)

      aggregate_failures do
        expect(second.msgid).to eq(first.msgid)
        expect(send_requests.size).to eq(2)
        expect(emulator.messages.size).to eq(1)
      end
    end

    it "sends identical messages twice without duplicate_check" do
      first = client.send_text("hi", to: "zhangsan")
      second = client.send_text("hi", to: "zhangsan")

      aggregate_failures do
        expect(second.msgid).not_to eq(first.msgid)
        expect(emulator.messages.size).to eq(2)
      end
    end
  end

  describe "results" do
    let(:directory) { start_emulator(**credentials, users: %w[alice bob], parties: [1], tags: [7]) }
    let(:directory_client) { directory.client(retry_base_delay: 0.01) }

    it "reports invalid users, parties and tags without failing the send" do
      result = directory_client.send_text("hi", to: %w[alice carol dave], party: [1, 2], tag: [7, 8])

      aggregate_failures do
        expect(result.invalid_users).to eq(%w[carol dave])
        expect(result.invalid_parties).to eq(["2"])
        expect(result.invalid_tags).to eq(["8"])
        expect(result.unlicensed_users).to eq([])
        expect(result.all_delivered?).to be(false)
        expect(result.msgid).to be_a(String)
        expect(directory.messages.size).to eq(1)
      end
    end

    it "is all_delivered? when every recipient is in the directory" do
      result = directory_client.send_text("hi", to: %w[alice bob], party: 1, tag: 7)

      aggregate_failures do
        expect(result.all_delivered?).to be(true)
        expect([result.invalid_users, result.invalid_parties, result.invalid_tags]).to all(be_empty)
      end
    end

    it "raises WeCom::APIError 81013 when every recipient is invalid" do
      expect { directory_client.send_text("hi", to: %w[carol dave], party: 9) }
        .to raise_error(WeCom::APIError) { |error| expect(error.errcode).to eq(81013) }
      expect(directory.messages).to be_empty
    end
  end

  describe "splitting large recipient lists" do
    let(:users) { Array.new(2500) { |i| "u#{i}" } }

    it "sends 2500 users in three calls of 1000, 1000 and 500 and answers one msgid per call" do
      result = client.send_text("hi", to: users)
      batches = emulator.messages.map { |message| message["touser"].split("|") }

      aggregate_failures do
        expect(batches.map(&:size)).to eq([1000, 1000, 500])
        expect(batches.flatten).to eq(users)
        expect(emulator.messages.map { |m| m["text"] }).to all(eq("content" => "hi"))
        expect(result.msgids.size).to eq(3)
        expect(result.msgids.uniq.size).to eq(3)
        expect(result.msgid).to eq(result.msgids.first)
      end
    end

    it "merges the invalid users of every call" do
      emu = start_emulator(**credentials, users: users - %w[u5 u1500 u2400])

      result = emu.client(retry_base_delay: 0.01).send_text("hi", to: users)

      aggregate_failures do
        expect(emu.messages.size).to eq(3)
        expect(result.invalid_users).to eq(%w[u5 u1500 u2400])
      end
    end

    it "reports a call whose users are all invalid as invalid users, and goes on with the rest" do
      valid = users.first(1000) + users.last(500)
      emu = start_emulator(**credentials, users: valid)

      result = emu.client(retry_base_delay: 0.01).send_text("hi", to: users)

      aggregate_failures do
        expect(result.msgids.size).to eq(2)
        expect(result.invalid_users).to eq(users[1000, 1000])
        expect(emu.messages.flat_map { |m| m["touser"].split("|") }).to eq(valid)
      end
    end

    it "raises 81013 when every call's users are invalid" do
      emu = start_emulator(**credentials, users: %w[someone-else])
      expect { emu.client(retry_base_delay: 0.01).send_text("hi", to: users) }
        .to raise_error(WeCom::APIError) { |error| expect(error.errcode).to eq(81_013) }
    end

    it "tells what was delivered when a later call fails, and that a retry would repeat it" do
      client.access_token
      emulator.fail_next(40_003, after: 1)
      expect { client.send_text("hi", to: users) }.to raise_error(WeCom::APIError) { |error|
        aggregate_failures do
          expect(error.errcode).to eq(40_003)
          expect(error.partial_result).to be_a(WeCom::Result)
          expect(error.partial_result.msgids.size).to eq(1)
          expect(error.message).to include("after 1 of 3 calls").and include("would deliver those again")
          expect(error.retryable?).to be(false)
        end
      }
      expect(emulator.messages.size).to eq(1) # the third call was not attempted
    end

    it "calls a partly delivered send retryable when duplicate_check makes repeating it safe" do
      client.access_token
      emulator.fail_next(-1, times: 4, after: 1) # the first try and its 3 retries
      error = nil
      begin
        client.send_text("hi", to: users, duplicate_check: true)
      rescue WeCom::APIError => e
        error = e
      end
      expect(error.partial_result.msgids.size).to eq(1)
      expect(error.retryable?).to be(true)
      result = client.send_text("hi", to: users, duplicate_check: true)
      # WeCom dropped the repeat of the delivered call: 1 + 2 messages, each user once.
      expect(emulator.messages.flat_map { |m| m["touser"].split("|") }).to eq(users)
      expect(result.msgids.size).to eq(3)
      expect(result.msgid).to eq(error.partial_result.msgid)
    end

    it "sends 250 parties in three calls of 100, 100 and 50" do
      parties = (1..250).to_a
      result = client.send_text("hi", party: parties)
      batches = emulator.messages.map { |message| message["toparty"].split("|") }

      aggregate_failures do
        expect(batches.map(&:size)).to eq([100, 100, 50])
        expect(batches.flatten).to eq(parties.map(&:to_s))
        expect(result.msgids.size).to eq(3)
      end
    end
  end

  describe "#recall" do
    it "recalls a sent message and answers true" do
      msgid = client.send_text("oops", to: "zhangsan").msgid

      aggregate_failures do
        expect(client.recall(msgid)).to be(true)
        expect(emulator.recalled).to eq([msgid])
      end
    end

    it "raises WeCom::APIError 40058 for an unknown msgid" do
      expect { client.recall("no-such-msgid") }
        .to raise_error(WeCom::APIError) { |error| expect(error.errcode).to eq(40058) }
      expect(emulator.recalled).to be_empty
    end
  end

  describe "the one send value, WeCom::AppMessage" do
    it "is what Client.check returns and what the native send reads by name" do
      message = WeCom::Client.check(:text, "hi", to: %w[a b], tag: 3, safe: true, duplicate_check: true)
      expect(message).to be_frozen
      expect(message.to_h).to eq(msgtype: "text", body: { "content" => "hi" }, users: %w[a b], parties: [],
                                 tags: ["3"], all: false, safe: true, id_trans: false, duplicate_check: 1800,
                                 emails: [], mobiles: [])
      connection = { base_url: emulator.base_url, timeout: 5.0, open_timeout: 5.0, idle_timeout: 4.0, max_retries: 0,
                     retry_base_delay: 0.01 }
      native = WeCom::Native::Client.new(credentials[:corp_id], credentials[:secret], credentials[:agent_id],
                                         connection, nil)
      expect(native.send_message(message)[:msgids].size).to eq(1)
      expect(emulator.messages.last).to include("touser" => "a|b", "totag" => "3", "safe" => 1)
      expect { native.send_message(["text", {}]) }.to raise_error(TypeError, /WeCom::AppMessage/)
    end
  end
end
