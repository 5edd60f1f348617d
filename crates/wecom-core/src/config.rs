//! Settings of one WeCom app, and how to reach WeCom, checked once when a client is built.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::store::TokenStore;

pub const DEFAULT_BASE_URL: &str = "https://qyapi.weixin.qq.com";
/// The longest duration any setting may have (timeouts, delays, pauses): a day. Longer values are
/// mistakes, and far longer ones would overflow clock arithmetic.
pub const MAX_DURATION: Duration = Duration::from_secs(86_400);

#[derive(Clone)]
pub struct Config {
    pub corp_id: String,
    pub secret: String,
    pub agent_id: i64,
    pub connection: Connection,
    /// Where the access token is shared with other processes; None keeps it in this one.
    pub token_store: Option<Arc<dyn TokenStore>>,
}

/// How to reach WeCom: what the app client and the group robots share.
#[derive(Clone, Debug, PartialEq)]
pub struct Connection {
    /// Scheme and host (and optional path prefix) without a trailing slash.
    pub base_url: String,
    /// Limit for one whole request (connect, send, answer).
    pub timeout: Duration,
    /// Limit for opening a connection.
    pub open_timeout: Duration,
    /// A pooled keep-alive connection idle longer than this is closed instead of reused.
    pub idle_timeout: Duration,
    /// Extra attempts for failures a retry can fix (-1, 45033, 5xx, 429, connection refused).
    pub max_retries: u32,
    /// First backoff delay; each further retry doubles it (with jitter).
    pub retry_base_delay: Duration,
    /// The forward proxy requests go through.
    pub proxy: Proxy,
    /// Certificates trusted besides Mozilla's roots (a TLS-inspecting proxy's CA, a private CA).
    pub ca_file: Option<CaFile>,
}

/// The CA certificates of a PEM file, added to Mozilla's roots: certificates are always checked,
/// against more roots. Read and checked once, when the client is built.
#[derive(Clone)]
pub struct CaFile {
    path: String,
    certificates: Arc<Vec<rustls_pki_types::CertificateDer<'static>>>,
    /// SHA-256 of the certificates: the threads' reqwest clients are keyed by it, so clients with
    /// other CAs never share one.
    digest: [u8; 32],
}

impl CaFile {
    /// Reads and checks the PEM file at `path`. The error is what is wrong, starting with the
    /// path, for a message that names the setting (`ca_file <error>`).
    pub fn load(path: &str) -> std::result::Result<CaFile, String> {
        let pem = std::fs::read(path).map_err(|e| format!("{path:?} cannot be read: {e}"))?;
        CaFile::from_pem(path, &pem)
    }

    /// The certificates of `pem` (read from `path`), each checked as the roots store will.
    pub fn from_pem(path: &str, pem: &[u8]) -> std::result::Result<CaFile, String> {
        use rustls_pki_types::pem::{PemObject, SectionKind};
        let mut certificates = Vec::new();
        let mut digest = Sha256::new();
        for section in <(SectionKind, Vec<u8>) as PemObject>::pem_slice_iter(pem) {
            let (kind, der) =
                section.map_err(|e| format!("{path:?} is not a readable PEM file: {e}"))?;
            if kind != SectionKind::Certificate {
                continue;
            }
            let certificate = rustls_pki_types::CertificateDer::from(der);
            rustls::RootCertStore::empty()
                .add(certificate.clone())
                .map_err(|e| {
                    format!(
                        "{path:?}: certificate {} is not a usable CA certificate: {e}",
                        certificates.len() + 1
                    )
                })?;
            digest.update((certificate.len() as u64).to_be_bytes());
            digest.update(&certificate);
            certificates.push(certificate);
        }
        if certificates.is_empty() {
            return Err(format!(
                "{path:?} holds no certificate (a PEM file with -----BEGIN CERTIFICATE----- blocks)"
            ));
        }
        Ok(CaFile {
            path: path.to_owned(),
            certificates: Arc::new(certificates),
            digest: digest.finalize().into(),
        })
    }

    pub fn path(&self) -> &str {
        &self.path
    }

    /// The certificates in DER, in the file's order.
    pub fn certificates(&self) -> &[rustls_pki_types::CertificateDer<'static>] {
        &self.certificates
    }
}

/// Two files with the same certificates are the same roots.
impl PartialEq for CaFile {
    fn eq(&self, other: &Self) -> bool {
        self.digest == other.digest
    }
}

impl Eq for CaFile {}

impl fmt::Debug for CaFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaFile")
            .field("path", &self.path)
            .field("certificates", &self.certificates.len())
            .finish()
    }
}

/// The forward proxy of a [`Connection`].
#[derive(Clone, PartialEq, Eq, Default)]
pub enum Proxy {
    /// What `HTTPS_PROXY`, `HTTP_PROXY`, `ALL_PROXY` and `NO_PROXY` say (lower case too) when
    /// the client is built.
    #[default]
    Env,
    /// None, whatever the environment says.
    Off,
    /// This one: `http://[user:password@]host:port`.
    Url(String),
}

