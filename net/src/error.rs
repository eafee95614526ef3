//! Errors of the networking crate, in the workspace's one style (thiserror, `#[non_exhaustive]`,
//! a doc line per variant). No message ever carries a password, a private key or a URL's
//! user information.

use std::io;
use std::path::PathBuf;

/// Why a TLS identity (certificate chain and private key) could not be created, read, written or
/// deleted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum IdentityError {
    /// A file the identity needs does not exist.
    #[error("identity file not found: {}", path.display())]
    NotFound {
        /// The missing file.
        path: PathBuf,
    },
    /// The operating system refused access to an identity file or directory.
    #[error("permission denied: {}", path.display())]
    PermissionDenied {
        /// The file or directory.
        path: PathBuf,
    },
    /// Another I/O error on an identity file or directory.
    #[error("I/O error on {}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A PEM file could not be parsed.
    #[error("bad PEM in {what}: {reason}")]
    BadPem {
        /// What was being read (`"certificate"` or `"private key"`), with the file if any.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// No certificate was found where one was expected.
    #[error("no certificate found in {what}")]
    NoCertificate {
        /// Where the certificate was looked for.
        what: String,
    },
    /// No private key was found where one was expected.
    #[error("no private key found in {what}")]
    NoPrivateKey {
        /// Where the key was looked for.
        what: String,
    },
    /// A certificate is not a parsable X.509 certificate.
    #[error("invalid certificate: {reason}")]
    BadCertificate {
        /// What was wrong.
        reason: String,
    },
    /// The private key is not one the ring provider can use (unsupported or corrupt).
    #[error("unusable private key: {reason}")]
    BadKey {
        /// What was wrong (never the key itself).
        reason: String,
    },
    /// The private key does not belong to the leaf certificate.
    #[error("the private key does not match the certificate's public key")]
    KeyMismatch,
    /// A stored key file can be read by other users (unix mode not 0600 or stricter).
    #[error("key file {} is accessible by other users (mode {mode:o}); expected 0600", path.display())]
    InsecureKeyFile {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// A label is not a safe file name stem (`[A-Za-z0-9._-]`, not starting with `.`).
    #[error("invalid identity label {label:?}: use letters, digits, '.', '_' and '-'")]
    InvalidLabel {
        /// The rejected label.
        label: String,
    },
    /// An identity is already saved under this label; delete it first.
    #[error("an identity is already saved under the label {label:?}")]
    AlreadyExists {
        /// The label.
        label: String,
    },
    /// The identity attributes cannot make a certificate (bad name, zero validity, ...).
    #[error("invalid identity attributes: {reason}")]
    InvalidAttributes {
        /// What was wrong.
        reason: String,
    },
    /// Certificate or key generation failed.
    #[error("certificate generation failed: {reason}")]
    Generate {
        /// What failed.
        reason: String,
    },
}

impl IdentityError {
    /// Classifies an I/O error on `path` into `NotFound`, `PermissionDenied` or `Io`.
    pub(crate) fn io(path: impl Into<PathBuf>, source: io::Error) -> Self {
        let path = path.into();
        match source.kind() {
            io::ErrorKind::NotFound => IdentityError::NotFound { path },
            io::ErrorKind::PermissionDenied => IdentityError::PermissionDenied { path },
            _ => IdentityError::Io { path, source },
        }
    }
}

/// A text that is not a SHA-256 certificate fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    /// The text is not 32 bytes of hexadecimal (optionally `sha256/`-prefixed, colon-separated).
    #[error(
        "not a SHA-256 fingerprint ({reason}); expected 64 hex digits, optionally colon-separated, optionally prefixed with \"sha256/\""
    )]
    Invalid {
        /// What was wrong.
        reason: String,
    },
}

/// Why a rustls client or server configuration could not be built.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// Trusted-roots mode was chosen with no root certificate (Ferry bundles no system roots).
    #[error("no trusted root certificates given")]
    NoTrustedRoots,
    /// A trusted root certificate could not be used as a trust anchor.
    #[error("unusable trusted root certificate: {reason}")]
    BadRootCertificate {
        /// What was wrong.
        reason: String,
    },
    /// The identity (certificate chain and key) was rejected by rustls.
    #[error("unusable TLS identity: {reason}")]
    BadIdentity {
        /// What was wrong (never the key itself).
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS configuration error: {reason}")]
    Config {
        /// What rustls said.
        reason: String,
    },
}

