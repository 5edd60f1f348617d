# frozen_string_literal: true

module WeCom
  # Files sent through WeCom (images, voice, video, files): where their bytes come from, and
  # WeCom's limits, checked before anything is uploaded.
  module Media
    # A megabyte, as WeCom counts it (1024 × 1024 bytes).
    MB = 1024 * 1024
    # WeCom refuses files of 5 bytes or fewer.
    MIN_BYTES = 6
    # Per media type: the largest size, and the file extensions WeCom takes (nil: any).
    LIMITS = {
      image: { max_bytes: 10 * MB, extensions: %w[jpg jpeg png] },
      voice: { max_bytes: 2 * MB, extensions: %w[amr] },
      video: { max_bytes: 10 * MB, extensions: %w[mp4] },
      file: { max_bytes: 20 * MB, extensions: nil }
    }.freeze
    # What a group robot may upload (for its file and voice messages).
    ROBOT_LIMITS = LIMITS.slice(:file, :voice).freeze
    # The Content-Type an upload is sent with, by file extension.
    CONTENT_TYPES = {
      "jpg" => "image/jpeg", "jpeg" => "image/jpeg", "png" => "image/png", "gif" => "image/gif",
      "amr" => "audio/amr", "mp4" => "video/mp4", "pdf" => "application/pdf", "txt" => "text/plain",
      "csv" => "text/csv", "zip" => "application/zip", "doc" => "application/msword",
      "docx" => "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
      "xls" => "application/vnd.ms-excel",
      "xlsx" => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    }.freeze

    # One file to upload, checked: either a path the native core streams from disk, or bytes
    # already in memory.
    Upload = Struct.new(:type, :path, :bytes, :filename, :content_type, :size, keyword_init: true) do
      # Uploads it through the delivery method (a test suite records it instead) as one
      # "upload.wecom" event, and returns its media_id. sender: app: or robot:, the uploader's name
      # for the delivery method and the event; the block gives the native client or robot, asked
      # for only when the file really goes out.
      def deliver(**sender)
        WeCom.delivery.upload(upload: self, **sender) do
          Instrumentation.instrument("upload.wecom", **sender, type: type, size: size) do |event|
            yield.upload_media(type.to_s, path, bytes, filename, content_type).tap do |media_id|
              event[:media_id] = media_id if event
            end
          end
        end
      end
    end

    module_function

    # source: a path (String or Pathname), a File, another IO (read into memory; give
    # filename:), or — with filename: — a String of bytes.
    def upload(source, type:, filename: nil, limits: LIMITS)
      type = type.to_sym if String === type
      limit = (Symbol === type && limits[type]) or
        raise ArgumentError, "type must be one of #{limits.keys.map(&:inspect).join(', ')}, " \
                             "got #{Messages::Check.shown(type)}"

      path, bytes, filename = read(source, filename, limit[:max_bytes])
      size = path ? ::File.size(path) : bytes.bytesize
      check(type, limit, filename, size, stream: !path && !(String === source))
      Upload.new(type: type, path: path, bytes: bytes, filename: filename, content_type: content_type(filename),
                 size: size)
    end

    # A String names a file to upload when such a file exists; otherwise it is a media_id.
    def file?(source)
      case source
      when String then !source.empty? && !source.include?("\0") && ::File.file?(source)
      when Pathname, IO then true
      else Messages::Check.responds?(source, :read)
      end
    end

    # The Content-Type of `filename` (application/octet-stream when unknown).
    # @return [String]
    def content_type(filename)
      CONTENT_TYPES.fetch(extension(filename), "application/octet-stream")
    end

    # The extension of `filename`, lower case, without the dot.
    # @return [String]
    def extension(filename)
      ::File.extname(filename.to_s).delete_prefix(".").downcase
    end

    def read(source, filename, max_bytes)
      case source
      when String
        return [nil, source.b, checked_filename(filename)] if filename

        path = source
      when Pathname then path = source.to_s
      when ::File then path = source.path
      else
        unless Messages::Check.responds?(source, :read)
          raise ArgumentError, "a file must be a path, an IO or a String of bytes, got #{Messages::Check.class_of(source)}"
        end

        # One byte past the limit is enough to refuse a larger stream without reading it whole.
        bytes = source.read(max_bytes + 1).to_s.b
        return [nil, bytes, checked_filename(filename || (Messages::Check.responds?(source, :path) && source.path))]
      end
      unless !path.include?("\0") && ::File.file?(path)
        shown = path.length > 80 ? "#{path[0, 80].inspect}..." : path.inspect
        raise ArgumentError, "no file at #{shown} (a String is a path; give filename: to upload bytes)"
      end
      raise ArgumentError, "#{path} is not readable" unless ::File.readable?(path)

      [::File.expand_path(path), nil, checked_filename(filename || ::File.basename(path))]
    end

    def checked_filename(filename)
      filename = Messages::Check.text(filename, "filename")
      raise ArgumentError, "filename: is required for bytes or an IO without a path" if filename.strip.empty?

      ::File.basename(filename)
    end

    # stream: the size is of an IO read only up to one byte past the limit.
    def check(type, limit, filename, size, stream: false)
      if size < MIN_BYTES
        raise ArgumentError, "#{filename} is #{size} bytes; WeCom needs a file of more than 5 bytes"
      end
      if size > limit[:max_bytes]
        raise ArgumentError, "#{filename} is #{stream ? "more than #{limit[:max_bytes]}" : size} bytes; WeCom takes #{type} files of at most " \
                             "#{limit[:max_bytes] / MB} MB (#{limit[:max_bytes]} bytes)"
      end
      extensions = limit[:extensions]
      return if extensions.nil? || extensions.include?(extension(filename))

      raise ArgumentError, "#{filename} is not a #{type} WeCom takes (#{extensions.join(', ')})"
    end
  end
end