/// Never prints the proxy's password.
impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Proxy::Env => f.write_str("Env"),
            Proxy::Off => f.write_str("Off"),
            Proxy::Url(url) => f.debug_tuple("Url").field(&redact_userinfo(url)).finish(),
        }
    }
}

/// `url` with the password of its `user:password@` replaced by `[REDACTED]`.
pub fn redact_userinfo(url: &str) -> String {
    let after_scheme = url.find("://").map_or(0, |at| at + 3);
    let rest = &url[after_scheme..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let userinfo = &rest[..at];
            let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
            format!("{}{user}:[REDACTED]{}", &url[..after_scheme], &rest[at..])
        }
        None => url.to_owned(),
    }
}

/// Checks a proxy URL; the error never shows the password.
pub fn check_proxy_url(name: &str, url: &str) -> Result<url::Url> {
    let invalid = || {
        Error::Configuration(format!(
            "{name} must be an http:// URL such as http://proxy.example.com:3128 (with \
             user:password@ if the proxy needs them), got {:?}",
            redact_userinfo(url)
        ))
    };
    let parsed = url::Url::parse(url).map_err(|_| invalid())?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host().is_none()
        || !matches!(parsed.path(), "" | "/")
        || parsed.query().is_some()
        || parsed.fragment().is_some()
    {
        return Err(invalid());
    }
    Ok(parsed)
}

impl Default for Connection {
    fn default() -> Self {
        Connection {
            base_url: DEFAULT_BASE_URL.to_string(),
            timeout: Duration::from_secs(10),
            open_timeout: Duration::from_secs(5),
            idle_timeout: crate::transport::DEFAULT_IDLE_TIMEOUT,
            max_retries: 3,
            retry_base_delay: Duration::from_millis(200),
            proxy: Proxy::Env,
            ca_file: None,
        }
    }
}

impl Connection {
    /// Checks the settings and normalises `base_url`.
    pub fn validate(mut self) -> Result<Self> {
        let trimmed = self.base_url.trim_end_matches('/');
        match url::Url::parse(trimmed) {
            Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {}
            _ => {
                return Err(Error::Configuration(format!(
                    "base_url must be an http(s) URL such as {DEFAULT_BASE_URL}, got {trimmed:?}"
                )))
            }
        }
        self.base_url = trimmed.to_string();
        for (name, value) in [
            ("timeout", self.timeout),
            ("open_timeout", self.open_timeout),
        ] {
            if value.is_zero() {
                return Err(Error::Configuration(format!(
                    "{name} must be greater than 0 seconds"
                )));
            }
        }
        for (name, value) in [
            ("timeout", self.timeout),
            ("open_timeout", self.open_timeout),
            ("idle_timeout", self.idle_timeout),
            ("retry_base_delay", self.retry_base_delay),
        ] {
            check_duration(name, value)?;
        }
        if let Proxy::Url(url) = &self.proxy {
            check_proxy_url("proxy", url)?;
        }
        Ok(self)
    }
}

impl Config {
    pub fn new(corp_id: impl Into<String>, secret: impl Into<String>, agent_id: i64) -> Self {
        Config {
            corp_id: corp_id.into(),
            secret: secret.into(),
            agent_id,
            connection: Connection::default(),
            token_store: None,
        }
    }

    /// Checks the settings and normalises `base_url`. Never echoes the secret.
    pub fn validate(mut self) -> Result<Self> {
        if self.corp_id.trim().is_empty() {
            return Err(Error::Configuration(
                "corp_id is missing (set WeCom.configure { |c| c.corp_id = ... } or WECOM_CORP_ID)"
                    .into(),
            ));
        }
        if self.secret.is_empty() {
            return Err(Error::Configuration(
                "secret is missing (set WeCom.configure { |c| c.secret = ... } or WECOM_SECRET)"
                    .into(),
            ));
        }
        if self.agent_id <= 0 {
            return Err(Error::Configuration(format!(
                "agent_id must be a positive integer, got {}",
                self.agent_id
            )));
        }
        self.connection = self.connection.validate()?;
        Ok(self)
    }

    /// Identifies the credentials without revealing the secret: tokens are cached under it.
    pub fn credentials_key(&self) -> CredentialsKey {
        CredentialsKey::new(&self.corp_id, &self.secret)
    }
}

/// Refuses a duration over [`MAX_DURATION`].
pub fn check_duration(name: &str, value: Duration) -> Result<()> {
    if value > MAX_DURATION {
        return Err(Error::Configuration(format!(
            "{name} must be at most {} seconds (a day), got {}",
            MAX_DURATION.as_secs(),
            value.as_secs_f64()
        )));
    }
    Ok(())
}

/// Never prints the secret.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("corp_id", &self.corp_id)
            .field("secret", &"[REDACTED]")
            .field("agent_id", &self.agent_id)
            .field("connection", &self.connection)
            .field("token_store", &self.token_store)
            .finish()
    }
}

/// Corp id plus a SHA-256 digest of the secret: the identity of one app's token.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct CredentialsKey {
    pub corp_id: String,
    pub secret_digest: [u8; 32],
}

