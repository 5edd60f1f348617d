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

    it "rejects a body holding an object with no JSON form, naming where", gc_stress: true do
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

    it "rejects a recursive Hash", gc_stress: true do
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
end
