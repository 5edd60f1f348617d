# frozen_string_literal: true

require "spec_helper"
require "net/http"
require "open3"
require "tempfile"

# The emulator's members and departments (directory:, --directory FILE) and its user/get, over
# real HTTP with a token the client fetched.
RSpec.describe "WeCom::Emulator directory" do
  def user_get(emulator, token, userid)
    query = URI.encode_www_form({ access_token: token, userid: userid }.compact)
    JSON.parse(Net::HTTP.get(URI("#{emulator.base_url}/cgi-bin/user/get?#{query}")))
  end

  let(:directory) do
    { departments: [{ id: 1, name: "HQ" }, { id: 2, name: "Recruiting", parentid: 1 }],
      users: [{ userid: "zhaoliu", name: "赵六", department: [2], email: "zhaoliu@example.com",
                biz_mail: "zhaoliu@corp.example.com", mobile: "+86 13900000000", avatar: "https://a/b",
                gender: "2", position: "Recruiter" },
              { userid: "qianqi", name: "钱七" }] }
  end

  it "serves a default corp with zhangsan and lisi in department 1" do
    token = client.access_token
    zhangsan = user_get(emulator, token, "zhangsan")
    expect(zhangsan).to include("errcode" => 0, "userid" => "zhangsan", "name" => "张三", "department" => [1],
                                "main_department" => 1, "email" => "zhangsan@example.com")
    expect(user_get(emulator, token, "lisi")).to include("errcode" => 0, "department" => [1])
    expect(emulator.member("zhangsan")).to include(userid: "zhangsan", department: [1])
  end

  it "answers user/get from the given directory, with WeCom's errors" do
    emu = start_emulator(**credentials, directory: directory)
    token = emu.client.access_token
    expect(user_get(emu, token, "zhaoliu")).to include(
      "errcode" => 0, "errmsg" => "ok", "name" => "赵六", "department" => [2], "main_department" => 2,
      "mobile" => "+86 13900000000", "biz_mail" => "zhaoliu@corp.example.com", "gender" => "2",
      "position" => "Recruiter", "status" => 1
    )
    qianqi = user_get(emu, token, "qianqi")
    expect(qianqi).to include("department" => [1])
    expect(qianqi).not_to include("email", "mobile")
    expect(user_get(emu, token, "zhangsan")["errcode"]).to eq(60111)
    expect(user_get(emu, token, nil)["errcode"]).to eq(41009)
    expect(user_get(emu, "not-a-token", "zhaoliu")["errcode"]).to eq(40014)
    expect(emu.member("zhaoliu")).to include(name: "赵六", email: "zhaoliu@example.com")
    expect(emu.member("nobody")).to be_nil
  end

  it "counts directory calls, failed ones too, until clear!" do
    token = client.access_token
    user_get(emulator, token, "zhangsan")
    user_get(emulator, token, "nobody")
    Net::HTTP.get(URI("#{emulator.base_url}/cgi-bin/department/simplelist?access_token=#{token}"))
    client.send_text("hi", to: "zhangsan")
    expect(emulator.directory_calls).to eq(3)
    emulator.clear!
    expect(emulator.directory_calls).to eq(0)
  end

  it "refuses a directory WeCom could not hold, naming what is wrong" do
    expect { start_emulator(directory: { users: [{ userid: "x" }] }) }
      .to raise_error(ArgumentError, /directory: missing field `name`/)
    expect { start_emulator(directory: { users: [{ userid: "x", name: "X", department: [7] }] }) }
      .to raise_error(ArgumentError, /user "x" is in department 7, which is no department/)
    expect { start_emulator(directory: { users: [{ userid: "x", name: "X", nickname: "x" }] }) }
      .to raise_error(ArgumentError, /unknown field `nickname`/)
    expect { start_emulator(directory: [1]) }.to raise_error(ArgumentError, /directory must be a Hash/)
  end

  it "is read from a JSON file by `wecom emulator --directory FILE`" do
    file = Tempfile.new(["directory", ".json"])
    file.write(JSON.generate(directory))
    file.close
    root = File.expand_path("..", __dir__)
    env = { "WECOM_CORP_ID" => credentials[:corp_id], "WECOM_SECRET" => credentials[:secret] }
    stdin, stdout, _stderr, thread = Open3.popen3(env, RbConfig.ruby, File.join(root, "exe/wecom"), "emulator",
                                                  "--directory", file.path, chdir: root)
    base_url = Timeout.timeout(10) { stdout.gets }[%r{http://\S+}]
    cli_emulator = Struct.new(:base_url).new(base_url)
    token = WeCom::Client.new(**credentials, base_url: base_url).access_token
    expect(user_get(cli_emulator, token, "zhaoliu")).to include("errcode" => 0, "name" => "赵六")
    expect(user_get(cli_emulator, token, "zhangsan")["errcode"]).to eq(60111)
  ensure
    if thread&.alive?
      Process.kill("TERM", thread.pid)
      thread.join
    end
    [stdin, stdout].each { |io| io&.close }
    file&.unlink
  end

  it "says which --directory file is missing or not JSON" do
    root = File.expand_path("..", __dir__)
    _, err, status = Open3.capture3(RbConfig.ruby, File.join(root, "exe/wecom"), "emulator", "--directory",
                                    "/nonexistent.json", chdir: root)
    expect(status.exitstatus).not_to eq(0)
    expect(err).to include("no such file: /nonexistent.json (--directory)")
  end
end
