# frozen_string_literal: true

require "omniauth"
require "openssl"
require "securerandom"
require "wecom"

# OmniAuth (ruby-omniauth), which this file adds a strategy to.
module OmniAuth
  # OmniAuth's strategies; this file adds WeCom's.
  module Strategies
    # Sign in with WeCom (企业微信) through the gem's app registry and its cached token:
    #
    #   # config/initializers/omniauth.rb
    #   Rails.application.config.middleware.use OmniAuth::Builder do
    #     provider :wecom, app: :hr, scope: "snsapi_base", callback_url: "https://hr.example.com/auth/wecom/callback"
    #   end
    #
    # Inside WeCom's browser (wxwork in the User-Agent) it uses the OAuth2 page, elsewhere the web
    # (QR code) login; flow: :oauth or :qr fixes one. The callback exchanges the code with
    # auth/getuserinfo (and, with snsapi_privateinfo, auth/getuserdetail) using the app's cached
    # token — never a gettoken per sign-in.
    #
    # State: an HMAC-signed, expiring (state_ttl), single-use state (claimed in the app's token
    # store, so a replay to any host of a fleet fails), bound to the session's nonce when the
    # session kept it — WeCom's webview sometimes loses cookies, and the signature still holds
    # then. A forged, expired or replayed state fails as :csrf_detected; a reused or expired code
    # as :invalid_code; someone outside the corp as :not_a_member (unless allow_external: true).
    #
    # redirect_uri is callback_url: (or OmniAuth.config.full_host + the callback path), never
    # built from the request. The request phase is a POST as OmniAuth 2 wants; for the
    # workbench's home page, which WeCom opens with a GET, paste entry_path's signed URL.
    class WeCom
      include OmniAuth::Strategy

      # What signs states and entry URLs, derived from the app's secret (never sent anywhere).
      KEY_LABEL = "wecom-omniauth-state"
      # The claims of each app's used states (see #claims).
      CLAIMS = {} # rubocop:disable Style/MutableConstant
      # Guards CLAIMS.
      CLAIMS_LOCK = Mutex.new
      # expires (base 36, 7 characters) + nonce (20) + HMAC (40 hex): 67 letters and digits.
      STATE_FORMAT = /\A(?<expires>[0-9a-z]{7})(?<nonce>[A-Za-z0-9]{20})(?<mac>\h{40})\z/

      # Why a sign-in failed (env["omniauth.error"] for the failures that are not WeCom's errors).
      class Failure < StandardError; end

      option :name, "wecom"
      option :app, nil
      option :scope, "snsapi_base"
      option :flow, nil
      option :callback_url, nil
      option :state_ttl, 600
      option :allow_external, false
      option :oauth_host, ::WeCom::SignIn::OAUTH_HOST
      option :qr_host, ::WeCom::SignIn::QR_HOST

      uid { identity.userid || identity.external_userid || identity.openid }

      info do
        profile = identity.profile
        { name: member&.name, nickname: identity.userid, email: profile&.email || member&.email,
          phone: profile&.mobile || member&.mobile, image: profile&.avatar || member&.avatar }.compact
      end

      extra do
        { member: identity.member?, openid: identity.openid, external_userid: identity.external_userid,
          departments: member&.departments, profile: identity.profile&.to_h, raw_info: member&.to_h }.compact
      end

      # The request path with its entry signature, to paste as the app's home page (a GET that
      # starts signing in): OmniAuth::Strategies::WeCom.entry_path(app: :hr).
      # @return [String]
      def self.entry_path(app: nil, path: "/auth/wecom")
        "#{path}?entry=#{entry_signature(app, path)}"
      end

      # The entry signature of `path` for `app`: an HMAC with the app's signing key.
      # @api private
      def self.entry_signature(app, path)
        OpenSSL::HMAC.hexdigest("SHA256", signing_key(app), "entry\0#{path}")[0, 32]
      end

      # The key states and entry URLs are signed with, derived from the app's WeCom secret.
      # @api private
      def self.signing_key(app)
        configuration = ::WeCom.configuration
        secret = ::WeCom::Settings.new({}, configuration, configuration.app_for(app)).require!(:secret).string(:secret)
        OpenSSL::HMAC.digest("SHA256", secret, KEY_LABEL)
      end

      # A GET of the request path carrying a valid entry signature starts signing in, as a POST
      # would (OmniAuth 2 takes only POST there by default).
      def other_phase
        return call_app! unless on_request_path? && request.get? && valid_entry?

        request_call
      end

      # Sends the browser to WeCom's page (OAuth2 inside WeCom, else the web login) with a fresh
      # signed state, keeping its nonce in the session.
      def request_phase
        nonce = SecureRandom.alphanumeric(20)
        session["omniauth.wecom.nonce"] = nonce
        client = wecom_client
        redirect ::WeCom::SignIn.authorize_url(corp_id: client.corp_id, agent_id: client.agent_id,
                                                redirect_uri: redirect_uri, state: signed_state(nonce),
                                                scope: options.scope, flow: flow, oauth_host: options.oauth_host,
                                                qr_host: options.qr_host)
      end

      # Checks the state, exchanges the code for the member, and hands OmniAuth the auth hash; any
      # refusal is an OmniAuth failure, never a signed-in user.
      def callback_phase
        return fail!(:csrf_detected, Failure.new("state is forged, expired or already used")) unless
          state_accepted?(request.params["state"])

        code = request.params["code"].to_s
        return fail!(:missing_code, Failure.new("WeCom sent no code")) if code.empty?
        return fail!(:invalid_code, Failure.new("the code is not one WeCom gives")) unless plausible_code?(code)

        @identity = wecom_client.user_for_code(code)
        unless identity.member? || options.allow_external
          return fail!(:not_a_member, Failure.new("not a member of the corp"))
        end

        super
      rescue ::WeCom::APIError => e
        fail!(e.errcode == 40_029 ? :invalid_code : :wecom_error, e)
      rescue ::WeCom::Error => e
        fail!(:wecom_error, e)
      end

      # The redirect_uri WeCom sends the member back to: configured, never taken from the request.
      def callback_url
        redirect_uri
      end

      private

      attr_reader :identity

      # What Client#user_for_code would take (UTF-8, not blank, within MAX_CODE_BYTES): anything
      # else in the query is refused without asking WeCom.
      def plausible_code?(code)
        ::WeCom::Messages::Check.string(code, "code", max_bytes: ::WeCom::SignIn::MAX_CODE_BYTES)
        true
      rescue ArgumentError
        false
      end

      # The member's name and departments from user/get, when the app may read them.
      def member
        return @member if defined?(@member)

        @member = identity.userid && begin
          wecom_client.user(identity.userid)
        rescue ::WeCom::PermissionError, ::WeCom::NotFoundError
          nil
        end
      end

      def wecom_client
        @wecom_client ||= ::WeCom::Client.new(options.app)
      end

      def redirect_uri
        return options.callback_url if options.callback_url
        return OmniAuth.config.full_host + script_name + callback_path if OmniAuth.config.full_host.is_a?(String)

        raise ::WeCom::ConfigurationError,
              "provider :wecom needs callback_url: (the absolute URL of #{callback_path} on a domain WeCom trusts " \
              "for the app) or OmniAuth.config.full_host: the redirect URI is never taken from the request"
      end

      def flow
        return options.flow.to_sym if options.flow

        request.user_agent.to_s.match?(/wxwork/i) ? :oauth : :qr
      end

      def key
        @key ||= self.class.signing_key(options.app)
      end

      def signed_state(nonce)
        body = (Time.now.to_i + Integer(options.state_ttl)).to_s(36).rjust(7, "0") + nonce
        body + OpenSSL::HMAC.hexdigest("SHA256", key, body)[0, 40]
      end

      # Signed with our key, unexpired, the session's nonce when the session kept one, and not
      # used before (anywhere the app's token store reaches).
      def state_accepted?(state)
        state = state.to_s
        return false unless state.ascii_only? # a regexp raises on bytes that are not UTF-8

        parts = STATE_FORMAT.match(state) or return false
        body = parts[:expires] + parts[:nonce]
        expected = OpenSSL::HMAC.hexdigest("SHA256", key, body)[0, 40]
        return false unless Rack::Utils.secure_compare(expected, parts[:mac])
        return false if parts[:expires].to_i(36) < Time.now.to_i

        kept = session.delete("omniauth.wecom.nonce")
        return false if kept && !Rack::Utils.secure_compare(kept, parts[:nonce])

        !claims.claim("omniauth-state-#{parts[:nonce]}", Integer(options.state_ttl)).nil?
      end

      # Where used states are claimed, one per app and process: OmniAuth::Builder makes new
      # strategy objects for every request, and a store of the memory kind must outlive them to
      # see a replay (a Redis or file store is shared by the fleet anyway).
      def claims
        configuration = ::WeCom.configuration
        settings = ::WeCom::Settings.new({}, configuration, configuration.app_for(options.app))
        store = settings.token_store
        # A reconfigured store gets its own claims.
        key = [options.app, store.is_a?(Array) ? store : store.object_id]
        CLAIMS_LOCK.synchronize do
          CLAIMS[key] ||= ::WeCom::Callback::Claims.new(store, timeout: settings.seconds(:timeout))
        end
      end

      def valid_entry?
        given = request.params["entry"].to_s
        expected = self.class.entry_signature(options.app, request_path)
        given.bytesize == expected.bytesize && Rack::Utils.secure_compare(expected, given)
      end
    end
  end
end

OmniAuth.config.add_camelization("wecom", "WeCom")