impl CredentialsKey {
    pub fn new(corp_id: &str, secret: &str) -> Self {
        CredentialsKey {
            corp_id: corp_id.to_string(),
            secret_digest: Sha256::digest(secret.as_bytes()).into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_missing_setting() {
        let err = Config::new("", "s", 1).validate().unwrap_err();
        assert!(err.to_string().contains("corp_id"));
        let err = Config::new("c", "", 1).validate().unwrap_err();
        assert!(err.to_string().contains("secret"));
        let err = Config::new("c", "s", 0).validate().unwrap_err();
        assert!(err.to_string().contains("agent_id"));
    }

    #[test]
    fn validate_rejects_a_base_url_that_is_not_http() {
        let mut config = Config::new("c", "s", 1);
        config.connection.base_url = "ftp://example.com".into();
        assert!(config.validate().is_err());
    }

    #[test]
    fn validate_strips_the_trailing_slash() {
        let mut config = Config::new("c", "s", 1);
        config.connection.base_url = "http://127.0.0.1:9/".into();
        assert_eq!(
            config.validate().unwrap().connection.base_url,
            "http://127.0.0.1:9"
        );
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let config = Config::new("corp", "very-secret-value", 1);
        assert!(!format!("{config:?}").contains("very-secret-value"));
    }

    #[test]
    fn the_proxy_password_is_never_shown() {
        assert_eq!(
            redact_userinfo("http://user:pa:ss@proxy:3128"),
            "http://user:[REDACTED]@proxy:3128"
        );
        assert_eq!(redact_userinfo("http://proxy:3128"), "http://proxy:3128");
        assert_eq!(
            redact_userinfo("http://user:p@ss@proxy:3128/"),
            "http://user:[REDACTED]@proxy:3128/"
        );
        let mut connection = Connection {
            proxy: Proxy::Url("http://user:hunter2@proxy:3128".into()),
            ..Connection::default()
        };
        assert!(!format!("{connection:?}").contains("hunter2"));
        assert!(connection.clone().validate().is_ok());
        connection.proxy = Proxy::Url("socks5://user:hunter2@proxy:1080".into());
        let err = connection.clone().validate().unwrap_err().to_string();
        assert!(err.contains("proxy must be an http:// URL"), "{err}");
        assert!(!err.contains("hunter2"), "{err}");
        connection.proxy = Proxy::Url("http://user:hunter2@proxy:3128/path".into());
        assert!(connection.validate().is_err());
    }

    #[test]
    fn ca_file_must_be_a_readable_pem_file_of_certificates() {
        let dir = std::env::temp_dir().join(format!("wecom-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = |name: &str| dir.join(name).to_string_lossy().into_owned();

        let missing = CaFile::load(&path("missing.pem")).unwrap_err();
        assert!(
            missing.starts_with(&format!("{:?} cannot be read", path("missing.pem"))),
            "{missing}"
        );

        let key = rcgen::KeyPair::generate().unwrap();
        std::fs::write(path("key.pem"), key.serialize_pem()).unwrap();
        let no_certificate = CaFile::load(&path("key.pem")).unwrap_err();
        assert!(
            no_certificate.contains("holds no certificate"),
            "{no_certificate}"
        );
        std::fs::write(path("empty.pem"), "").unwrap();
        assert!(CaFile::load(&path("empty.pem"))
            .unwrap_err()
            .contains("holds no certificate"));

        let broken = "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n";
        std::fs::write(path("broken.pem"), broken).unwrap();
        let broken = CaFile::load(&path("broken.pem")).unwrap_err();
        assert!(broken.contains("is not a readable PEM file"), "{broken}");

        let junk = "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        std::fs::write(path("junk.pem"), junk).unwrap();
        let junk = CaFile::load(&path("junk.pem")).unwrap_err();
        assert!(
            junk.contains("certificate 1 is not a usable CA certificate"),
            "{junk}"
        );

        // A bundle (with other blocks, such as a key, skipped) keeps every certificate.
        let one = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        let one = one.self_signed(&key).unwrap();
        let two = rcgen::CertificateParams::new(vec!["x.example".to_string()]).unwrap();
        let two = two.self_signed(&key).unwrap();
        let bundle = format!("{}{}{}", one.pem(), key.serialize_pem(), two.pem());
        std::fs::write(path("bundle.pem"), &bundle).unwrap();
        let ca = CaFile::load(&path("bundle.pem")).unwrap();
        assert_eq!(ca.certificates().len(), 2);
        assert_eq!(ca.path(), path("bundle.pem"));
        assert_eq!(ca, CaFile::from_pem("other", bundle.as_bytes()).unwrap());
        assert_ne!(ca, CaFile::from_pem("one", one.pem().as_bytes()).unwrap());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn credentials_key_separates_apps_of_one_corp() {
        assert_ne!(
            CredentialsKey::new("corp", "a"),
            CredentialsKey::new("corp", "b")
        );
        assert_eq!(
            CredentialsKey::new("corp", "a"),
            CredentialsKey::new("corp", "a")
        );
    }
}
