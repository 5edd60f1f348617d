# frozen_string_literal: true

require_relative "boot"
require "rails"
require "active_record/railtie"
require "active_job/railtie"
require "action_controller/railtie"
require "sidekiq"
require "wecom"
require "omniauth/strategies/wecom"

# A small interview platform, as a team using wecom would build it: it reminds interviewers
# through WeCom from Sidekiq, keeps the delivery log in PostgreSQL, and signs interviewers in
# with WeCom (OmniAuth). spec/rails_app_spec.rb copies it to a temporary folder, runs
# `rails generate wecom:install --delivery-log` and `rails db:migrate` in it, starts Sidekiq, and
# drives it; spec/rails_app_sign_in_spec.rb signs in through it in a real browser.
module InterviewPlatform
  class Application < Rails::Application
    config.load_defaults 6.1
    config.eager_load = false
    config.active_job.queue_adapter = :sidekiq
    config.logger = ActiveSupport::Logger.new(File.join(root, "log", "#{Rails.env}.log"))
    config.log_level = :debug
  end
end
