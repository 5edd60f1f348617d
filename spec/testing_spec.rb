# frozen_string_literal: true

require "open3"

# The test helpers an app's own suite uses, run the way the app runs them: in a separate
# process (they configure RSpec and Minitest globally).
RSpec.describe "Testing helpers" do
  root = File.expand_path("..", __dir__)
  env = { "RUBYLIB" => File.join(root, "lib") }

  describe "WeCom.delivery_method = :test" do
    around do |example|
      WeCom.delivery_method = :test
      WeCom::Testing.clear!
      example.run
    ensure
      WeCom.delivery_method = :live
      WeCom::Testing.clear!
    end

    it "records sends instead of making them, still checking their input" do
      result = client.send_text("Interview at 15:00", to: %w[zhangsan lisi], duplicate_check: true)
      results = client.send_batch([{ type: :markdown, content: "**x**", party: 2 }])
      expect(result.msgid).to start_with("test-msgid-")
      expect(results.first.msgid).to start_with("test-msgid-")
      expect(emulator.requests).to eq([]) # nothing went out
      text, markdown = WeCom::Testing.deliveries
      expect(text).to have_attributes(type: :text, to: %w[zhangsan lisi], duplicate_check: 1800,
                                      text: "Interview at 15:00", body: { "content" => "Interview at 15:00" })
      expect(markdown).to have_attributes(type: :markdown, parties: ["2"])
      expect { client.send_text("x" * 2049, to: "u") }.to raise_error(ArgumentError, /2049 bytes/)
      expect(WeCom::Testing.deliveries.size).to eq(2)
    end

    it "records a template-card update, still checking its input" do
      client = WeCom::Client.new # no credentials needed
      result = client.update_template_card(response_code: "rc-1", button: "Accepted", to: "zhangsan")
      expect(result).to be_a(WeCom::Result).and(have_attributes(invalid_users: []))
      client.update_template_card(response_code: "rc-2", card: { card_type: "text_notice" }, party: 2, all: true)
      button, card = WeCom::Testing.deliveries
      expect(button).to have_attributes(type: :update_template_card, to: ["zhangsan"], text: "Accepted",
                                        body: { "response_code" => "rc-1", "button" => { "replace_name" => "Accepted" } })
      expect(card).to have_attributes(parties: ["2"], all: true, to: ["@all"])
      expect(card.body).to eq("response_code" => "rc-2", "template_card" => { card_type: "text_notice" })
      expect(WeCom::Testing.matching(type: :update_template_card, content: "Accepted").size).to eq(1)
      expect { client.update_template_card(response_code: "", button: "x") }.to raise_error(ArgumentError, /empty/)
      expect(WeCom::Testing.deliveries.size).to eq(2)
      expect(emulator.requests).to eq([])
    end

    it "needs no credentials until a live send" do
      client = WeCom::Client.new
      expect(client.send_text("hi", to: "u").msgid).to start_with("test-msgid-")
      WeCom.delivery_method = :live
      expect { client.send_text("hi", to: "u") }.to raise_error(WeCom::ConfigurationError, /corp_id/)
    end

    it "rejects an unknown delivery method" do
      expect { WeCom.delivery_method = :smtp }.to raise_error(ArgumentError, /live, test/)
    end
  end

  describe "a delivery method of your own (WeCom::DeliveryMethod.register)" do
    # Records what every kind of send asked for, and answers as the test method would.
    let(:outbox) do
      Class.new(WeCom::DeliveryMethod::Test) do
        attr_reader :asked

        WeCom::DeliveryMethod::OPERATIONS.each do |operation|
          define_method(operation) do |**details|
            (@asked ||= []) << operation
            super(**details)
          end
        end
      end.new
    end

    around do |example|
      WeCom::DeliveryMethod.register(:outbox, outbox)
      WeCom.delivery_method = "outbox"
      example.run
    ensure
      WeCom.delivery_method = :live
      WeCom::Testing.clear!
    end

    it "carries every send, upload, robot message, chat call, recall, card update and deliver_later" do
      client.send_text("hi", to: "u")
      client.send_batch([{ type: :text, content: "x", to: "u" }])
      client.upload_media("bytes-of-a-file", type: :file, filename: "a.txt")
      chat_id = client.create_chat(name: "Loop", owner: "a", users: %w[a b])
      client.update_chat(chat_id, add: %w[c])
      client.send_chat_text(chat_id, "hi")
      client.recall("msgid")
      client.update_template_card(response_code: "rc", button: "Accepted")
      WeCom::Webhook.new(key: "robot-key").send_text("hi")
      WeCom.deliver_later(:text, "later", to: "u")
      expect(outbox.asked).to eq(%i[send_message send_batch upload create_chat update_chat chat_message recall
                                    update_template_card robot_message deliver_later])
      expect(emulator.requests).to eq([])
      expect(WeCom.delivery_method).to eq(:outbox)
    end

    it "must answer every operation" do
      expect { WeCom::DeliveryMethod.register(:half, Object.new) }
        .to raise_error(ArgumentError, /credentials_needed\?, send_message, send_batch/)
    end
  end

  it "gives an app's RSpec suite have_sent_wecom_message, cleared between examples" do
    # Run from the fixture's folder, so that this gem's .rspec and spec_helper stay out of it.
    fixtures = File.join(__dir__, "fixtures", "testing")
    out, = Open3.capture2e(env, "rspec", "--format", "json", "--order", "defined",
                           File.join(fixtures, "app_suite.rb"), chdir: fixtures)
    examples = JSON.parse(out[out.index("{")..])["examples"].to_h { |e| [e["description"], e] }
    statuses = examples.transform_values { |e| e["status"] }
    expect(statuses.select { |name, _| name.start_with?("passes") }.values).to all(eq("passed"))
    expect(statuses.select { |name, _| name.start_with?("fails") }.values).to all(eq("failed"))
    expect(statuses.size).to eq(12)
    expect(examples["fails: sent to someone else"]["exception"]["message"])
      .to include("expected the block to send a WeCom text message to zhangsan, but it sent:\ntext to lisi: \"Interview at 15:00\"")
    expect(examples["fails: bad input still raises"]["exception"]["class"]).to eq("ArgumentError")
    expect(examples["fails: another robot"]["exception"]["message"])
      .to include("to send a WeCom message from robot alerts, but it sent:\nmarkdown by robot ops: \"**3** interviews\"")
  end

  it "gives an app's Minitest suite assert_wecom_sent" do
    fixtures = File.join(__dir__, "fixtures", "testing")
    out, = Open3.capture2e(env, RbConfig.ruby, File.join(fixtures, "app_test.rb"), chdir: fixtures)
    expect(out).to include("6 runs").and include("1 failures")
    expect(out).to include("Expected a WeCom text message to zhangsan, but it sent:\ntext to lisi: \"hi\"")
  end
end
