# frozen_string_literal: true

module WeCom
  # Base class of every error wecom raises (bad arguments raise Ruby's ArgumentError instead).
  #
  # Each error answers #retryable?, so a job can
  #   retry_on WeCom::Error, ... if it checks error.retryable?, or more simply
  #   retry_on WeCom::NetworkError, WeCom::RateLimitError
  # Messages never contain the secret or an access token.
  class Error < StandardError
    # WeCom's errcode (APIError and its subclasses), else nil.
    attr_reader :errcode
    # WeCom's errmsg, as WeCom sent it.
    attr_reader :errmsg
    # The API path that failed, such as "/cgi-bin/message/send".
    attr_reader :path
    # The HTTP status, when a gateway answered with something other than 200.
    attr_reader :status
    # Seconds to wait before trying again, when known (45009 blocks for 60 s).
    attr_reader :retry_after
    # For a send split into several calls (over 1000 users) that failed part-way: a
    # WeCom::Result of the calls that were delivered, else nil.
    attr_reader :partial_result

    def initialize(message = nil, errcode: nil, errmsg: nil, path: nil, status: nil,
                   retry_after: nil, retryable: false, delivery_unknown: false, partial_result: nil)
      super(message)
      @partial_result = partial_result.is_a?(Hash) ? Result.new(**partial_result) : partial_result
      @errcode = errcode
      @errmsg = errmsg
      @path = path
      @status = status
      @retry_after = retry_after
      @retryable = retryable
      @delivery_unknown = delivery_unknown
    end

    # Whether the same call can succeed if tried again later.
    def retryable?
      @retryable
    end

    # True when the request may have reached WeCom before the connection failed or timed out,
    # so the message may have been delivered.
    def delivery_unknown?
      @delivery_unknown
    end
  end

  # Settings are missing or invalid (found before any request).
  class ConfigurationError < Error; end

  # WeCom answered with a non-zero errcode. The message shows errcode and errmsg.
  class APIError < Error; end

  # What was asked for does not exist: no member with that userid (46004, 60111). The
  # directory's finders (userid_by_email, userid_by_mobile) answer nil instead.
  class NotFoundError < APIError; end

  # The secret may not do this (48002 no API permission, 60011 no privilege for the member or
  # department, 50002 a member outside the app's visible range): the message says which secret
  # or setting is needed. Not retryable.
  class PermissionError < APIError; end

  # WeCom rejected the credentials or the token: a wrong corp_id or secret (40013, 40001),
  # a token that stayed invalid after one refresh (40014, 42001), another app's token
  # (301002), or a server IP missing from the app's trusted IPs (60020).
  class AuthenticationError < APIError; end

  # Slow down: WeCom's frequency limit (45009, #retry_after is 60) or an HTTP 429.
  class RateLimitError < APIError
    def initialize(message = nil, retryable: true, **attributes)
      super
    end
  end

  # The connection failed or was lost, or a gateway in front of WeCom answered 5xx.
  # Check #delivery_unknown? before sending the same message again.
  class NetworkError < Error
    def initialize(message = nil, retryable: true, **attributes)
      super
    end
  end

  # No answer within the configured timeout.
  class TimeoutError < NetworkError; end

  # The server's TLS certificate was not accepted (an unknown issuer, expired, or for another
  # host); nothing was sent. Not retryable: the same certificate is refused again. A private CA or
  # a TLS-inspecting proxy's CA is trusted with the ca_file setting; checks are never turned off.
  class CertificateError < NetworkError
    def initialize(message = nil, retryable: false, **attributes)
      super
    end
  end

  # WeCom::DeliveryJob found another job delivering the same idempotency key right now; it tries
  # again soon (at the latest when the other job's lease, #retry_after, runs out), and then finds
  # the delivery done, or takes it over.
  class DeliveryInProgress < Error
    def initialize(message = nil, retryable: true, **attributes)
      super
    end
  end

  # WeCom::DeliveryJob will not send again: an earlier attempt may have reached WeCom (its answer
  # was lost), and WeCom's duplicate check no longer covers it, so a new attempt could deliver the
  # message twice. The delivery log records it as failed with delivery_unknown set.
  class DeliveryUnknownError < Error
    def initialize(message = nil, delivery_unknown: true, **attributes)
      super
    end
  end

  # A callback from WeCom (or something posing as WeCom) was refused before any handler ran.
  # #response_status is the HTTP status WeCom::Callback::Endpoint answers with. Messages name the reason,
  # never the callback token or the EncodingAESKey.
  class CallbackError < Error
    # The HTTP status WeCom::Callback::Endpoint answers with.
    # @return [Integer]
    def response_status
      400
    end
  end

  # msg_signature, timestamp, nonce (or, for the URL check, echostr), or the Encrypt element is missing.
  class CallbackParameterMissing < CallbackError; end

  # The msg_signature does not match: not from WeCom, or signed with another callback token.
  class CallbackSignatureInvalid < CallbackError
    # The HTTP status WeCom::Callback::Endpoint answers with.
    # @return [Integer]
    def response_status
      403
    end
  end

  # The timestamp is outside the replay window (default 5 minutes either way): a replay, or a
  # clock far off.
  class CallbackStale < CallbackError
    # The HTTP status WeCom::Callback::Endpoint answers with.
    # @return [Integer]
    def response_status
      403
    end
  end

  # Decrypted fine but meant for another receiver (another corp id): a replay across tenants.
  class CallbackReceiveIdMismatch < CallbackError
    # The HTTP status WeCom::Callback::Endpoint answers with.
    # @return [Integer]
    def response_status
      403
    end
  end

  # Not decryptable or not parseable: bad base64 or padding, a length past the end, XML that is
  # malformed or carries a DTD or entities.
  class CallbackMalformed < CallbackError; end

  # The body is larger than WeCom ever sends (1 MB).
  class CallbackTooLarge < CallbackError
    # The HTTP status WeCom::Callback::Endpoint answers with.
    # @return [Integer]
    def response_status
      413
    end
  end
end
