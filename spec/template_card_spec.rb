# frozen_string_literal: true

require "spec_helper"
require "base64"
require "net/http"

# Interactive template cards end to end: the app sends one, WeCom (the emulator) answers a
# response_code and remembers the card, a member presses a button (Emulator#click delivers the
# template_card_event over real HTTP to a WeCom::Callback::Endpoint served by Puma), and the app
# updates the card with Client#update_template_card, once per code, within 72 hours.
RSpec.describe "Interactive template cards" do
  let(:users) { %w[zhangsan lisi wangwu] }
  let(:emulator) { start_emulator(**credentials, users: users) }
  let(:card) do
    { card_type: "button_interaction", task_id: "interview-42", main_title: { title: "Interview at 15:00" },
      button_list: [{ text: "Accept", key: "accept" }, { text: "Decline", key: "decline", style: 2 }] }
  end

  def send_card(to: %w[zhangsan lisi], **overrides)
    client.send_template_card(card.merge(overrides), to: to)
  end

  def rejected(pattern)
    expect { yield }.to raise_error(ArgumentError, pattern)
  end

  describe "Client#update_template_card" do
    it "gives the clicked button a new text, for everyone the code stands for" do
      code = send_card.response_code
      result = client.update_template_card(response_code: code, button: "Sent to the panel")
      expect(result).to be_a(WeCom::Result).and(have_attributes(msgid: nil, invalid_users: [], all_delivered?: true))
      update = emulator.card_updates.last
      expect(update).to include(task_id: "interview-42", agent_id: credentials[:agent_id], response_code: code,
                                users: %w[zhangsan lisi], all: false)
      expect(update[:body]).to eq("agentid" => credentials[:agent_id], "response_code" => code,
                                  "button" => { "replace_name" => "Sent to the panel" })
    end

    it "replaces the whole card, checked as send_template_card checks it" do
      code = send_card.response_code
      replacement = { card_type: "text_notice", main_title: { title: "Accepted: 15:00, room 3" } }
      client.update_template_card(response_code: code, card: replacement)
      expect(emulator.card_updates.last[:body]["template_card"])
        .to eq("card_type" => "text_notice", "main_title" => { "title" => "Accepted: 15:00, room 3" })

      rejected(/card\[:card_type\] must be one of/) do
        client.update_template_card(response_code: "rc", card: { card_type: "poster" })
      end
      rejected(/card\[:task_id\] is required for vote_interaction/) do
        client.update_template_card(response_code: "rc", card: { card_type: "vote_interaction" })
      end
      rejected(/card must be a Hash/) { client.update_template_card(response_code: "rc", card: "text_notice") }
    end

    it "updates it for the users, departments and tags named, or for everyone" do
      code = send_card.response_code
      result = client.update_template_card(response_code: code, button: "Closed", to: %w[zhangsan ghost],
                                           party: [2, "3"], tag: "7")
      expect(result.invalid_users).to eq(["ghost"])
      expect(emulator.card_updates.last[:body]).to include("userids" => %w[zhangsan ghost], "partyids" => [2, 3],
                                                           "tagids" => [7])

      code = client.send_template_card(card.merge(task_id: "interview-43"), to: :all).response_code
      client.update_template_card(response_code: code, button: "Closed", all: true)
      expect(emulator.card_updates.last).to include(all: true)
      expect(emulator.card_updates.last[:body]).to include("atall" => 1)
      expect(emulator.card_updates.last[:body].keys).not_to include("userids")

      code = client.send_template_card(card.merge(task_id: "interview-44"), to: "lisi").response_code
      client.update_template_card(response_code: code, button: "Closed", to: :all)
      expect(emulator.card_updates.last[:body]).to include("atall" => 1)
    end

    it "takes a code once: a second update raises WeCom::APIError and changes nothing" do
      code = send_card.response_code
      client.update_template_card(response_code: code, button: "Accepted")
      expect { client.update_template_card(response_code: code, button: "Declined") }
        .to raise_error(WeCom::APIError) { |e|
          expect(e.errcode).to eq(40_058)
          expect(e.errmsg).to start_with("invalid response_code")
        }
      expect { client.update_template_card(response_code: "never-issued", button: "x") }
        .to raise_error(WeCom::APIError, /40058/)
      expect(emulator.card_updates.map { |update| update[:body]["button"] }).to eq([{ "replace_name" => "Accepted" }])
    end

    it "takes a code within 72 hours only" do
      young = send_card.response_code
      old = send_card(task_id: "interview-43").response_code
      emulator.age_response_codes(WeCom::Emulator::RESPONSE_CODE_TTL - 60)
      expect(client.update_template_card(response_code: young, button: "Accepted")).to be_a(WeCom::Result)
      emulator.age_response_codes(60)
      expect { client.update_template_card(response_code: old, button: "Accepted") }
        .to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(40_058) }
    end

    it "refuses bad arguments before anything is sent" do
      rejected(/response_code is required/) { client.update_template_card(response_code: nil, button: "x") }
      rejected(/response_code must not be empty/) { client.update_template_card(response_code: " ", button: "x") }
      rejected(/response_code must be a String, got Integer/) do
        client.update_template_card(response_code: 42, button: "x")
      end
      rejected(/needs button: .* or card:/) { client.update_template_card(response_code: "rc") }
      rejected(/button: or card:, not both/) do
        client.update_template_card(response_code: "rc", button: "x", card: { card_type: "text_notice" })
      end
      rejected(/button must not be empty/) { client.update_template_card(response_code: "rc", button: "") }
      rejected(/button must be a String/) { client.update_template_card(response_code: "rc", button: ["x"]) }
      rejected(/to: has 1001 user ids; one update_template_card takes at most 1000 .*cannot be split/) do
        client.update_template_card(response_code: "rc", button: "x", to: (1..1001).map { |i| "u#{i}" })
      end
      rejected(/party: has 101 ids/) do
        client.update_template_card(response_code: "rc", button: "x", party: (1..101).to_a)
      end
      rejected(/party: must hold numeric ids, got "hr"/) do
        client.update_template_card(response_code: "rc", button: "x", party: "hr")
      end
      rejected(/tag must hold Strings, Symbols or Integers/) do
        client.update_template_card(response_code: "rc", button: "x", tag: 1.5)
      end
      expect(emulator.requests).to eq([])
    end
  end

  describe "WeCom's side: a member presses a button (Emulator#click)" do
    let(:token) { "tok#{SecureRandom.alphanumeric(20)}" }
    let(:aes_key) { Base64.strict_encode64(SecureRandom.random_bytes(32)).delete("=") }
    let(:received) { Queue.new }
    let(:handler) do
      received = self.received
      Class.new(WeCom::Callback::Handler) do
        on :template_card_event, key: "accept" do |ev|
          received << ev
          reply update_button: "Accepted"
        end
        on :template_card_event, key: "submit" do |ev|
          received << ev
          reply update_button: "Voted"
        end
        # "decline" has no rule: an empty answer.
      end
    end

    # The app's callback endpoint, served by Puma in this process on a port of its own.
    def serve(handler)
      require "puma"
      require "puma/server"
      callback = WeCom::Callback.new(token: token, encoding_aes_key: aes_key, receive_id: emulator.corp_id)
      @server = PumaServer.build(WeCom::Callback::Endpoint.new(callback, handler), threads: 4)
      @server.add_tcp_listener("127.0.0.1", 0)
      @server.run
      "http://127.0.0.1:#{@server.connected_ports.first}/wecom/hr"
    end

    after { @server&.stop(true) }

    def click(id = "interview-42", **options)
      emulator.click(id, **{ retries: 0, timeout: 30 }.merge(options))
    end

    it "delivers template_card_event to the app, returns its reply, and the event's code updates the card once" do
      url = serve(handler)
      expect(emulator.register_callback(url, token: token, encoding_aes_key: aes_key)).to eq(url)
      expect(emulator.callback_url).to eq(url)
      sent = send_card

      reply = click(user: "lisi", key: "accept")
      expect(reply).to include("MsgType" => "update_button", "Button" => { "ReplaceName" => "Accepted" },
                               "ToUserName" => "lisi", "FromUserName" => emulator.corp_id)

      event = received.pop(timeout: 5)
      expect([event.event, event.key, event.task_id, event.card_type, event.from_user, event.agent_id])
        .to eq(["template_card_event", "accept", "interview-42", "button_interaction", "lisi", credentials[:agent_id]])
      expect(event.response_code).to be_a(String).and(satisfy { |code| code.size == 43 && code != sent.response_code })
      expect(emulator.callback_attempts.last).to include(url: url, status: 200)
      expect(emulator.callback_attempts.last[:message]["ResponseCode"]).to eq(event.response_code)

      # The app then updates the card with the event's code: once, for the member who clicked.
      client.update_template_card(response_code: event.response_code, button: "Accepted")
      expect(emulator.card_updates.last).to include(users: ["lisi"], response_code: event.response_code)
      expect { client.update_template_card(response_code: event.response_code, button: "Accepted") }
        .to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(40_058) }
      # The send's own code is still unused.
      expect(client.update_template_card(response_code: sent.response_code, button: "Closed")).to be_a(WeCom::Result)

      # A key the handler has no rule for: an empty answer.
      expect(click(sent.msgid, user: "zhangsan", key: "decline")).to be_nil
    end

    it "answers a vote card's questions with the options chosen" do
      emulator.register_callback(serve(handler), token: token, encoding_aes_key: aes_key)
      vote = { card_type: "vote_interaction", task_id: "slot-7", main_title: { title: "Which slot?" },
               checkbox: { question_key: "slot", mode: 1,
                           option_list: [{ id: "am", text: "Morning", is_checked: true }, { id: "pm", text: "Afternoon" }] },
               submit_button: { text: "Vote", key: "submit" } }
      client.send_template_card(vote, to: "wangwu")

      expect(click("slot-7", user: "wangwu", key: "submit")).to include("Button" => { "ReplaceName" => "Voted" })
      expect(received.pop(timeout: 5).selected_items.map(&:to_h)).to eq([{ question_key: "slot", option_ids: ["am"] }])
      click("slot-7", user: "wangwu", key: "submit", selected: { slot: %w[am pm] })
      expect(received.pop(timeout: 5).selected_items.first.option_ids).to eq(%w[am pm])
    end

    it "refuses a click WeCom could not have made, with ArgumentError" do
      emulator.register_callback("http://127.0.0.1:#{free_port}/", token: token, encoding_aes_key: aes_key,
                                                                   verify: false)
      send_card
      rejected(/no interactive template card has msgid or task_id "interview-9"/) do
        click("interview-9", user: "lisi", key: "accept")
      end
      rejected(/"wangwu" did not receive the card "interview-42"/) { click(user: "wangwu", key: "accept") }
      rejected(/has no button "Details" \(its keys: accept, decline\)/) { click(user: "lisi", key: "Details") }
      rejected(/has no question "room"/) { click(user: "lisi", key: "accept", selected: { room: "r1" }) }
      rejected(/user is required/) { click(user: nil, key: "accept") }
      expect(emulator.callback_attempts).to eq([])
    end

    it "needs the app's callback URL, and checks it as WeCom does when it is saved" do
      send_card
      expect { click(user: "lisi", key: "accept") }.to raise_error(WeCom::ConfigurationError, /register_callback/)
      url = serve(handler)
      wrong_key = Base64.strict_encode64(SecureRandom.random_bytes(32)).delete("=")
      expect { emulator.register_callback(url, token: token, encoding_aes_key: wrong_key) }
        .to raise_error(WeCom::Error, /URL check of #{Regexp.escape(url)} failed: it answered 40[03]/)
      expect(emulator.callback_url).to be_nil
      expect { emulator.register_callback(url, token: token, encoding_aes_key: aes_key, agent_id: 42) }
        .to raise_error(ArgumentError, /agent_id 42 is no app of this emulator/)
      expect { emulator.register_callback("ftp://x", token: token, encoding_aes_key: aes_key) }
        .to raise_error(ArgumentError, /url must be an http\(s\) URL/)
    end

    # The emulator's native cards, click and card_updates under GC.stress, without a server (the
    # delivery then fails).
    it "builds cards, events and updates natively and keeps them alive" do
      emulator.register_callback("http://127.0.0.1:#{free_port}/", token: token, encoding_aes_key: aes_key,
                                                                   verify: false)
      code = send_card.response_code
      expect { click(user: "lisi", key: "accept", timeout: 2) }.to raise_error(WeCom::Error, /gave up .* \(refused\)/)
      fields = emulator.callback_attempts.last[:message]
      expect(fields).to include("Event" => "template_card_event", "EventKey" => "accept", "TaskId" => "interview-42",
                                "FromUserName" => "lisi", "AgentID" => credentials[:agent_id].to_s)
      expect(emulator.cards.first).to include(task_id: "interview-42", keys: %w[accept decline],
                                              users: %w[zhangsan lisi])
      client.update_template_card(response_code: code, button: "Accepted")
      expect(emulator.card_updates.first).to include(users: %w[zhangsan lisi], response_code: code)
    end
  end
end
