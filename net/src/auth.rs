//! Authentication during the WebSocket upgrade: what a listener accepts ([`Authenticator`]) and
//! what a replicator sends ([`BasicCredentials`]), with HTTP Basic parsing and a constant-time
//! comparison for password callbacks.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use rustls_pki_types::CertificateDer;

/// A password check: `(username, password) -> accepted`. Compare secrets with
/// [`constant_time_eq`].
pub type PasswordCallback = Arc<dyn Fn(&str, &str) -> bool + Send + Sync>;

/// A client-certificate check on the chain the client presented (leaf first), called during the
/// TLS handshake after the client proved it holds the leaf's key.
pub type CertificateCallback = Arc<dyn Fn(&[CertificateDer<'_>]) -> bool + Send + Sync>;

/// How a listener authenticates replicators.
#[derive(Clone)]
#[non_exhaustive]
pub enum Authenticator {
    /// Anyone may connect.
    None,
    /// HTTP Basic credentials in the upgrade request, checked by the callback; missing or wrong
    /// credentials are answered 401 with `WWW-Authenticate: Basic realm="Ferry"`.
    Password(PasswordCallback),
    /// A TLS client certificate, verified during the TLS handshake (the server configuration is
    /// built from it by [`crate::tls::server_config`]); an upgrade without one is refused (403).
    ClientCertificate(ClientCertificateAuth),
}

impl Authenticator {
    /// A password authenticator from a closure.
    pub fn password(check: impl Fn(&str, &str) -> bool + Send + Sync + 'static) -> Authenticator {
        Authenticator::Password(Arc::new(check))
    }

    /// A client-certificate authenticator trusting certificates issued by these roots.
    pub fn client_certificate_roots(roots: Vec<CertificateDer<'static>>) -> Authenticator {
        Authenticator::ClientCertificate(ClientCertificateAuth::TrustedRoots(roots))
    }

    /// A client-certificate authenticator deciding with a callback on the presented chain.
    pub fn client_certificate_callback(
        check: impl Fn(&[CertificateDer<'_>]) -> bool + Send + Sync + 'static,
    ) -> Authenticator {
        Authenticator::ClientCertificate(ClientCertificateAuth::Callback(Arc::new(check)))
    }

    /// The client-certificate policy, if this authenticator has one.
    pub fn client_certificate(&self) -> Option<&ClientCertificateAuth> {
        match self {
            Authenticator::ClientCertificate(auth) => Some(auth),
            _ => None,
        }
    }
}

impl fmt::Debug for Authenticator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Authenticator::None => f.write_str("Authenticator::None"),
            Authenticator::Password(_) => f.write_str("Authenticator::Password(..)"),
            Authenticator::ClientCertificate(auth) => f
                .debug_tuple("Authenticator::ClientCertificate")
                .field(auth)
                .finish(),
        }
    }
}

/// How a listener verifies client certificates.
#[derive(Clone)]
#[non_exhaustive]
pub enum ClientCertificateAuth {
    /// Accept chains that lead to one of these roots (webpki path validation, client-auth usage).
    TrustedRoots(Vec<CertificateDer<'static>>),
    /// Accept chains the callback accepts; the handshake signature is still verified.
    Callback(CertificateCallback),
}

impl fmt::Debug for ClientCertificateAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientCertificateAuth::TrustedRoots(roots) => {
                write!(f, "TrustedRoots({} certificates)", roots.len())
            }
            ClientCertificateAuth::Callback(_) => f.write_str("Callback(..)"),
        }
    }
}

/// A replicator's HTTP Basic credentials. `Debug` never shows the password.
#[derive(Clone, PartialEq, Eq)]
pub struct BasicCredentials {
    /// The user name (must not contain `:`, RFC 7617).
    pub username: String,
    /// The password.
    pub password: String,
}

impl BasicCredentials {
    /// Credentials from a user name and a password.
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> BasicCredentials {
        BasicCredentials {
            username: username.into(),
            password: password.into(),
        }
    }

    /// The `Authorization` header value: `Basic base64(username:password)`.
    pub fn authorization_header(&self) -> String {
        let joined = format!("{}:{}", self.username, self.password);
        format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(joined)
        )
    }

    /// Parses an `Authorization` header value with the Basic scheme (scheme name
    /// case-insensitive, RFC 7617): `None` for another scheme or malformed base64, UTF-8 or
    /// `user:password` text.
    pub fn parse_authorization(header: &str) -> Option<BasicCredentials> {
        let header = header.trim();
        let (scheme, token) = header.split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(token.trim())
            .ok()?;
        let text = String::from_utf8(decoded).ok()?;
        let (username, password) = text.split_once(':')?;
        Some(BasicCredentials::new(username, password))
    }
}

impl fmt::Debug for BasicCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BasicCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Compares two byte strings in time that depends only on their lengths, not on where they
/// differ: use it to compare passwords and tokens. (Whether the lengths are equal may leak.)
pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_round_trips_and_rejects_malformed() {
        let creds = BasicCredentials::new("alice", "pa:ss wörd");
        let header = creds.authorization_header();
        assert_eq!(
            BasicCredentials::parse_authorization(&header),
            Some(creds.clone())
        );
        assert_eq!(
            BasicCredentials::new("Aladdin", "open sesame").authorization_header(),
            "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "RFC 7617's example"
        );
        assert_eq!(
            BasicCredentials::parse_authorization("bAsIc QWxhZGRpbjpvcGVuIHNlc2FtZQ==")
                .map(|c| c.username),
            Some("Aladdin".to_owned())
        );
        for bad in [
            "",
            "Basic",
            "Basic !!!notbase64",
            "Bearer QWxhZGRpbjpvcGVuIHNlc2FtZQ==",
            "Basic bm9jb2xvbg==", // "nocolon"
            "Basic /w==",         // 0xFF: not UTF-8
        ] {
            assert_eq!(BasicCredentials::parse_authorization(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn debug_output_hides_the_password() {
        let shown = format!("{:?}", BasicCredentials::new("bob", "hunter2"));
        assert!(
            shown.contains("bob") && !shown.contains("hunter2"),
            "{shown}"
        );
    }

    #[test]
    fn constant_time_eq_compares_bytes() {
        assert!(constant_time_eq(b"secret", b"secret"));
        assert!(!constant_time_eq(b"secret", b"secreT"));
        assert!(!constant_time_eq(b"secret", b"secret!"));
        assert!(constant_time_eq(b"", b""));
    }
}