/// Why a replicator could not connect, or lost its connection, classified as Couchbase Lite does:
/// [`ConnectError::is_transient`] says whether retrying may help.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The endpoint URL is not a usable `ws://` or `wss://` database URL (permanent).
    #[error("invalid endpoint URL: {reason}")]
    InvalidUrl {
        /// What was wrong (the URL itself is not repeated: it may hold credentials).
        reason: String,
    },
    /// The replicator's own settings cannot make a request (bad header, ':' in a Basic user
    /// name) (permanent).
    #[error("invalid replicator configuration: {reason}")]
    InvalidConfig {
        /// What was wrong.
        reason: String,
    },
    /// The peer refused the TCP connection (transient).
    #[error("connection refused")]
    Refused,
    /// The connection was reset, aborted or cut short (transient).
    #[error("connection reset")]
    Reset,
    /// Connecting or the handshake timed out (transient).
    #[error("connection timed out")]
    TimedOut,
    /// The host could not be reached or resolved (transient: the network may come back).
    #[error("host unreachable: {reason}")]
    Unreachable {
        /// What the system said.
        reason: String,
    },
    /// Another I/O error (transient only for kinds that describe a passing network condition).
    #[error("I/O error ({kind:?}): {message}")]
    Io {
        /// The I/O error kind.
        kind: std::io::ErrorKind,
        /// The I/O error's text.
        message: String,
    },
    /// The listener answered the upgrade with an HTTP error status (transient for 408, 429,
    /// 502, 503 and 504; permanent otherwise, notably 401, 403 and 404).
    #[error("HTTP {status}: {reason}")]
    Http {
        /// The status code.
        status: u16,
        /// The reason phrase or body.
        reason: String,
    },
    /// The server's certificate was rejected, or ours was (pinning, self-signed only, trusted
    /// roots, client certificate) (permanent).
    #[error("TLS certificate rejected: {reason}")]
    TlsCertificate {
        /// What was wrong.
        reason: String,
    },
    /// Another TLS failure (permanent).
    #[error("TLS error: {reason}")]
    Tls {
        /// What rustls said.
        reason: String,
    },
    /// The peer broke the WebSocket upgrade protocol (bad accept key, no or unknown subprotocol,
    /// malformed headers) (permanent).
    #[error("WebSocket protocol error: {reason}")]
    Protocol {
        /// What was wrong.
        reason: String,
    },
    /// The WebSocket was closed by the peer with a close code (transient for 1001 going away,
    /// 1006 abnormal closure and 4001 app-transient, as LiteCore; permanent otherwise).
    #[error("WebSocket closed with code {code}: {reason}")]
    Closed {
        /// The WebSocket close code.
        code: u16,
        /// The close reason.
        reason: String,
    },
}

/// HTTP statuses after which Couchbase Lite retries.
const TRANSIENT_HTTP: [u16; 5] = [408, 429, 502, 503, 504];
/// WebSocket close codes after which LiteCore retries: going away, abnormal, app-transient.
const TRANSIENT_CLOSE: [u16; 3] = [1001, 1006, 4001];

impl ConnectError {
    /// Whether retrying may succeed (Couchbase Lite's "transient"); `false` means the replicator
    /// should stop with this error.
    pub fn is_transient(&self) -> bool {
        match self {
            ConnectError::Refused
            | ConnectError::Reset
            | ConnectError::TimedOut
            | ConnectError::Unreachable { .. } => true,
            ConnectError::Io { kind, .. } => is_transient_io(*kind),
            ConnectError::Http { status, .. } => TRANSIENT_HTTP.contains(status),
            ConnectError::Closed { code, .. } => TRANSIENT_CLOSE.contains(code),
            ConnectError::InvalidUrl { .. }
            | ConnectError::InvalidConfig { .. }
            | ConnectError::TlsCertificate { .. }
            | ConnectError::Tls { .. }
            | ConnectError::Protocol { .. } => false,
        }
    }

    /// The HTTP status, for [`ConnectError::Http`].
    pub fn http_status(&self) -> Option<u16> {
        match self {
            ConnectError::Http { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// Classifies an I/O error from connecting, the TLS handshake (tokio-rustls and
    /// futures-rustls wrap [`rustls::Error`] in an `io::Error`) or the WebSocket.
    pub fn from_io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        if let Some(tls) = err
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return ConnectError::from_tls(tls);
        }
        match err.kind() {
            K::ConnectionRefused => ConnectError::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe | K::UnexpectedEof => {
                ConnectError::Reset
            }
            K::TimedOut => ConnectError::TimedOut,
            K::HostUnreachable | K::NetworkUnreachable | K::NetworkDown | K::AddrNotAvailable => {
                ConnectError::Unreachable {
                    reason: err.to_string(),
                }
            }
            kind => ConnectError::Io {
                kind,
                message: err.to_string(),
            },
        }
    }

    /// Classifies a rustls error: certificate problems (ours rejected by the peer, or theirs by
    /// our verifier) become [`ConnectError::TlsCertificate`], the rest [`ConnectError::Tls`].
    pub fn from_tls(err: &rustls::Error) -> Self {
        use rustls::AlertDescription as A;
        let certificate = match err {
            rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => true,
            rustls::Error::AlertReceived(alert) => matches!(
                alert,
                A::BadCertificate
                    | A::UnsupportedCertificate
                    | A::CertificateRevoked
                    | A::CertificateExpired
                    | A::CertificateUnknown
                    | A::UnknownCA
                    | A::CertificateRequired
                    | A::AccessDenied
            ),
            _ => false,
        };
        let reason = match err {
            // Ferry's own verifiers explain themselves; rustls would print their Debug form.
            rustls::Error::InvalidCertificate(rustls::CertificateError::Other(other)) => {
                format!("invalid peer certificate: {}", other.0)
            }
            _ => err.to_string(),
        };
        if certificate {
            ConnectError::TlsCertificate { reason }
        } else {
            ConnectError::Tls { reason }
        }
    }
}

/// I/O error kinds that describe a passing condition rather than a broken setup.
fn is_transient_io(kind: std::io::ErrorKind) -> bool {
    use std::io::ErrorKind as K;
    matches!(
        kind,
        K::ConnectionRefused
            | K::ConnectionReset
            | K::ConnectionAborted
            | K::BrokenPipe
            | K::UnexpectedEof
            | K::TimedOut
            | K::Interrupted
            | K::WouldBlock
            | K::HostUnreachable
            | K::NetworkUnreachable
            | K::NetworkDown
            | K::AddrNotAvailable
    )
}
