# frozen_string_literal: true

# App group chats (appchat) against the emulator, which keeps their state.
RSpec.describe "App group chats" do
  it "creates a chat, changes its members, reads it back and posts to it" do
    chat_id = client.create_chat(name: "Hiring loop 42", owner: "zhangsan", users: %w[zhangsan lisi wangwu])
    expect(chat_id).to match(/\A[0-9a-zA-Z]{1,32}\z/)
    expect(client.update_chat(chat_id, add: %w[zhaoliu], remove: %w[wangwu], name: "Loop 42")).to be(true)

    chat = client.chat(chat_id)
    expect(chat).to have_attributes(chat_id: chat_id, name: "Loop 42", owner: "zhangsan")
    expect(chat.users).to contain_exactly("zhangsan", "lisi", "zhaoliu")
    expect(emulator.chats.map { |c| c[:chat_id] }).to eq([chat_id])

    expect(client.send_chat_text(chat_id, "Debrief at 17:00")).to be(true)
    client.send_chat_markdown(chat_id, "**Decision**: hire", safe: true)
    client.send_chat_textcard(chat_id, title: "Scorecards", description: "3 of 4 in", url: "https://hr.example.com/42")
    client.send_chat_news(chat_id, [{ title: "Candidate", url: "https://hr.example.com/c/42" }])
    expect(emulator.chat_messages.map { |m| [m["chatid"], m["msgtype"], m["safe"]] })
      .to eq([[chat_id, "text", 0], [chat_id, "markdown", 1], [chat_id, "textcard", 0], [chat_id, "news", 0]])
    expect(emulator.chat_messages.first["text"]).to eq("content" => "Debrief at 17:00")
  end

  it "uses a chat id of the caller's, and refuses one taken" do
    expect(client.create_chat(name: "Loop", owner: "a", users: %w[a b], chat_id: "loop42")).to eq("loop42")
    expect { client.create_chat(name: "Again", owner: "a", users: %w[a b], chat_id: "loop42") }
      .to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(86_215) }
  end

  it "sends a file to a chat, uploading it first" do
    chat_id = client.create_chat(name: "Loop", owner: "a", users: %w[a b])
    client.send_chat_file(chat_id, tmp_file("resume.pdf", "%PDF-1.4 #{'x' * 200}"))
    expect(emulator.chat_messages.last).to include("msgtype" => "file",
                                                   "file" => { "media_id" => emulator.uploads.last[:media_id] })
  end

  it "answers 86003 for a chat that does not exist" do
    expect { client.send_chat_text("nochat", "hi") }.to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(86_003) }
    expect { client.chat("nochat") }.to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(86_003) }
  end

  it "checks its input before calling WeCom" do
    expect { client.create_chat(name: "Loop", owner: "a", users: %w[a]) }
      .to raise_error(ArgumentError, /users must hold 2 to 2000 user ids, got 1/)
    expect { client.create_chat(name: "Loop", owner: "c", users: %w[a b]) }.to raise_error(ArgumentError, /owner "c"/)
    expect { client.create_chat(name: "x" * 51, owner: "a", users: %w[a b]) }.to raise_error(ArgumentError, /at most 50/)
    expect { client.create_chat(name: "Loop", owner: "a", users: %w[a b], chat_id: "no spaces") }
      .to raise_error(ArgumentError, /chat_id must be 1 to 32 letters and digits/)
    expect { client.update_chat("loop42") }.to raise_error(ArgumentError, /needs name:, owner:, add: or remove:/)
    expect { client.send_chat("loop42", :miniprogram_notice, title: "x") }.to raise_error(ArgumentError, /type must be one of/)
    expect { client.send_chat_text("loop42", "x" * 2049) }.to raise_error(ArgumentError, /2048 bytes/)
    expect(emulator.requests).to be_empty
  end

  it "records chat messages in test mode" do
    WeCom.delivery_method = :test
    WeCom::Testing.clear!
    offline = WeCom::Client.new
    chat_id = offline.create_chat(name: "Loop", owner: "a", users: %w[a b])
    offline.send_chat_text(chat_id, "Debrief at 17:00")
    expect(WeCom::Testing.matching(chat: chat_id, type: :text, content: "17:00").size).to eq(1)
  ensure
    WeCom.delivery_method = :live
    WeCom::Testing.clear!
  end
end
