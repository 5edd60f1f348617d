# frozen_string_literal: true

# Bad input raises ArgumentError naming the field and the limit, before anything is sent.
RSpec.describe WeCom::Client, "argument checks" do
  # The block raises ArgumentError matching `message`, and the emulator received no request
  # (not even gettoken).
  def expect_rejected(message, &block)
    expect(&block).to raise_error(ArgumentError, message)
    expect(emulator.requests).to be_empty
  end

  describe "#send_text content" do
    it("rejects nil") { expect_rejected(/content is required/) { client.send_text(nil, to: "u") } }
    it("rejects an empty String") { expect_rejected(/content must not be empty/) { client.send_text("", to: "u") } }

    it "rejects whitespace only" do
      expect_rejected(/content must not be empty/) { client.send_text(" \n\t ", to: "u") }
    end

    it "rejects a non-String" do
      expect_rejected(/content must be a String, got Integer/) { client.send_text(42, to: "u") }
    end

    it "rejects 2049 bytes, naming the size and the limit" do
      expect_rejected(/content is 2049 bytes.*2048 bytes/) { client.send_text("a" * 2049, to: "u") }
    end

    it "counts bytes, not characters: 683 three-byte characters are too many" do
      expect_rejected(/content is 2049 bytes.*2048/) { client.send_text("汉" * 683, to: "u") }
    end

    it "sends exactly 2048 bytes of multi-byte text unchanged" do
      content = "#{'汉' * 682}ab"
      client.send_text(content, to: "u")

      sent = emulator.messages.last["text"]["content"]
      aggregate_failures do
        expect(sent).to eq(content)
        expect(sent.bytesize).to eq(2048)
      end
    end

    it "rejects binary bytes that are not UTF-8" do
      expect_rejected(/content is not valid UTF-8/) { client.send_text("\xff".b, to: "u") }
    end

    it "rejects a UTF-8 String holding invalid bytes" do
      expect_rejected(/content is not valid UTF-8/) { client.send_text("abc\xffdef", to: "u") }
    end

    it "converts a GBK String to UTF-8" do
      client.send_text("你好，面试".encode("GBK"), to: "u")

      expect(emulator.messages.last["text"]["content"]).to eq("你好，面试")
    end

    it "measures a GBK String in UTF-8 bytes, as it will be sent" do
      expect_rejected(/content is 2049 bytes.*2048/) { client.send_text("汉".encode("GBK") * 683, to: "u") }
    end

    it "rejects a GBK String with bytes GBK does not have" do
      expect_rejected(/content cannot be converted from GBK to UTF-8/) do
        client.send_text((+"\x81").force_encoding("GBK"), to: "u")
      end
    end
  end

  describe "#send_markdown" do
    it "rejects content over 2048 bytes" do
      expect_rejected(/content is 2049 bytes.*2048/) { client.send_markdown("#" * 2049, to: "u") }
    end
  end

  describe "#send_textcard" do
    let(:card) { { title: "Interview", description: "15:00", url: "https://example.com", to: "u" } }

    it "rejects a title over 128 bytes" do
      expect_rejected(/title is 129 bytes.*128/) { client.send_textcard(**card, title: "t" * 129) }
    end

    it "rejects a description over 512 bytes" do
      expect_rejected(/description is 513 bytes.*512/) { client.send_textcard(**card, description: "d" * 513) }
    end

    it "rejects a url that is not http(s)" do
      expect_rejected(/url must be an http\(s\) URL, got "ftp:\/\/example.com"/) do
        client.send_textcard(**card, url: "ftp://example.com")
      end
    end

    it "rejects a url with spaces" do
      expect_rejected(/url must be an http\(s\) URL/) { client.send_textcard(**card, url: "https://a b") }
    end

    it "rejects a button_text over 4 characters" do
      expect_rejected(/button_text is 5 characters.*at most 4/) { client.send_textcard(**card, button_text: "查看详情页") }
    end

    it "requires title:" do
      expect_rejected(/missing keyword: :title/) { client.send_textcard(description: "d", url: "https://a", to: "u") }
    end
  end

  describe "#send_news" do
    let(:article) { { title: "Welcome", url: "https://example.com" } }

    it "rejects no articles" do
      expect_rejected(/articles has 0 articles.*1 to 8/) { client.send_news([], to: "u") }
    end

    it "rejects 9 articles" do
      expect_rejected(/articles has 9 articles.*1 to 8/) { client.send_news([article] * 9, to: "u") }
    end

    it "rejects an article without a title, naming it" do
      expect_rejected(/articles\[1\]\[:title\] is required/) do
        client.send_news([article, { url: "https://example.com" }], to: "u")
      end
    end

    it "rejects an article that is not a Hash" do
      expect_rejected(/articles\[0\] must be a Hash, got String/) { client.send_news(["Welcome"], to: "u") }
    end

    it "rejects articles that are not an Array" do
      expect_rejected(/articles must be an Array of Hashes, got Hash/) { client.send_news(article, to: "u") }
    end

    it "rejects a mini program article without its pagepath" do
      expect_rejected(/articles\[0\]\[:pagepath\] is required/) do
        client.send_news([{ title: "Welcome", appid: "wx123" }], to: "u")
      end
    end

    it "rejects an article without url or appid" do
      expect_rejected(/articles\[0\]\[:url\] is required/) { client.send_news([{ title: "Welcome" }], to: "u") }
    end
  end

  describe "#send_mpnews" do
    it "rejects an article without thumb_media_id" do
      expect_rejected(/articles\[0\]\[:thumb_media_id\] is required/) do
        client.send_mpnews([{ title: "Handbook", content: "<p>Hi</p>" }], to: "u")
      end
    end
  end

  describe "media messages" do
    %i[send_image send_voice send_file send_video].each do |method|
      it "#{method} rejects an empty media_id" do
        expect_rejected(/media_id must not be empty/) { client.public_send(method, "", to: "u") }
      end
    end

    it "send_image rejects a nil media_id" do
      expect_rejected(/media_id is required/) { client.send_image(nil, to: "u") }
    end

    it "send_video rejects a title over 128 bytes" do
      expect_rejected(/title is 129 bytes.*128/) { client.send_video("MEDIA", title: "t" * 129, to: "u") }
    end
  end

  describe "#send_miniprogram_notice" do
    let(:notice) { { appid: "wx123", title: "Booking", to: "u" } }

    it "rejects a title under 4 characters" do
      expect_rejected(/title is 3 characters.*4 to 12/) { client.send_miniprogram_notice(**notice, title: "abc") }
    end

    it "rejects a title over 12 characters" do
      expect_rejected(/title is 13 characters.*4 to 12/) do
        client.send_miniprogram_notice(**notice, title: "会" * 13)
      end
    end

    it "rejects more than 10 content items" do
      items = (1..11).to_h { |i| ["k#{i}", "v#{i}"] }
      expect_rejected(/content_item has 11 items.*at most 10/) do
        client.send_miniprogram_notice(**notice, content_item: items)
      end
    end

    it "rejects a content item that is not a Hash" do
      expect_rejected(/content_item\[0\] must be a Hash/) do
        client.send_miniprogram_notice(**notice, content_item: ["Room 402"])
      end
    end

    it "requires appid:" do
      expect_rejected(/missing keyword: :appid/) { client.send_miniprogram_notice(title: "Booking", to: "u") }
    end
  end

  describe "#send_template_card" do
    it "rejects a card without card_type" do
      expect_rejected(/card\[:card_type\] must be one of text_notice.*got ""/) do
        client.send_template_card({ main_title: { title: "x" } }, to: "u")
      end
    end

    it "rejects an unknown card_type" do
      expect_rejected(/card\[:card_type\] must be one of.*got "fancy"/) do
        client.send_template_card({ card_type: "fancy" }, to: "u")
      end
    end

    it "rejects an interactive card without task_id" do
      expect_rejected(/card\[:task_id\] is required for button_interaction/) do
        client.send_template_card({ card_type: "button_interaction", button_list: [] }, to: "u")
      end
    end

    it "rejects a card that is not a Hash" do
      expect_rejected(/card must be a Hash.*got String/) { client.send_template_card("text_notice", to: "u") }
    end
  end

  describe "#send_message" do
    it "rejects a msgtype that is not a WeCom message type" do
      expect_rejected(/msgtype must be a WeCom message type.*got "Text!"/) do
        client.send_message("Text!", { content: "hi" }, to: "u")
      end
    end

    it "rejects a msgtype that is not a String or Symbol" do
      expect_rejected(/msgtype must be a WeCom message type.*got 42/) do
        client.send_message(42, { content: "hi" }, to: "u")
      end
    end

    it "rejects a body that is not a Hash" do
      expect_rejected(/body must be a Hash, got String/) { client.send_message(:text, "hi", to: "u") }
    end

    it "rejects a body holding an object with no JSON form, naming where" do
      expect_rejected(/text\["content"\] holds a Object, which has no JSON form/) do
        client.send_message(:text, { content: Object.new }, to: "u")
      end
    end

    it "rejects an unconvertible object deep inside a template card" do
      card = { card_type: "text_notice", jump_list: [{ title: "a" }, { title: Time.now }] }
      expect_rejected(/template_card\["jump_list"\]\[1\]\["title"\] holds a Time/) do
        client.send_template_card(card, to: "u")
      end
    end

    it "checks a body with no client and no send (Native.check_json, as deliver_later does)" do
      expect(WeCom::Native.check_json({ "content" => "hi", "n" => [1, 2.5, nil, true, { k: :v }] }, "text")).to be_nil
      expect { WeCom::Native.check_json({ "t" => Time.at(0) }, "text") }
        .to raise_error(ArgumentError, /text\["t"\] holds a Time/)
    end

    it "rejects a recursive Hash" do
      body = { content: "hi" }
      body[:again] = body
      expect_rejected(/nested more than 32 levels deep \(is it recursive\?\)/) do
        client.send_message(:text, body, to: "u")
      end
    end

    it "rejects a Hash key that is not a String or Symbol" do
      expect_rejected(/keys must be Strings or Symbols/) { client.send_message(:text, { 1 => "hi" }, to: "u") }
    end

    it "rejects an Integer too large for JSON" do
      expect_rejected(/integer too large for JSON/) { client.send_message(:text, { content: 2**64 }, to: "u") }
    end

    it "rejects a Float that is not finite" do
      expect_rejected(/must be a finite number/) { client.send_message(:text, { content: Float::NAN }, to: "u") }
    end

    it "rejects a Symbol key that is not valid UTF-8, as an ArgumentError" do
      expect_rejected(/text keys must be Strings or Symbols in valid UTF-8/) do
        client.send_message(:text, { "\xff".b.to_sym => "hi" }, to: "u")
      end
    end

    it "rejects the same key given as a String and a Symbol instead of dropping one" do
      expect_rejected(/text has the key "content" twice/) do
        client.send_message(:text, { content: "a", "content" => "b" }, to: "u")
      end
    end

    it "rejects a String in the body that is not valid UTF-8" do
      expect_rejected(/text\["content"\] must be valid UTF-8/) do
        client.send_message(:text, { content: "\xff".b }, to: "u")
      end
    end
  end

  describe "recipients" do
    [nil, [], "", [nil, ""], " | "].each do |to|
      it "rejects to: #{to.inspect} with no party or tag" do
        expect_rejected(/no recipients: give to:/) { client.send_text("hi", to: to) }
      end
    end

    it "rejects a send without any recipient keyword" do
      expect_rejected(/no recipients/) { client.send_text("hi") }
    end

    it "rejects a user id of a wrong type" do
      expect_rejected(/to must hold Strings, Symbols or Integers, got Float/) { client.send_text("hi", to: 1.5) }
    end

    it "rejects a party id of a wrong type inside an Array" do
      expect_rejected(/party must hold Strings, Symbols or Integers, got Hash/) do
        client.send_text("hi", to: "u", party: [1, { id: 2 }])
      end
    end
  end

  describe "duplicate_check:" do
    it "rejects 0" do
      expect_rejected(/duplicate_check must be true or 1 to 14400 seconds, got 0/) do
        client.send_text("hi", to: "u", duplicate_check: 0)
      end
    end

    it "rejects more than 14400" do
      expect_rejected(/duplicate_check must be true or 1 to 14400 seconds, got 20000/) do
        client.send_text("hi", to: "u", duplicate_check: 20_000)
      end
    end

    it "rejects a String" do
      expect_rejected(/duplicate_check must be true or 1 to 14400 seconds, got "x"/) do
        client.send_text("hi", to: "u", duplicate_check: "x")
      end
    end

    [Float::INFINITY, Float::NAN].each do |value|
      it "rejects #{value}" do
        expect_rejected(/duplicate_check must be true or 1 to 14400 seconds, got #{value}/) do
          client.send_text("hi", to: "u", duplicate_check: value)
        end
      end
    end
  end

  describe "unknown keywords" do
    it "rejects one on send_text" do
      expect_rejected(/unknown keyword: :urgent/) { client.send_text("x", to: "u", urgent: true) }
    end

    it "rejects one on send_textcard" do
      expect_rejected(/unknown keyword: :urgent/) do
        client.send_textcard(title: "t", description: "d", url: "https://a", to: "u", urgent: true)
      end
    end

    it "rejects one on send_miniprogram_notice" do
      expect_rejected(/unknown keyword: :urgent/) do
        client.send_miniprogram_notice(appid: "wx1", title: "Booking", to: "u", urgent: true)
      end
    end
  end

  describe "#recall" do
    it "rejects an empty msgid" do
      expect_rejected(/msgid must not be empty/) { client.recall("") }
    end
  end

  describe "any object, wherever it is given" do
    # What the messages call an object that has no use there.
    odd = /(got |holds a )(#<)?(Basic)?Object/
    # A BasicObject has no #class, #is_a?, #respond_to?, #inspect or #to_s; this Object has them
    # all, but its #to_s and #inspect raise.
    values = { "a BasicObject" => -> { BasicObject.new },
               "an object whose to_s and inspect raise" => lambda {
                 Object.new.tap do |object|
                   def object.to_s = raise("to_s failed")
                   def object.inspect = raise("inspect failed")
                 end
               } }
    values.each do |description, make|
      it "refuses #{description} with ArgumentError naming the field" do
        value = make.call
        card = { card_type: "text_notice", card_action: { type: 1, url: "https://a" } }
        {
          /\Acontent must be a String, #{odd}/ => -> { client.send_text(value, to: "u") },
          /\Ato must hold Strings, Symbols or Integers, #{odd}/ => -> { client.send_text("hi", to: value) },
          /\Ato must hold/ => -> { client.send_text("hi", to: ["u", value]) },
          /\Aparty must hold/ => -> { client.send_text("hi", party: value) },
          /\Atag must hold/ => -> { client.send_text("hi", tag: [value]) },
          /\Aduplicate_check must be true or 1 to 14400 seconds, #{odd}/ =>
            -> { client.send_text("hi", to: "u", duplicate_check: value) },
          /\Acard must be a Hash/ => -> { client.send_template_card(value, to: "u") },
          /\Acard\[:card_type\] must be a String, #{odd}/ => -> { client.send_template_card({ card_type: value }, to: "u") },
          /\Atemplate_card\["main_title"\]\["title"\] #{odd}/ =>
            -> { client.send_template_card(card.merge(main_title: { title: value }), to: "u") },
          /\Aarticles must be an Array of Hashes, #{odd}/ => -> { client.send_news(value, to: "u") },
          /\Aarticles\[0\] must be a Hash, #{odd}/ => -> { client.send_mpnews([value], to: "u") },
          /\Aarticles\[0\]\[:title\] must be a String, #{odd}/ => -> { client.send_news([{ title: value, url: "https://a" }], to: "u") },
          /\Acontent_item must be a Hash or an Array/ =>
            -> { client.send_miniprogram_notice(appid: "wx1", title: "Booking", content_item: value, to: "u") },
          /\Acontent_item\[0\]\[:value\] must be a String, #{odd}/ =>
            -> { client.send_miniprogram_notice(appid: "wx1", title: "Booking", content_item: { "Time" => value }, to: "u") },
          /\Amsgtype must be a WeCom message type such as :text, #{odd}/ => -> { client.send_message(value, {}, to: "u") },
          /\Abody must be a Hash, #{odd}/ => -> { client.send_message(:text, value, to: "u") },
          /\Atext\["content"\] #{odd}/ => -> { client.send_message(:text, { content: value }, to: "u") },
          /\Atype must be one of .*, #{odd}/ => -> { client.deliver(value, "hi", to: "u") },
          /\Amessages must be an Array of Hashes, #{odd}/ => -> { client.send_batch(value) },
          /\Amessages\[0\]: must be a Hash, #{odd}/ => -> { client.send_batch([value]) },
          /\Amessages\[0\]: type must be one of .*, #{odd}/ => -> { client.send_batch([{ type: value, content: "x", to: "u" }]) },
          /\Aconcurrency must be an Integer from 1 to 1000, #{odd}/ => -> { client.send_batch([], concurrency: value) },
          /\Arate_limit_pause must be a positive number of seconds, #{odd}/ =>
            -> { client.send_batch([], rate_limit_pause: value) },
          /\Amedia_id must be a String, #{odd}/ => -> { client.send_file(value, to: "u") },
          /\Aa file must be a path, an IO or a String of bytes, #{odd}/ => -> { client.upload_media(value, type: :file) },
          /\Atype must be one of :image, :voice, :video, :file, #{odd}/ =>
            -> { client.upload_media("x" * 10, type: value, filename: "a.txt") },
          /\Afilename must be a String, #{odd}/ => -> { client.upload_media("x" * 10, type: :file, filename: value) },
          /\Amsgid must be a String, #{odd}/ => -> { client.recall(value) },
          /\Aname must be a String, #{odd}/ => -> { client.create_chat(name: value, owner: "a", users: %w[a b]) },
          /\Ausers must hold Strings, Symbols or Integers, #{odd}/ =>
            -> { client.create_chat(name: "Loop", owner: "a", users: ["a", value]) },
          /\Achat_id must be 1 to 32 letters and digits, #{odd}/ => -> { client.send_chat(value, :text, "hi") },
          /\Atype must be one of text, markdown, .*, #{odd}/ => -> { client.send_chat("loop42", value, "hi") },
          /\Aa WeCom app name must be a non-empty Symbol or String, #{odd}/ => -> { WeCom::Client.new(value) },
          /\Aidempotency_key must be a non-empty String of at most 255 bytes, #{odd}/ =>
            -> { WeCom.deliver_later(:text, "hi", to: "u", idempotency_key: value) },
          /\Adelivery_log must be true or false, #{odd}/ => -> { WeCom.configure { |c| c.delivery_log = value } }
        }.each do |message, call|
          expect(&call).to raise_error(ArgumentError, message)
        end
        %i[corp_id secret agent_id base_url timeout open_timeout max_retries retry_base_delay token_store].each do |name|
          expect { WeCom::Client.new(**credentials, name => value) }.to raise_error(ArgumentError, /\A#{name} must be .*#{odd}/)
          WeCom.configure { |c| c.public_send(:"#{name}=", value) }
          expect { WeCom::Client.new(**credentials.except(name)) }
            .to raise_error(WeCom::ConfigurationError, /\AWeCom #{name} must be .*#{odd}/)
          WeCom.reset_configuration!
        end
        expect(emulator.requests).to be_empty
      end
    end

    it "takes any object as a true or false option" do
      client.send_text("hi", to: "u", safe: BasicObject.new, id_trans: BasicObject.new)
      expect(emulator.messages.last).to include("safe" => 1, "enable_id_trans" => 1)
    end
  end

  describe "Hash keys that are neither Symbols nor Strings" do
    it "are refused naming the field and the key" do
      expect_rejected(/\Aarticles\[0\] keys must be Symbols or Strings, got 1\z/) do
        client.send_news([{ 1 => "x", title: "t", url: "https://a" }], to: "u")
      end
      expect_rejected(/\Aarticles\[1\] keys must be Symbols or Strings, got \[:title\]/) do
        client.send_mpnews([{ title: "t", thumb_media_id: "m", content: "c" }, { [:title] => "t" }], to: "u")
      end
      expect_rejected(/\Acontent_item\[0\] keys must be Symbols or Strings, got 1/) do
        client.send_miniprogram_notice(appid: "wx1", title: "Booking", content_item: [{ 1 => "x" }], to: "u")
      end
      expect_rejected(/\Amessages\[1\]: keys must be Symbols or Strings, got 2/) do
        client.send_batch([{ type: :text, content: "x", to: "u" }, { 2 => "x", type: :text, content: "x", to: "u" }])
      end
      expect_rejected(/\Aarticles\[0\] key is not valid UTF-8/) do
        client.send_news([{ "\xff".b => "x", title: "t", url: "https://a" }], to: "u")
      end
    end
  end

  describe "recipient ids in other encodings" do
    it "converts them to UTF-8, as content is" do
      client.send_text("hi", to: ["zhangsan".encode("UTF-16LE"), "张三".encode("GBK")], party: "2".encode("UTF-16BE"),
                             tag: :"7")
      expect(emulator.messages.last).to include("touser" => "zhangsan|张三", "toparty" => "2", "totag" => "7")
    end

    it "refuses invalid bytes, naming the field" do
      expect_rejected(/\Ato is not valid UTF-8/) { client.send_text("hi", to: "\xff".b) }
      expect_rejected(/\Ato is not valid UTF-8/) { client.send_text("hi", to: ["u", "a\xffb"]) }
      expect_rejected(/\Aparty is not valid UTF-8/) { client.send_text("hi", party: ["\xfe".b]) }
      expect_rejected(/\Atag cannot be converted from UTF-16LE to UTF-8/) do
        client.send_text("hi", tag: "\xff".dup.force_encoding("UTF-16LE"))
      end
      expect_rejected(/\Ausers is not valid UTF-8/) { client.create_chat(name: "Loop", owner: "a", users: ["a", "\xff".b]) }
      expect_rejected(/\Aowner is not valid UTF-8/) { client.create_chat(name: "Loop", owner: "\xff".b, users: %w[a b]) }
      expect_rejected(/\Achat_id cannot be converted/) { client.send_chat("\xff".dup.force_encoding("UTF-16LE"), :text, "hi") }
    end

    it "sends to chat members given in UTF-16" do
      chat_id = client.create_chat(name: "Loop", owner: "a".encode("UTF-16LE"), users: ["a", "b".encode("UTF-16LE")])
      expect(client.chat(chat_id.encode("UTF-16LE"))).to have_attributes(owner: "a", users: %w[a b])
    end
  end

  describe "durations" do
    limit = WeCom::Native::MAX_SECONDS.to_i

    it "refuses more than a day, infinity and NaN for every duration setting, naming it and the limit" do
      %i[timeout open_timeout retry_base_delay].each do |name|
        [1e19, 1e20, Float::INFINITY, Float::NAN, -1, 0, "abc", limit + 0.5, "1e20"].each do |value|
          message = /\A#{name} must be a positive number of seconds, got #{Regexp.escape(value.inspect)} \(at most #{limit}, a day\)\z/
          expect { WeCom::Client.new(**credentials, name => value) }.to raise_error(ArgumentError, message)
        end
        WeCom.configure { |c| c.public_send(:"#{name}=", 1e19) }
        expect { WeCom::Client.new(**credentials) }
          .to raise_error(WeCom::ConfigurationError, /\AWeCom #{name} must be a positive number of seconds, got 1.0e\+19 \(at most #{limit}, a day\)/)
        WeCom.reset_configuration!
      end
      [1e19, Float::INFINITY].each do |value|
        expect { WeCom::Client.new(**credentials, idle_timeout: value) }
          .to raise_error(ArgumentError, /\Aidle_timeout must be a positive number of seconds, got .* \(at most #{limit}, a day\)/)
      end
      expect(emulator.client(timeout: limit, open_timeout: "#{limit}", retry_base_delay: 0.01).send_text("hi", to: "u").msgid)
        .to be_a(String)
    end

    it "refuses a rate_limit_pause over a day, naming it and the limit" do
      batch = [{ type: :text, content: "x", to: "u" }]
      [1e19, Float::INFINITY, Float::NAN, 0, -1, limit + 1].each do |pause|
        expect_rejected(/\Arate_limit_pause must be a positive number of seconds, got #{Regexp.escape(pause.inspect)} \(at most #{limit}, a day\)\z/) do
          client.send_batch(batch, rate_limit_pause: pause)
        end
      end
      expect(client.send_batch(batch, rate_limit_pause: limit)).to all(be_a(WeCom::Result))
    end
  end
end
