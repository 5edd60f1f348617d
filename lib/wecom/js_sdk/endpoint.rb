# frozen_string_literal: true

require "json"
require "uri"

module WeCom
  module JsSdk
    # A Rack app that signs page URLs for `@wecom/jssdk`'s `ww.register`, which asks for a new
    # signature whenever the page URL changes:
    #
    #   mount WeCom::JsSdk::Endpoint.new(:hr, trusted_domains: ["hr.example.com"]), at: "/wecom/jssdk"
    #
    #   ww.register({ corpId, agentId, jsApiList,
    #     getConfigSignature: (url) => fetch("/wecom/jssdk/config?url=" + encodeURIComponent(url)).then(r => r.json()),
    #     getAgentConfigSignature: (url) => fetch("/wecom/jssdk/agent_config?url=" + encodeURIComponent(url)).then(r => r.json()) })
    #
    # `GET` (or `POST` with a form or JSON body) `/config?url=U` answers client.js_sdk_signature
    # as JSON, `/agent_config?url=U` client.agent_config_signature. Only pages on
    # `trusted_domains` (the app's trusted domains in WeCom's console; "host" for any port,
    # "host:port" for that port only, "*.example.com" for its subdomains) are signed: anything
    # else is a 403, so the endpoint cannot sign for someone else's page. A missing or bad url
    # is a 400, another method a 405, a body over MAX_BODY_BYTES a 413, a WeCom failure while
    # fetching the ticket a 502 (503 when it may be retried); each answers `{"error": "..."}`,
    # never the ticket.
    class Endpoint
      # The largest request body read (a page URL to sign fits in far less).
      MAX_BODY_BYTES = 8192
      # Request paths (below the mount point) and the client method each one signs with.
      ROUTES = { "/config" => :js_sdk_signature, "/agent_config" => :agent_config_signature }.freeze

      attr_reader :trusted_domains

      # @param app [Symbol, nil] the registered app whose tickets sign (nil: the default app)
      # @param trusted_domains [Array<String>] hosts whose pages may be signed
      # @param client [WeCom::Client, nil] a client to use instead of WeCom::Client.new(app)
      def initialize(app = nil, trusted_domains:, client: nil)
        domains = Array(trusted_domains)
        raise ArgumentError, "trusted_domains must list at least one host" if domains.empty?

        @trusted_domains = domains.map { |domain| domain_pattern(domain) }.freeze
        @app = app
        @client = client
        @lock = Mutex.new
      end

      # Answers one request (the Rack interface).
      # @param env [Hash] the Rack environment
      # @return [Array] status, headers, body: `{"appId"|"corpid", "timestamp", "nonceStr", "signature"}` as JSON
      def call(env)
        signer = ROUTES[env["PATH_INFO"].to_s.chomp("/")]
        return answer(404, "not found: #{ROUTES.keys.join(' or ')}") unless signer
        return answer(405, "method must be GET or POST", "allow" => "GET, POST") unless %w[GET POST].include?(env["REQUEST_METHOD"])

        url = page_url(env)
        return url if url.is_a?(Array)
        return answer(403, "url is not on a trusted domain of this app") unless trusted?(url)

        answer(200, nil, {}, client.public_send(signer, url: url))
      rescue ArgumentError => e
        answer(400, e.message)
      rescue WeCom::Error => e
        answer(e.retryable? ? 503 : 502, "WeCom: #{e.message}")
      end

      private

      def client
        @client || @lock.synchronize { @client ||= Client.new(@app) }
      end

      # The url parameter, from the query or (POST) a form or JSON body; or the refusal.
      def page_url(env)
        url = form_value(env["QUERY_STRING"].to_s)
        if url.nil? && env["REQUEST_METHOD"] == "POST"
          body = read_body(env)
          return body if body.is_a?(Array)

          url = body_url(body, env["CONTENT_TYPE"].to_s)
        end
        return answer(400, "url is missing: pass the page URL (location.href) as url") if url.nil? || url.empty?
        return answer(400, "url must be at most #{MAX_URL_BYTES} bytes, got #{url.bytesize}") if url.bytesize > MAX_URL_BYTES

        url
      end

      def read_body(env)
        length = env["CONTENT_LENGTH"].to_i
        return answer(413, "body must be at most #{MAX_BODY_BYTES} bytes, got #{length}") if length > MAX_BODY_BYTES

        input = env["rack.input"]
        body = input ? input.read(MAX_BODY_BYTES + 1).to_s : ""
        return answer(413, "body must be at most #{MAX_BODY_BYTES} bytes") if body.bytesize > MAX_BODY_BYTES

        body
      end

      def body_url(body, content_type)
        if content_type.start_with?("application/json")
          parsed = JSON.parse(body)
          raise ArgumentError, "the JSON body must be an object with url" unless parsed.is_a?(Hash)

          url = parsed["url"]
          raise ArgumentError, "url must be a String" unless url.nil? || url.is_a?(String)

          url
        else
          form_value(body)
        end
      rescue JSON::ParserError
        raise ArgumentError, "the JSON body is not valid JSON"
      end

      # The first url= of a query string or form body (URI raises ArgumentError on a bad one).
      def form_value(form)
        URI.decode_www_form(form).find { |name, _| name == "url" }&.last
      end

      def trusted?(url)
        uri = URI.parse(url)
        return false unless uri.is_a?(URI::HTTP) && uri.host && !uri.userinfo

        host = uri.host.downcase
        @trusted_domains.any? do |pattern, port|
          host_ok = pattern.start_with?("*.") ? host.end_with?(pattern[1..]) : host == pattern
          host_ok && (port.nil? || port == uri.port)
        end
      rescue URI::Error
        false
      end

      def domain_pattern(domain)
        raise ArgumentError, "trusted_domains must be Strings, got #{domain.class}" unless domain.is_a?(String)

        host, port = domain.downcase.split(":", 2)
        unless host.match?(/\A(\*\.)?[a-z0-9.-]+\z/) && (port.nil? || port.match?(/\A\d{1,5}\z/))
          raise ArgumentError, "trusted_domains entries are hosts (\"hr.example.com\", \"hr.example.com:8443\", " \
                               "\"*.example.com\"), got #{domain.inspect}"
        end

        [host, port&.to_i]
      end

      def answer(status, error, headers = {}, body = nil)
        json = JSON.generate(body || { error: error })
        [status, { "content-type" => "application/json; charset=utf-8", "cache-control" => "no-store" }.merge(headers),
         [json]]
      end
    end
  end
end
