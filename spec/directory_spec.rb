# frozen_string_literal: true

require "open3"
require "redis"

# The directory through the compiled extension, against the emulator's members over real HTTP:
# the finders and their cache (in this process, and through a Redis token store shared by a
# second process), members and departments, and WeCom's errors as their own classes.
RSpec.describe "The directory (userid_by_email, userid_by_mobile, user, departments)" do
  let(:directory) do
    { departments: [{ id: 1, name: "HQ" }, { id: 2, name: "Recruiting", parentid: 1, order: 3 }],
      users: [{ userid: "zhaoliu", name: "赵六", department: [2], email: "zhaoliu@example.com",
                biz_mail: "zhaoliu@corp.example.com", mobile: "+86 13900000000", gender: "2",
                position: "Recruiter" },
              { userid: "qianqi", name: "钱七" }] }
  end
  let(:emu) { start_emulator(**credentials, directory: directory) }
  let(:directory_client) { emu.client(retry_base_delay: 0.01) }

  it "finds a userid by corporate or personal email (any case) and by mobile; nil for nobody" do
    expect(directory_client.userid_by_email("ZhaoLiu@Corp.Example.com")).to eq("zhaoliu")
    expect(directory_client.userid_by_email("zhaoliu@example.com", type: :personal)).to eq("zhaoliu")
    expect(directory_client.userid_by_email("zhaoliu@example.com")).to be_nil # not the corporate mailbox
    expect(directory_client.userid_by_mobile("+86 13900000000")).to eq("zhaoliu")
    expect(directory_client.userid_by_mobile("13700000000")).to be_nil
    body = JSON.parse(emu.requests.find { |r| r[:path] == "/cgi-bin/user/get_userid_by_email" }[:body])
    expect(body).to eq("email" => "ZhaoLiu@Corp.Example.com", "email_type" => 1)
  end

  it "caches answers and misses, so repeating a lookup (from any client of the process) calls WeCom once" do
    2.times { expect(directory_client.userid_by_email("zhaoliu@corp.example.com")).to eq("zhaoliu") }
    3.times { expect(directory_client.userid_by_mobile("13700000000")).to be_nil }
    expect(emu.directory_calls).to eq(2)
    other_client = emu.client
    expect(other_client.userid_by_mobile("13700000000")).to be_nil
    expect(emu.directory_calls).to eq(2)
  end

  it "keeps a repeated miss from counting toward WeCom's one-day block, which distinct misses reach" do
    (WeCom::Emulator::LOOKUP_MISS_LIMIT * 2).times { expect(directory_client.userid_by_email("nobody@corp.example.com")).to be_nil }
    expect(emu.directory_calls).to eq(1)

    (2..WeCom::Emulator::LOOKUP_MISS_LIMIT).each { |i| directory_client.userid_by_email("nobody#{i}@corp.example.com") }
    expect { directory_client.userid_by_email("zhaoliu@corp.example.com") }.to raise_error(WeCom::RateLimitError) do |error|
      expect(error.errcode).to eq(45009)
      expect(error.message).to include("blocked for a day")
    end
  end

  it "caches through a Redis token store: another process asks WeCom nothing, and the store never holds the address" do
    namespace = "wecom-spec-#{SecureRandom.hex(6)}"
    store = WeCom::TokenStore::Redis.new(namespace: namespace)
    shared = emu.client(token_store: store)
    expect(shared.userid_by_email("zhaoliu@corp.example.com")).to eq("zhaoliu")
    expect(shared.userid_by_mobile("13700000000")).to be_nil
    calls = emu.directory_calls

    script = <<~RUBY
      store = WeCom::TokenStore::Redis.new(namespace: #{namespace.dump})
      client = WeCom::Client.new(corp_id: #{emu.corp_id.dump}, secret: #{emu.secret.dump}, agent_id: #{emu.agent_id},
                                 base_url: #{emu.base_url.dump}, token_store: store)
      puts [client.userid_by_email("ZHAOLIU@corp.example.com"), client.userid_by_mobile("13700000000").inspect].join(" ")
    RUBY
    out, status = Open3.capture2e(RbConfig.ruby, "-I", File.expand_path("../lib", __dir__), "-rwecom", "-e", script)
    expect(status).to be_success, out
    expect(out.split).to eq(%w[zhaoliu nil])
    expect(emu.directory_calls).to eq(calls)

    redis = Redis.new(url: "redis://127.0.0.1:6379/0")
    keys = redis.keys("#{namespace}*")
    expect(keys.grep(/directory-/).size).to eq(2)
    values = keys.map { |key| redis.get(key).to_s }
    expect((keys + values).join).not_to match(/zhaoliu@|13700000000/i)
  ensure
    redis&.del(*keys) if keys&.any?
  end

  it "asks again after directory_cache_ttl, and refuses a ttl that is no duration, naming it" do
    quick = emu.client(directory_cache_ttl: 0.2)
    quick.userid_by_mobile("13700000000")
    sleep 0.3
    quick.userid_by_mobile("13700000000")
    expect(emu.directory_calls).to eq(2)
    expect { emu.client(directory_cache_ttl: 0) }.to raise_error(ArgumentError, /directory_cache_ttl must be a positive number of seconds/)
    WeCom.configure { |c| c.directory_cache_ttl = "soon" }
    expect { emu.client }.to raise_error(WeCom::ConfigurationError, /directory_cache_ttl must be a positive number/)
  end

  it "reads a member as a WeCom::User, with nil for what WeCom does not send" do
    zhaoliu = directory_client.user("zhaoliu")
    expect(zhaoliu).to have_attributes(userid: "zhaoliu", name: "赵六", departments: [2], main_department: 2,
                                       position: "Recruiter", email: "zhaoliu@example.com",
                                       biz_mail: "zhaoliu@corp.example.com", mobile: "+86 13900000000", gender: 2)
    expect(directory_client.user("qianqi")).to have_attributes(name: "钱七", email: nil, mobile: nil, position: nil)
  end

  it "raises WeCom::NotFoundError (an APIError) for no such member" do
    expect { directory_client.user("nobody") }.to raise_error(WeCom::NotFoundError) do |error|
      expect(error).to be_a(WeCom::APIError)
      expect([error.errcode, error.retryable?]).to eq([60111, false])
    end
  end

  it "raises WeCom::PermissionError for 48002 and 60011, saying which secret is needed" do
    [48002, 60011].each do |errcode|
      emu.fail_next(errcode, path: "/cgi-bin/user/get")
      expect { directory_client.user("zhaoliu") }.to raise_error(WeCom::PermissionError) do |error|
        expect([error.errcode, error.retryable?]).to eq([errcode, false])
        expect(error.message).to include("contact-sync secret (通讯录同步 Secret", "visible range (可见范围)")
      end
    end
  end

  it "lists departments as WeCom::Department values, all or under one" do
    expect(directory_client.departments).to eq([WeCom::Department.new(id: 1, name: "HQ", parent_id: 0, order: 0),
                                                WeCom::Department.new(id: 2, name: "Recruiting", parent_id: 1, order: 3)])
    expect(directory_client.departments(2).map(&:name)).to eq(["Recruiting"])
  end

  it "lists a department's members, with fetch_child: those of the departments below it too" do
    expect(directory_client.department_users(2)).to eq([WeCom::User.new(userid: "zhaoliu", name: "赵六", departments: [2])])
    expect(directory_client.department_users(1).map(&:userid)).to eq(["qianqi"])
    expect(directory_client.department_users(1, fetch_child: true).map(&:userid)).to eq(%w[zhaoliu qianqi])
    expect { directory_client.department_users(99) }.to raise_error(WeCom::APIError) { |e| expect(e.errcode).to eq(60123) }
  end

  it "refuses bad input before calling WeCom, naming the field" do
    [[-> { directory_client.userid_by_email("not an email") }, /email must hold addresses like name@example.com/],
     [-> { directory_client.userid_by_email("a@b.c", type: :home) }, /type must be :work or :personal, got :home/],
     [-> { directory_client.userid_by_email("#{'a' * 130}@b.c") }, /email is 134 bytes; WeCom allows at most 128/],
     [-> { directory_client.userid_by_mobile("call me") }, /mobile must hold mobile numbers/],
     [-> { directory_client.user("") }, /userid must not be empty/],
     [-> { directory_client.user("a/b") }, /userid must be 1 to 64 letters/],
     [-> { directory_client.departments(0) }, /department id must be a positive Integer, got 0/],
     [-> { directory_client.department_users("2") }, /department id must be a positive Integer, got "2"/]].each do |call, message|
      expect { call.call }.to raise_error(ArgumentError, message)
    end
    expect(emu.requests).to eq([])
  end
end

RSpec.describe "Sends to_email: and to_mobile:" do
  let(:emu) do
    start_emulator(**credentials, directory: {
                     departments: [{ id: 1, name: "HQ" }],
                     users: [{ userid: "zhaoliu", name: "赵六", biz_mail: "zhaoliu@corp.example.com" },
                             { userid: "qianqi", name: "钱七", mobile: "13900000007" }]
                   })
  end
  let(:sender) { emu.client(retry_base_delay: 0.01) }

  it "sends to the members the addresses resolve to, besides to:, and lists the rest as unresolved" do
    result = sender.send_text("Interview at 15:00", to: "lisi", to_email: ["zhaoliu@corp.example.com", "gone@corp.example.com"],
                                                    to_mobile: "13900000007")
    expect(emu.messages.last["touser"].split("|")).to contain_exactly("lisi", "zhaoliu", "qianqi")
    expect(result.msgid).to be_a(String)
    expect(result.unresolved).to eq(["gone@corp.example.com"])
    expect(result.all_delivered?).to be(false)
    expect(result.to_h[:unresolved]).to eq(["gone@corp.example.com"])
  end

  it "sends nothing when nobody resolves, and says so in the Result" do
    result = sender.send_markdown("**hi**", to_mobile: %w[13700000000 13700000001])
    expect([result.msgid, result.unresolved]).to eq([nil, %w[13700000000 13700000001]])
    expect(emu.messages).to eq([])
  end

  it "takes any send (a card, a file message) and refuses a bad address before any call" do
    sender.send_textcard(title: "Loop", description: "Room 3", url: "https://hr.example.com/1", to_email: "zhaoliu@corp.example.com")
    expect(emu.messages.last).to include("msgtype" => "textcard", "touser" => "zhaoliu")
    calls = emu.requests.size
    expect { sender.send_text("hi", to_email: ["zhaoliu@corp.example.com", "nope"]) }
      .to raise_error(ArgumentError, /to_email must hold addresses like name@example.com, got "nope"/)
    expect { sender.send_text("hi", to_mobile: []) }.to raise_error(ArgumentError, /to_mobile must not be empty/)
    expect(emu.requests.size).to eq(calls)
  end

  it "resolves the addresses of send_batch entries; an entry resolving to nobody is not sent, and order is kept" do
    results = sender.send_batch([{ type: :text, content: "one", to_email: "zhaoliu@corp.example.com" },
                                 { type: :text, content: "two", to_mobile: "13700000000" },
                                 { type: :text, content: "three", to: "lisi", to_mobile: ["13900000007", "13700000001"] },
                                 { type: :markdown, content: "four", party: 1 }])
    expect(results.map(&:unresolved)).to eq([[], ["13700000000"], ["13700000001"], []])
    expect(results.map { |r| r.msgid.nil? }).to eq([false, true, false, false])
    expect(emu.messages.map { |m| [m.dig("text", "content") || m.dig("markdown", "content"), m["touser"]] })
      .to contain_exactly(["one", "zhaoliu"], ["three", "lisi|qianqi"], ["four", nil])
    expect { sender.send_batch([{ type: :text, content: "x", to_email: "nope" }]) }
      .to raise_error(ArgumentError, /messages\[0\]: to_email must hold addresses like name@example.com/)
  end

  it "in test mode records the addresses as given and looks nothing up (no credentials needed)" do
    WeCom.delivery_method = :test
    WeCom::Testing.clear!
    result = WeCom::Client.new.send_text("hi", to_email: "zhaoliu@corp.example.com", to_mobile: "13900000007")
    batch = WeCom::Client.new.send_batch([{ type: :text, content: "b", to_email: "x@corp.example.com" }])
    expect([result.msgid, batch.first.msgid]).to all(start_with("test-msgid-"))
    expect(WeCom::Testing.deliveries.map { |d| [d.users, d.emails, d.mobiles] })
      .to eq([[[], ["zhaoliu@corp.example.com"], ["13900000007"]], [[], ["x@corp.example.com"], []]])
    expect(emu.requests).to eq([])
    expect { WeCom::Client.new.send_text("hi", to_email: "nope") }.to raise_error(ArgumentError, /to_email/)
  ensure
    WeCom.delivery_method = :live
    WeCom::Testing.clear!
  end

  it "has an empty unresolved list for a send without addresses" do
    result = sender.send_text("plain", to: "zhangsan")
    expect(result.unresolved).to eq([])
    expect(result.all_delivered?).to be(true)
  end
end

# Client#each_user_id pages through user/list_id with WeCom's cursor, which only the contact-sync
# secret may call; the emulator is started with one.
RSpec.describe "Client#each_user_id (user/list_id)" do
  let(:users) do
    (1..25).map { |n| { userid: format("u%02d", n), name: "User #{n}", department: n.even? ? [1, 2] : [2] } }
  end
  let(:emu) do
    start_emulator(**credentials, contact_sync_secret: "contact-sync-secret",
                                  directory: { departments: [{ id: 1, name: "HQ" }, { id: 2, name: "R&D", parentid: 1 }],
                                               users: users })
  end
  let(:sync_client) { emu.client(secret: emu.contact_sync_secret) }

  def list_id_calls
    emu.requests.count { |r| r[:path] == "/cgi-bin/user/list_id" }
  end

  it "yields every member's userid once, page by page, however many departments they are in" do
    seen = []
    expect(sync_client.each_user_id(page_size: 7) { |userid| seen << userid }).to be(sync_client)
    expect(seen).to eq(users.map { |u| u[:userid] })
    expect(list_id_calls).to eq(6) # 37 entries (one per member and department), 7 a page
  end

  it "pages only as far as it is read, and is an Enumerator without a block" do
    read = []
    sync_client.each_user_id(page_size: 5) do |userid|
      read << userid
      break if read.size == 3
    end
    expect(read).to eq(%w[u01 u02 u03])
    expect(list_id_calls).to eq(1)
    expect(sync_client.each_user_id.to_a.size).to eq(25)
  end

  it "with an app's secret raises WeCom::PermissionError naming the contact-sync secret" do
    expect { emu.client.each_user_id.first }.to raise_error(WeCom::PermissionError) do |error|
      expect(error.errcode).to eq(48002)
      expect(error.message).to include("contact-sync secret", "通讯录同步")
    end
  end

  it "refuses a page_size WeCom would refuse, before any call" do
    [0, 10_001, "100", nil].each do |size|
      expect { sync_client.each_user_id(page_size: size) }.to raise_error(ArgumentError, /page_size must be an Integer from 1 to 10000/)
    end
    expect(emu.requests).to eq([])
  end
end
