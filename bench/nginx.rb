# frozen_string_literal: true

require "fileutils"
require "socket"
require "tmpdir"

module Bench
  # nginx from Debian (nginx-light) with canned WeCom answers: a server no client was written
  # against, as fast as a server gets, to compare the clients and to measure the machine's
  # ceiling with wrk. One process (master_process off), its config, logs and temp files in a
  # tmpdir, on 127.0.0.1. nginx cannot listen on port 0, so it takes a port the kernel just gave
  # out as ephemeral (bound and released here) and the start is retried if that port was taken
  # in between.
  #
  # Every message/send is logged (one short line), so a run can be checked: the clients must
  # have sent exactly the messages they claim.
  class Nginx
    TOKEN = "bench-nginx-token"
    GETTOKEN = %({"errcode":0,"errmsg":"ok","access_token":"#{TOKEN}","expires_in":7200})
    SENT = '{"errcode":0,"errmsg":"ok","invaliduser":"","msgid":"bench-nginx-msgid"}'

    attr_reader :base_url, :pid

    def self.available? = system("command -v nginx >/dev/null 2>&1") || File.executable?("/usr/sbin/nginx")

    def initialize
      @dir = Dir.mktmpdir("wecom-bench-nginx")
      5.times do
        port = TCPServer.open("127.0.0.1", 0) { |server| server.addr[1] }
        File.write(config_path, config(port))
        @pid = Process.spawn(binary, "-p", @dir, "-c", config_path, out: File::NULL, err: File.join(@dir, "stderr.log"))
        if listening?(port)
          @base_url = "http://127.0.0.1:#{port}"
          return
        end
        stop_process
      end
      raise "nginx did not start: #{File.read(File.join(@dir, 'stderr.log')) rescue ''}"
    end

    # message/send requests logged so far.
    def sends
      File.foreach(File.join(@dir, "sends.log")).count
    rescue Errno::ENOENT
      0
    end

    def stop
      stop_process
      FileUtils.rm_rf(@dir)
    end

    private

    def binary = File.executable?("/usr/sbin/nginx") ? "/usr/sbin/nginx" : "nginx"
    def config_path = File.join(@dir, "nginx.conf")

    def listening?(port)
      50.times do
        return false if Process.wait(@pid, Process::WNOHANG) # exited: the port was taken

        TCPSocket.open("127.0.0.1", port).close
        return true
      rescue Errno::ECONNREFUSED
        sleep 0.05
      end
      false
    end

    def stop_process
      return unless @pid

      Process.kill("TERM", @pid)
      Process.wait(@pid)
    rescue Errno::ESRCH, Errno::ECHILD
      nil
    ensure
      @pid = nil
    end

    def config(port)
      <<~NGINX
        daemon off;
        master_process off;
        worker_processes 1;
        pid #{@dir}/nginx.pid;
        error_log #{@dir}/error.log warn;
        events { worker_connections 1024; }
        http {
          access_log off;
          log_format send "$request_length";
          client_body_temp_path #{@dir}/body;
          proxy_temp_path #{@dir}/proxy;
          fastcgi_temp_path #{@dir}/fastcgi;
          uwsgi_temp_path #{@dir}/uwsgi;
          scgi_temp_path #{@dir}/scgi;
          keepalive_requests 10000000;
          keepalive_timeout 120s;
          server {
            listen 127.0.0.1:#{port};
            default_type application/json;
            location = /cgi-bin/gettoken { return 200 '#{GETTOKEN}'; }
            location = /cgi-bin/message/send {
              access_log #{@dir}/sends.log send;
              return 200 '#{SENT}';
            }
            location / { return 404 '{"errcode":404}'; }
          }
        }
      NGINX
    end
  end
end
