# frozen_string_literal: true

require "base64"
require "digest/sha1"
require "openssl"
require "securerandom"
require "active_support"
require "active_support/core_ext/hash/conversions" # Hash.from_xml (ActiveSupport::XmlMini, REXML by default)
require "active_support/security_utils"

module Bench
  module Callbacks
    # WeCom callbacks the way Ruby code does it today: the `wechat` gem's Wechat::Cipher and
    # Wechat::Signature, and the blog posts that copy them. What differs from them, to make it
    # correct (every check WeCom's protocol asks for) rather than slower:
    #
    # - the signature is compared with ActiveSupport::SecurityUtils.secure_compare (the anchors
    #   use `!=`), and the timestamp window and the receive id are checked (the anchors do not);
    # - the IV is the first 16 bytes of the key (the wechat gem leaves it unset, which only works
    #   because the first plaintext block is random and thrown away);
    # - the key is decoded once, not per message; a Cipher is made per message, as the anchors do.
    #
    # Everything else is theirs: Hash.from_xml for the envelope and for the message,
    # Digest::SHA1 over the sorted parts, OpenSSL AES-256-CBC with padding off and a manual
    # 32-byte PKCS#7, Base64, String#unpack for the frame, the reply XML by string interpolation.
    class PlainRuby
      class Error < StandardError; end

      REPLAY_WINDOW = 300
      BLOCK = 32 # WeCom pads to 32-byte blocks, not AES's 16

      def initialize(token:, encoding_aes_key:, receive_id:, replay_window: REPLAY_WINDOW)
        @token = token
        @key = Base64.decode64("#{encoding_aes_key}=")
        raise Error, "EncodingAESKey must decode to 32 bytes" unless @key.bytesize == 32

        @iv = @key[0, 16]
        @receive_id = receive_id
        @replay_window = replay_window
      end

      # A POSTed callback → its fields (a Hash of String keys, nested Hashes and Arrays).
      def parse(params, body)
        signature, timestamp, nonce = params.values_at("msg_signature", "timestamp", "nonce")
        raise Error, "missing parameters" if [signature, timestamp, nonce].any? { |v| v.nil? || v.empty? }
        raise Error, "stale timestamp" unless timestamp.match?(/\A\d+\z/) &&
                                              (Time.now.to_i - timestamp.to_i).abs <= @replay_window

        envelope = Hash.from_xml(body)&.fetch("xml", nil)
        encrypt = envelope["Encrypt"] if envelope.is_a?(Hash)
        raise Error, "no Encrypt" unless encrypt.is_a?(String) && !encrypt.empty?
        raise Error, "bad signature" unless ActiveSupport::SecurityUtils.secure_compare(sign(timestamp, nonce, encrypt), signature)

        message, receive_id = unpack(decrypt(Base64.strict_decode64(encrypt)))
        raise Error, "wrong receive id" unless ActiveSupport::SecurityUtils.secure_compare(receive_id, @receive_id)

        fields = Hash.from_xml(message)&.fetch("xml", nil)
        raise Error, "malformed message" unless fields.is_a?(Hash)

        fields
      rescue ArgumentError, OpenSSL::Cipher::CipherError, REXML::ParseException => e
        raise Error, "undecryptable or malformed: #{e.class}"
      end

      # The encrypted passive text reply to `fields` (what #parse returned), as XML.
      def reply(fields, text:)
        xml = "<xml><ToUserName>#{cdata(fields['FromUserName'])}</ToUserName>" \
              "<FromUserName>#{cdata(fields['ToUserName'])}</FromUserName>" \
              "<CreateTime>#{Time.now.to_i}</CreateTime><MsgType><![CDATA[text]]></MsgType>" \
              "<Content>#{cdata(text)}</Content></xml>"
        encrypt = Base64.strict_encode64(encrypt(pack(xml)))
        timestamp = Time.now.to_i.to_s
        nonce = SecureRandom.random_number(10**10).to_s
        "<xml><Encrypt><![CDATA[#{encrypt}]]></Encrypt>" \
          "<MsgSignature><![CDATA[#{sign(timestamp, nonce, encrypt)}]]></MsgSignature>" \
          "<TimeStamp>#{timestamp}</TimeStamp><Nonce><![CDATA[#{nonce}]]></Nonce></xml>"
      end

      # One callback, as the benchmark's handler does it: parse, then answer with a text.
      def handle(params, body)
        fields = parse(params, body)
        [fields, reply(fields, text: Callbacks.reply_text(fields["FromUserName"]))]
      end

      def fields(fields) = fields

      private

      def sign(*parts)
        Digest::SHA1.hexdigest([@token, *parts].sort.join)
      end

      def cipher(mode)
        cipher = OpenSSL::Cipher.new("AES-256-CBC")
        cipher.public_send(mode)
        cipher.padding = 0
        cipher.key = @key
        cipher.iv = @iv
        cipher
      end

      def decrypt(data)
        raise Error, "ciphertext is not whole blocks" if data.empty? || (data.bytesize % BLOCK).nonzero?

        c = cipher(:decrypt)
        plain = c.update(data) + c.final
        pad = plain.getbyte(-1)
        raise Error, "bad padding" unless pad.between?(1, BLOCK) && plain.end_with?(pad.chr * pad)

        plain.byteslice(0, plain.bytesize - pad)
      end

      def encrypt(plain)
        pad = BLOCK - (plain.bytesize % BLOCK)
        c = cipher(:encrypt)
        c.update(plain + (pad.chr * pad)) + c.final
      end

      # 16 random bytes ‖ 4-byte big-endian length ‖ message ‖ receive id.
      def unpack(plain)
        raise Error, "frame too short" if plain.bytesize < 20

        length = plain.byteslice(16, 4).unpack1("N")
        raise Error, "length past the end" if 20 + length > plain.bytesize

        [plain.byteslice(20, length).force_encoding(Encoding::UTF_8), plain.byteslice((20 + length)..)]
      end

      def pack(xml)
        message = xml.b
        "#{SecureRandom.random_bytes(16)}#{[message.bytesize].pack('N')}#{message}#{@receive_id}".b
      end

      # CDATA, split where the text itself holds "]]>".
      def cdata(text)
        "<![CDATA[#{text.to_s.gsub(']]>', ']]]]><![CDATA[>')}]]>"
      end
    end
  end
end
