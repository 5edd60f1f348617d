# frozen_string_literal: true

# Sign in with WeCom: the app's default WeCom app (config/wecom.yml, WECOM_* variables) and its
# cached token. WeCom sends the interviewer back to APP_URL's callback, never to a URL taken from
# the request. WECOM_SIGN_IN_HOST stands in for WeCom's sign-in pages (the emulator, in the specs).
Rails.application.config.middleware.use OmniAuth::Builder do
  pages = ENV["WECOM_SIGN_IN_HOST"]
  provider :wecom, callback_url: "#{ENV.fetch('APP_URL', 'http://127.0.0.1:3000')}/auth/wecom/callback",
                   **(pages ? { oauth_host: pages, qr_host: pages } : {})
end

# A failed sign-in (a forged or replayed state, a used code, someone outside the corp) shows the
# sign-in page again with the reason, in every environment.
OmniAuth.config.on_failure = ->(env) { SessionsController.action(:failure).call(env) }

# OmniAuth 2 starts sign-in on a POST: check that POST's CSRF token the way the app's controllers
# check theirs (what the omniauth-rails_csrf_protection gem does; Debian 13 has no package of it).
OmniAuth.config.request_validation_phase = lambda do |env|
  controller = ApplicationController.new
  controller.set_request!(ActionDispatch::Request.new(env))
  controller.set_response!(ApplicationController.make_response!(controller.request))
  raise OmniAuth::AuthenticityError, "the sign-in form's CSRF token is missing or wrong" unless
    controller.send(:verified_request?)
end
