# frozen_string_literal: true

require "json"
require "pathname"
require "securerandom"

require_relative "wecom/version"
require_relative "wecom/errors"
# The native extension: compiled into lib/wecom/ by `rake compile`, or into the gem's
# extension directory by `gem install`.
require "wecom/wecom_native"
require_relative "wecom/configuration"
require_relative "wecom/delivery_method"
require_relative "wecom/settings"
require_relative "wecom/token_store"
require_relative "wecom/messages"
require_relative "wecom/media"
require_relative "wecom/recipients"
require_relative "wecom/app_message"
require_relative "wecom/result"
require_relative "wecom/chat"
require_relative "wecom/instrumentation"
require_relative "wecom/client"
require_relative "wecom/webhook"
require_relative "wecom/testing"
require_relative "wecom/deliver_later"

# WeCom (企业微信 / WeChat Work) for Ruby: send app messages from Rails jobs through a Rust core
# that caches access tokens and talks to WeCom with the GVL released.
module WeCom
  autoload :Emulator, "wecom/emulator"
  autoload :SignIn, "wecom/sign_in"
  # Receiving callbacks (the receiver, its Rack endpoint and handler DSL), loaded when first used.
  autoload :Callback, "wecom/callback"
  autoload :CallbackJob, "wecom/callback_job"
  # These need ActiveJob and ActiveRecord, loaded when first used.
  autoload :DeliveryJob, "wecom/delivery_job"
  autoload :Delivery, "wecom/delivery"
end

require_relative "wecom/railtie" if defined?(Rails::Railtie)
