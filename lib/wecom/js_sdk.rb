# frozen_string_literal: true

# Signing needs neither uri nor erb, which were most of `require "wecom"`'s cost: the Rack
# endpoint and the view helper, autoloaded below, require what they use.
module WeCom
  # Pages inside WeCom: the JS-SDK's tickets and signatures (see README "Pages inside WeCom").
  #
  # The corp's jsapi ticket signs `wx.config` and `ww.register`'s getConfigSignature; the app's
  # agent ticket signs `wx.agentConfig` and getAgentConfigSignature. Both are cached exactly like
  # the access token: in the process, in the configured token store, refreshed once per fleet.
  module JsSdk
    autoload :Endpoint, "wecom/js_sdk/endpoint"
    autoload :Helper, "wecom/js_sdk/helper"

    # WeCom's script for `wx.config` / `wx.agentConfig` pages (the emulator serves a stand-in at
    # Emulator#js_sdk_script_url).
    SCRIPT_URL = "https://res.wx.qq.com/open/js/jweixin-1.2.0.js"
    # The longest page URL signed (bytes), as the Rust core checks it.
    MAX_URL_BYTES = 4096

    # The bare signature: hex SHA-1 of `jsapi_ticket=T&noncestr=N&timestamp=TS&url=U` (the
    # URL without `#...`, nothing encoded). Client#js_sdk_signature does this with the cached
    # ticket, a fresh nonce and the current time.
    # @return [String]
    def self.sign(ticket:, nonce_str:, timestamp:, url:)
      Native.js_sdk_sign(ticket.to_str, nonce_str.to_str, Integer(timestamp), url_string(url))
    end

    # @api private
    def self.url_string(url)
      raise ArgumentError, "url must be a String, got #{url.class}" unless url.is_a?(String)

      url
    end
  end

  class Client
    # The corp's cached jsapi ticket (get_jsapi_ticket), for `wx.config` and `ww.register`.
    # Treat it as a secret.
    # @return [String]
    def jsapi_ticket
      Instrumentation.instrument("jsapi_ticket.wecom", app: app) { native.ticket("jsapi") }
    end

    # The app's cached agent ticket (ticket/get?type=agent_config), for `wx.agentConfig`; kept
    # per corp and app. Treat it as a secret.
    # @return [String]
    def agent_ticket
      Instrumentation.instrument("agent_ticket.wecom", app: app) { native.ticket("agent") }
    end

    # Drops the cached jsapi ticket (here and in the token store) if it is still `ticket`: call
    # it when WeCom's script reports a signature made with it as invalid. A ticket another
    # process has fetched meanwhile is kept.
    # @param ticket [String] the ticket that failed
    # @return [Boolean] whether this process dropped it
    def invalidate_jsapi_ticket(ticket)
      raise ArgumentError, "ticket must be a String, got #{ticket.class}" unless ticket.is_a?(String)

      native.invalidate_ticket("jsapi", ticket)
    end

    # {#invalidate_jsapi_ticket} for the agent ticket.
    # @param ticket [String]
    # @return [Boolean]
    def invalidate_agent_ticket(ticket)
      raise ArgumentError, "ticket must be a String, got #{ticket.class}" unless ticket.is_a?(String)

      native.invalidate_ticket("agent", ticket)
    end

    # Seconds until the cached jsapi ticket expires, or nil when this process has none.
    def jsapi_ticket_expires_in
      native.ticket_expires_in("jsapi")
    end

    # Seconds until the cached agent ticket expires, or nil when this process has none.
    def agent_ticket_expires_in
      native.ticket_expires_in("agent")
    end

    # The `wx.config` (and `ww.register` getConfigSignature) fields for the page at `url`,
    # signed with the jsapi ticket. The URL's `#...` is dropped; nothing is URL-encoded.
    # @param url [String] the page's full URL (http or https, at most 4096 bytes)
    # @return [Hash] `{ appId:, timestamp:, nonceStr:, signature: }`
    # @raise [ArgumentError] for a URL no page could be at
    def js_sdk_signature(url:)
      timestamp, nonce, signature = sign("jsapi", url)
      { appId: corp_id, timestamp: timestamp, nonceStr: nonce, signature: signature }
    end

    # The `wx.agentConfig` (and getAgentConfigSignature) fields for the page at `url`, signed
    # with this app's agent ticket.
    # @param url [String]
    # @return [Hash] `{ corpid:, agentid:, timestamp:, nonceStr:, signature: }`
    def agent_config_signature(url:)
      timestamp, nonce, signature = sign("agent", url)
      { corpid: corp_id, agentid: agent_id, timestamp: timestamp, nonceStr: nonce, signature: signature }
    end

    private

    def sign(kind, url)
      url = JsSdk.url_string(url)
      Instrumentation.instrument("js_sdk_signature.wecom", app: app, ticket: kind) do
        native.js_sdk_signature(kind, url)
      end
    end
  end
end
