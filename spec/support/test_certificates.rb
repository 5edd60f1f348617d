# frozen_string_literal: true

require "fileutils"
require "open3"
require "tmpdir"

# Certificates for the TLS specs, made with the openssl CLI (bin/setup installs it) in a
# directory of their own: a test CA, server certificates it signs (for 127.0.0.1 and localhost,
# expired, for another host name), and a second CA that signed none of them.
class TestCertificates
  CONFIG = <<~CNF
    [req]
    distinguished_name = dn
    prompt = no
    x509_extensions = ca
    [dn]
    CN = wecom test
    [ca]
    basicConstraints = critical,CA:TRUE
    keyUsage = critical,keyCertSign,cRLSign
    subjectKeyIdentifier = hash
  CNF

  attr_reader :dir

  # One set for the whole run (openssl takes a moment per certificate), removed at exit.
  def self.shared
    @shared ||= new.tap { |certificates| at_exit { certificates.remove } }
  end

  def self.available?
    system("openssl", "version", out: File::NULL, err: File::NULL)
  end

  def initialize
    @dir = Dir.mktmpdir("wecom-certificates")
    @serial = 0
    File.write(path("openssl.cnf"), CONFIG)
    ca("ca")
    ca("other_ca")
  end

  # The PEM file of the CA `name` ("ca" or "other_ca").
  def ca_file(name = "ca")
    path("#{name}.pem")
  end

  # { cert:, key: } of a server certificate signed by the CA "ca", made on first use:
  # for `names` (IP addresses and DNS names), valid for two days or (expired: true) expired.
  def server(names: %w[127.0.0.1 localhost], expired: false)
    name = "server-#{names.join('-')}#{'-expired' if expired}"
    unless File.exist?(path("#{name}.pem"))
      openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
              "-keyout", path("#{name}.key"), "-out", path("#{name}.csr"), "-subj", "/CN=#{names.first}",
              "-config", path("openssl.cnf"))
      alt = names.map { |n| n.match?(/\A[\d.]+\z/) ? "IP:#{n}" : "DNS:#{n}" }.join(",")
      File.write(path("#{name}.ext"), "basicConstraints = CA:FALSE\nkeyUsage = critical,digitalSignature\n" \
                                      "extendedKeyUsage = serverAuth\nsubjectAltName = #{alt}\n")
      if expired
        expired_certificate(name, names.first, alt)
      else
        openssl("x509", "-req", "-in", path("#{name}.csr"), "-CA", ca_file, "-CAkey", path("ca.key"),
                "-set_serial", (@serial += 1).to_s, "-days", "2", "-extfile", path("#{name}.ext"),
                "-out", path("#{name}.pem"))
      end
    end
    { cert: path("#{name}.pem"), key: path("#{name}.key") }
  end

  # A certificate from the CA that expired a day ago (valid for the day before), made with Ruby's
  # OpenSSL: the openssl command of OpenSSL 3.5 (Debian 13) refuses `-days -1`.
  def expired_certificate(name, common_name, alt)
    require "openssl"
    ca_cert = OpenSSL::X509::Certificate.new(File.read(ca_file))
    cert = OpenSSL::X509::Certificate.new
    cert.version = 2
    cert.serial = (@serial += 1)
    cert.subject = OpenSSL::X509::Name.parse("/CN=#{common_name}")
    cert.issuer = ca_cert.subject
    cert.public_key = OpenSSL::PKey.read(File.read(path("#{name}.key")))
    cert.not_before = Time.now - (2 * 86_400)
    cert.not_after = Time.now - 86_400
    extensions = OpenSSL::X509::ExtensionFactory.new(ca_cert, cert)
    cert.add_extension(extensions.create_extension("basicConstraints", "CA:FALSE"))
    cert.add_extension(extensions.create_extension("keyUsage", "digitalSignature", true))
    cert.add_extension(extensions.create_extension("extendedKeyUsage", "serverAuth"))
    cert.add_extension(extensions.create_extension("subjectAltName", alt))
    cert.sign(OpenSSL::PKey.read(File.read(path("ca.key"))), OpenSSL::Digest.new("SHA256"))
    File.write(path("#{name}.pem"), cert.to_pem)
  end

  def path(name)
    File.join(dir, name)
  end

  def remove
    FileUtils.rm_rf(dir)
  end

  private

  def ca(name)
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
            "-keyout", path("#{name}.key"), "-out", path("#{name}.pem"), "-days", "2",
            "-subj", "/CN=wecom test #{name}", "-config", path("openssl.cnf"))
  end

  def openssl(*args)
    output, status = Open3.capture2e("openssl", *args)
    raise "openssl #{args.first} failed: #{output}" unless status.success?
  end
end
