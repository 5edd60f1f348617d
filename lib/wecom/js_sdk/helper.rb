# frozen_string_literal: true

require "erb"
require "json"

module WeCom
  module JsSdk
    # A view helper for the classic `wx.config` page (the Railtie includes it in Rails views):
    #
    #   <%= wecom_js_sdk_config(js_api_list: %w[selectEnterpriseContact openEnterpriseChat]) %>
    #   <script>wx.ready(function () { ... })</script>
    #
    # It writes WeCom's script tag and a `wx.config({...})` signed for the current page (the
    # request's URL; pass url: where a proxy changes it), with the jsapi ticket of `app`.
    module Helper
      # @param js_api_list [Array<String>] the JS APIs the page calls
      # @param app [Symbol, nil] the registered app (nil: the default one)
      # @param url [String, nil] the page URL (default: request.original_url, else request.url)
      # @param script_url [String] WeCom's script (the emulator's stand-in in tests)
      # @param debug [Boolean] wx.config's debug flag
      # @param client [WeCom::Client, nil] a client to sign with instead of WeCom::Client.new(app)
      # @return [String] HTML (html_safe under Rails)
      def wecom_js_sdk_config(js_api_list: [], app: nil, url: nil, script_url: JsSdk::SCRIPT_URL, debug: false,
                              client: nil)
        url ||= request.respond_to?(:original_url) ? request.original_url : request.url
        signed = (client || Client.new(app)).js_sdk_signature(url: url)
        config = { beta: true, debug: debug, jsApiList: Array(js_api_list).map(&:to_s) }.merge(signed)
        html = %(<script src="#{ERB::Util.html_escape(script_url)}"></script>\n) +
               %(<script>wx.config(#{script_json(config)});</script>)
        html.respond_to?(:html_safe) ? html.html_safe : html
      end

      # JSON that cannot end the script tag or break out of it (a URL may hold "</script>").
      SCRIPT_ESCAPES = { "<" => "\\u003c", ">" => "\\u003e", "&" => "\\u0026", "\u2028" => "\\u2028",
                         "\u2029" => "\\u2029" }.freeze
      private_constant :SCRIPT_ESCAPES

      private

      def script_json(value)
        JSON.generate(value).gsub(/[<>&\u2028\u2029]/, SCRIPT_ESCAPES)
      end
    end
  end
end
