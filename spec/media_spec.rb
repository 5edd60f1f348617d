# frozen_string_literal: true

require "digest/md5"
require "objspace"
require "stringio"

# WeCom::Client#upload_media and the send_* methods that take a file, against the emulator's
# multipart /cgi-bin/media/upload.
RSpec.describe "Media uploads" do
  def bytes(size)
    Random.new(size).bytes(size)
  end

  it "uploads a path as multipart with the part named media, the filename and content type" do
    path = tmp_file("resume.pdf", "%PDF-1.4 " + bytes(10_000))
    media_id = client.upload_media(path, type: :file)
    upload = emulator.uploads.last
    expect(upload).to include(media_id: media_id, type: "file", filename: "resume.pdf",
                              content_type: "application/pdf", size: File.size(path),
                              md5: Digest::MD5.file(path).hexdigest)
    request = emulator.requests.last
    expect(request[:path]).to eq("/cgi-bin/media/upload")
    expect(request[:query]).to include("type" => "file")
  end

  it "uploads a File, an IO with filename:, and bytes with filename:" do
    path = tmp_file("photo.png", bytes(2000))
    File.open(path, "rb") { |io| client.upload_media(io, type: :image) }
    client.upload_media(StringIO.new(bytes(3000)), type: :file, filename: "notes.txt")
    client.upload_media(bytes(4000), type: :file, filename: "data.csv")
    expect(emulator.uploads.map { |u| [u[:filename], u[:size], u[:content_type]] })
      .to eq([["photo.png", 2000, "image/png"], ["notes.txt", 3000, "text/plain"], ["data.csv", 4000, "text/csv"]])
  end

  it "streams a 20 MB file from disk without copying it through Ruby strings" do
    path = tmp_file("big.zip", bytes(20 * 1024 * 1024))
    client.access_token
    GC.start
    GC.disable
    strings_before = ObjectSpace.memsize_of_all(String)
    client.upload_media(path, type: :file)
    grown = ObjectSpace.memsize_of_all(String) - strings_before
    GC.enable
    expect(grown).to be < 1024 * 1024
    expect(emulator.uploads.last).to include(size: 20 * 1024 * 1024, md5: Digest::MD5.file(path).hexdigest)
  end

  it "checks WeCom's size and type limits before uploading" do
    expect { client.upload_media(tmp_file("big.png", bytes((10 * 1024 * 1024) + 1)), type: :image) }
      .to raise_error(ArgumentError, /big.png is 10485761 bytes; WeCom takes image files of at most 10 MB/)
    expect { client.upload_media(tmp_file("voice.amr", bytes((2 * 1024 * 1024) + 1)), type: :voice) }
      .to raise_error(ArgumentError, /at most 2 MB/)
    expect { client.upload_media(tmp_file("clip.mp4", bytes((10 * 1024 * 1024) + 1)), type: :video) }
      .to raise_error(ArgumentError, /at most 10 MB/)
    expect { client.upload_media(tmp_file("huge.bin", bytes((20 * 1024 * 1024) + 1)), type: :file) }
      .to raise_error(ArgumentError, /at most 20 MB/)
    expect { client.upload_media(tmp_file("tiny.txt", "12345"), type: :file) }.to raise_error(ArgumentError, /more than 5 bytes/)
    expect { client.upload_media(tmp_file("photo.gif", bytes(100)), type: :image) }
      .to raise_error(ArgumentError, /photo.gif is not a image WeCom takes \(jpg, jpeg, png\)/)
    expect { client.upload_media(tmp_file("voice.mp3", bytes(100)), type: :voice) }.to raise_error(ArgumentError, /amr/)
    expect { client.upload_media(tmp_file("a.txt", bytes(100)), type: :gif) }.to raise_error(ArgumentError, /type must be one of/)
    expect { client.upload_media(File.join(tmp_dir, "missing.pdf"), type: :file) }.to raise_error(ArgumentError, /no file at/)
    expect { client.upload_media(bytes(100), type: :file, filename: "") }.to raise_error(ArgumentError, /filename/)
    expect { client.upload_media("%PDF\0#{'x' * 500}", type: :file) }
      .to raise_error(ArgumentError, /no file at "%PDF.{60,}\.\.\. \(a String is a path; give filename: to upload bytes\)/)
    expect(emulator.requests).to be_empty
  end

  it "reads at most the limit plus one byte of an IO: a 300 MB stream is refused without being read" do
    stream = Class.new do
      attr_reader :handed_out

      def initialize(size)
        @left = size
        @handed_out = 0
      end

      def read(length = nil)
        n = [length || @left, @left].min
        return nil if n.zero? && length

        @left -= n
        @handed_out += n
        "x" * n
      end
    end.new(300 * 1024 * 1024)
    limit = WeCom::Media::LIMITS[:file][:max_bytes]
    expect { client.upload_media(stream, type: :file, filename: "huge.bin") }
      .to raise_error(ArgumentError, /huge.bin is more than #{limit} bytes; WeCom takes file files of at most 20 MB/)
    expect(stream.handed_out).to eq(limit + 1)
    expect(emulator.requests).to be_empty
  end

  it "takes an IO of exactly the limit and refuses one byte more" do
    limit = WeCom::Media::LIMITS[:voice][:max_bytes]
    expect { client.upload_media(StringIO.new("x" * (limit + 1)), type: :voice, filename: "a.amr") }
      .to raise_error(ArgumentError, /a.amr is more than #{limit} bytes; WeCom takes voice files of at most 2 MB/)
    client.upload_media(StringIO.new("x" * limit), type: :voice, filename: "a.amr")
    expect(emulator.uploads.map { |u| u[:size] }).to eq([limit])
  end

  it "sends image, voice, video and file from a path (uploading first) or a media_id" do
    image = client.send_image(tmp_file("chart.png", bytes(1000)), to: "zhangsan")
    expect(image.msgid).to be_a(String)
    client.send_voice(tmp_file("hello.amr", bytes(1000)), to: "zhangsan")
    client.send_video(tmp_file("intro.mp4", bytes(1000)), title: "Intro", description: "2 minutes", to: "zhangsan")
    client.send_file(tmp_file("resume.pdf", bytes(1000)), to: %w[alice bob])
    media_id = client.upload_media(tmp_file("again.pdf", bytes(1000)), type: :file)
    client.send_file(media_id, to: "alice")

    uploads = emulator.uploads.map { |u| [u[:type], u[:media_id]] }
    sent = emulator.messages.map { |m| [m["msgtype"], m[m["msgtype"]]["media_id"]] }
    expect(sent).to eq(uploads.first(4) + [["file", media_id]])
    expect(emulator.messages[2]["video"]).to include("title" => "Intro", "description" => "2 minutes")
    expect(emulator.messages[3]["touser"]).to eq("alice|bob")
  end

  it "records uploads in test mode without sending" do
    WeCom.delivery_method = :test
    WeCom::Testing.clear!
    offline = WeCom::Client.new
    offline.send_file(tmp_file("resume.pdf", bytes(1000)), to: "alice")
    expect(WeCom::Testing.uploads.map { |u| [u.type, u.filename, u.size] }).to eq([[:file, "resume.pdf", 1000]])
    expect(WeCom::Testing.deliveries.last.body).to eq("media_id" => WeCom::Testing.uploads.last.media_id)
  ensure
    WeCom.delivery_method = :live
    WeCom::Testing.clear!
  end
end
