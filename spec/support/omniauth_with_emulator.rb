# frozen_string_literal: true

require "logger"
require "stringio"

# The OmniAuth strategy's specs: app :hr on the emulator, 张三 picked on its sign-in pages,
# OmniAuth's log in `log`, and failures redirected (Puma sets RACK_ENV=development, where
# OmniAuth raises them instead); OmniAuth's defaults come back afterwards.
RSpec.shared_context "OmniAuth with the emulator as WeCom" do
  let(:log) { StringIO.new }

  before do
    WeCom.configure do |c|
      c.corp_id = emulator.corp_id
      c.app :hr, secret: emulator.secret, agent_id: emulator.agent_id, base_url: emulator.base_url
    end
    OmniAuth.config.logger = Logger.new(log)
    OmniAuth.config.failure_raise_out_environments = []
    emulator.sign_in_as("zhangsan")
  end

  after do
    OmniAuth.config.logger = Logger.new($stdout)
    OmniAuth.config.failure_raise_out_environments = ["development"]
  end
end
