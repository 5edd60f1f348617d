# frozen_string_literal: true

module WeCom
  class CLI
    # `wecom upload FILE`: a file into WeCom's temporary media store; prints its media_id.
    class Upload < Command
      TYPES = %w[image voice video file].freeze
      SYNOPSIS = "FILE"
      SUMMARY = "upload a file to WeCom's media store and print its media_id"
      USAGE = "FILE [options]"

      def run(args)
        path = existing_file(one_argument(args, "FILE"))
        type = @options[:type] || "file"
        client = build_client
        unless client.respond_to?(:upload_media)
          raise WeCom::Error, "uploading needs WeCom::Client#upload_media, which this version of wecom lacks"
        end

        media_id = client.upload_media(path, type: type.to_sym)
        json? ? emit(media_id: media_id, type: type) : say(media_id)
      end

      private

      def define_options(o)
        o.separator "Uploads FILE to WeCom's temporary media store (kept 3 days, shared by the corp's apps)"
        o.separator "and prints its media_id, for `wecom send image|file MEDIA_ID` and the library."
        o.separator ""
        o.separator "Example:"
        o.separator "  media_id=$(wecom upload chart.png --type image)"
        o.separator ""
        o.separator "Options:"
        o.on("--type TYPE", TYPES, "#{TYPES.join(', ')} (default: file)") { |v| @options[:type] = v }
        client_options(o)
      end
    end
  end
end
