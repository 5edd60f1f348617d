# frozen_string_literal: true

RSpec.describe WeCom::Client do
  it "sends a text through the emulator" do
    result = client.send_text("Interview at 15:00", to: "zhangsan")
    expect(result.msgid).to be_a(String)
    expect(emulator.messages.last["text"]).to eq("content" => "Interview at 15:00")
  end
end
