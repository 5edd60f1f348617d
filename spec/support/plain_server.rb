# frozen_string_literal: true

require "socket"
require "json"

# A small HTTP/1.1 server in plain Ruby, independent of the emulator, for what the emulator does
# not do on purpose: close idle keep-alive connections, answer HTML or odd JSON, echo the URL.
#
#   server = PlainServer.start(idle_close: 0.5) { |request| [200, { "errcode" => 0, "msgid" => "m" }] }
#   server.base_url; server.requests; server.stop
#
# The block gets a Hash (method, path, query, body) and returns [status, body]: a Hash or Array
# is sent as JSON, a String as it is. Without a block, gettoken answers a token and every other
# path `{"errcode":0,"errmsg":"ok","msgid":"..."}`.
class PlainServer
  Request = Struct.new(:method, :path, :query, :body, :connection, keyword_init: true)

  attr_reader :requests, :connections

  def self.start(**options, &handler)
    new(**options, &handler).tap(&:start)
  end

  # idle_close: seconds after which an idle keep-alive connection is closed without a word, as
  # nginx's keepalive_timeout and load balancers do.
  def initialize(idle_close: nil, content_type: "application/json", &handler)
    @idle_close = idle_close
    @content_type = content_type
    @handler = handler || method(:wecom_answer)
    @requests = []
    @connections = 0
    @lock = Mutex.new
    @threads = []
  end

  def start
    @server = TCPServer.new("127.0.0.1", 0)
    @acceptor = Thread.new { accept_loop }
    self
  end

  def base_url
    "http://127.0.0.1:#{@server.addr[1]}"
  end

  def requests_to(path)
    @lock.synchronize { @requests.count { |r| r.path == path } }
  end

  def stop
    @acceptor&.kill
    @threads.each(&:kill)
    @server&.close
  rescue IOError
    nil
  end

  private

  def wecom_answer(request)
    if request.path.end_with?("/gettoken")
      [200, { "errcode" => 0, "errmsg" => "ok", "access_token" => "token-#{rand(1 << 30)}", "expires_in" => 7200 }]
    else
      [200, { "errcode" => 0, "errmsg" => "ok", "msgid" => "msg-#{rand(1 << 30)}" }]
    end
  end

  def accept_loop
    loop do
      socket = @server.accept
      id = @lock.synchronize { @connections += 1 }
      @threads << Thread.new { serve(socket, id) }
    end
  rescue IOError, Errno::EBADF
    nil
  end

  def serve(socket, id)
    loop do
      break if @idle_close && !socket.wait_readable(@idle_close)

      request = read_request(socket, id) or break
      @lock.synchronize { @requests << request }
      status, body = @handler.call(request)
      body = JSON.generate(body) if body.is_a?(Hash) || body.is_a?(Array)
      socket.write("HTTP/1.1 #{status} X\r\nContent-Type: #{@content_type}\r\nContent-Length: #{body.bytesize}\r\n\r\n#{body}")
    end
  rescue IOError, SystemCallError
    nil
  ensure
    socket.close unless socket.closed?
  end

  def read_request(socket, id)
    line = socket.gets("\r\n") or return nil
    method, target = line.split(" ")
    length = 0
    while (header = socket.gets("\r\n")) && header != "\r\n"
      name, value = header.split(":", 2)
      length = value.to_i if name.casecmp?("content-length")
    end
    path, query = target.split("?", 2)
    Request.new(method: method, path: path, query: query.to_s, body: length.positive? ? socket.read(length) : "",
                connection: id)
  end
end
