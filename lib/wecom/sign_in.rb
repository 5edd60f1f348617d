# frozen_string_literal: true

require "uri"

module WeCom
  # Sign-in with WeCom for apps without OmniAuth: the URL that sends a member to WeCom.
  #
  #   url = WeCom::SignIn.authorize_url(corp_id: "ww1", agent_id: 1_000_002,
  #                                     redirect_uri: "https://hr.example.com/wecom/callback",
  #                                     state: "a1b2c3", scope: "snsapi_base", flow: :oauth)
  #
  # flow: :oauth is the OAuth2 page used inside WeCom's own browser; :qr the web (QR code) login
  # used outside it. WeCom redirects to redirect_uri?code=CODE&state=STATE.
  module SignIn
    # WeCom's OAuth2 host (pages inside WeCom); oauth_host: overrides it (the emulator).
    OAUTH_HOST = "https://open.weixin.qq.com"
    # WeCom's web login host (QR code, outside WeCom); qr_host: overrides it.
    QR_HOST = "https://login.work.weixin.qq.com"
    # The scopes WeCom knows: the userid only, or the member's consented details too.
    SCOPES = %w[snsapi_base snsapi_privateinfo].freeze
    # :oauth inside WeCom's browser, :qr outside it.
    FLOWS = %i[oauth qr].freeze
    # WeCom: state is letters and digits, at most 128 bytes.
    STATE = /\A[A-Za-z0-9]{1,128}\z/
    # The longest code WeCom issues (bytes).
    MAX_CODE_BYTES = 512

    # Who signed in. A member of the corp has a userid; someone outside it (WeCom answers openid
    # and external_userid) has none. profile: with scope snsapi_privateinfo, the details the member
    # consented to (a WeCom::User: mobile, email, biz_mail, avatar, gender), else nil.
    Identity = Struct.new(:userid, :openid, :external_userid, :profile, keyword_init: true) do
      # True for a member of the corp (a userid), false for someone outside it.
      # @return [Boolean]
      def member?
        !userid.nil?
      end
    end

    module_function

    # The person the code of WeCom's redirect belongs to (auth/getuserinfo, and with a
    # user_ticket auth/getuserdetail), through `client`'s cached token — never a gettoken per
    # sign-in. A bad, reused or expired code (codes are single use and live 5 minutes) raises
    # WeCom::APIError with errcode 40029.
    # @return [WeCom::SignIn::Identity]
    def user_for_code(code, client: Client.new)
      client.user_for_code(code)
    end

    # The authorize URL for `flow`. oauth_host:/qr_host: let the emulator stand in for WeCom.
    # Raises ArgumentError naming the field for a bad redirect_uri, state, scope or flow.
    def authorize_url(corp_id:, agent_id:, redirect_uri:, state:, scope: "snsapi_base", flow: :oauth,
                      oauth_host: OAUTH_HOST, qr_host: QR_HOST)
      redirect_uri = checked_redirect_uri(redirect_uri)
      state = checked_state(state)
      scope = scope.to_s
      raise ArgumentError, "scope must be one of #{SCOPES.join(', ')}, got #{scope.inspect}" unless SCOPES.include?(scope)

      flow = flow.to_s.to_sym
      raise ArgumentError, "flow must be :oauth or :qr, got #{flow.inspect}" unless FLOWS.include?(flow)

      if flow == :oauth
        query = URI.encode_www_form(appid: corp_id, redirect_uri: redirect_uri, response_type: "code",
                                    scope: scope, state: state, agentid: agent_id)
        "#{oauth_host}/connect/oauth2/authorize?#{query}#wechat_redirect"
      else
        query = URI.encode_www_form(login_type: "CorpApp", appid: corp_id, agentid: agent_id,
                                    redirect_uri: redirect_uri, state: state)
        "#{qr_host}/wwlogin/sso/login?#{query}"
      end
    end

    def checked_redirect_uri(value)
      uri = URI.parse(value.to_s)
      unless %w[http https].include?(uri.scheme) && uri.host && !uri.host.empty? && uri.fragment.nil?
        raise ArgumentError, "redirect_uri must be an absolute http(s) URL without a #fragment, got #{value.inspect}"
      end

      value.to_s
    rescue URI::InvalidURIError
      raise ArgumentError, "redirect_uri must be an absolute http(s) URL, got #{value.inspect}"
    end

    def checked_state(value)
      state = value.to_s
      return state if STATE.match?(state)

      raise ArgumentError, "state must be 1 to 128 letters and digits (WeCom's limit), got #{state.bytesize} bytes"
    end
    private_class_method :checked_redirect_uri, :checked_state
  end
end
