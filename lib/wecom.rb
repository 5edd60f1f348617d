# frozen_string_literal: true

# `require "wecom"` loads what a send needs; the rest (robots, media uploads, app group chats,
# token stores, test mode, callbacks, the emulator, the Rails parts) loads when first used —
# see the autoloads below. Not loaded here either: json and uri (the native core speaks JSON).
require "pathname"
require "securerandom"

require_relative "wecom/version"
require_relative "wecom/errors"
# The native extension for the running Ruby: lib/wecom/<major.minor>/ (`rake compile`, or the
# precompiled gem), or the gem's extension directory (`gem install` of the source gem).
require "rbconfig"
require_relative "wecom/native_library"
WeCom::NativeLibrary.load
require_relative "wecom/configuration"
require_relative "wecom/delivery_method"
require_relative "wecom/settings"
require_relative "wecom/messages"
require_relative "wecom/recipients"
require_relative "wecom/app_message"
require_relative "wecom/result"
require_relative "wecom/instrumentation"
require_relative "wecom/client"
require_relative "wecom/js_sdk"
require_relative "wecom/directory"
require_relative "wecom/deliver_later"

# WeCom (企业微信 / WeChat Work) for Ruby: send app messages from Rails jobs through a Rust core
# that caches access tokens and talks to WeCom with the GVL released.
module WeCom
  autoload :TokenStore, "wecom/token_store"
  autoload :Media, "wecom/media"
  autoload :Chat, "wecom/chat"
  autoload :Webhook, "wecom/webhook"
  autoload :Testing, "wecom/testing"
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
