//! rustls configurations for listeners and replicators: the ring provider only, TLS 1.2 and 1.3
//! only.
//!
//! TLS below 1.2 cannot be configured by construction: rustls implements no earlier version
//! (its `ALL_VERSIONS` holds TLS 1.3 and TLS 1.2 only), and every configuration here is built
//! with [`PROTOCOL_VERSIONS`]. A peer offering only TLS 1.0 or 1.1 fails the handshake.
//!
//! Server trust on the replicator side ([`ServerTrust`]):
//! - [`ServerTrust::TrustedRoots`]: standard webpki path validation to the given roots, with the
//!   host name (or IP address) checked against the certificate. Ferry bundles no system roots.
//! - [`ServerTrust::Pinned`]: accept exactly the leaf certificate with this SHA-256 fingerprint,
//!   whoever issued it and whatever name it carries (no path, host name or expiry check: the pin
//!   is the trust, as in Couchbase Lite); any other leaf is rejected.
//! - [`ServerTrust::AcceptOnlySelfSigned`]: accept a lone leaf that is self-signed (issuer equals
//!   subject and its signature verifies with its own public key) and currently valid, with the
//!   server-auth usage if it names usages; reject a CA-signed leaf and any chain longer than one
//!   certificate. The host name is not checked (anonymous listener identities name no host).
//!   Self-signed certificates flagged as CAs (`basicConstraints CA:TRUE`, as `openssl req -x509`
//!   makes them) are accepted too, after the same self-signature and validity checks (their key
//!   usages are not checked).
//!
//! Every custom verifier still verifies the handshake signature (TLS 1.2 `ServerKeyExchange`,
//! TLS 1.3 `CertificateVerify`) with the provider's algorithms, so the peer must hold the key of
//! the certificate it presents.

mod verify;
mod x509;

use std::net::IpAddr;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

pub use verify::{
    CallbackClientVerifier, PinnedServerVerifier, RejectedCertificate, SelfSignedServerVerifier,
};
pub(crate) use verify::{Usage, verify_self_signed};

use crate::auth::{Authenticator, ClientCertificateAuth};
use crate::error::{ConnectError, TlsError};
use crate::identity::{Fingerprint, TlsIdentity};

/// The protocol versions every configuration here enables: TLS 1.3 and TLS 1.2.
pub static PROTOCOL_VERSIONS: &[&SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

/// The crypto provider: ring's, the only one Ferry uses.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// How a replicator decides whether to trust the listener's certificate (see the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ServerTrust {
    /// Trust certificates that chain to one of these roots and name the host.
    TrustedRoots(Vec<CertificateDer<'static>>),
    /// Trust exactly the leaf certificate with this fingerprint.
    Pinned(Fingerprint),
    /// Trust a lone, valid, self-signed leaf; reject CA-signed chains.
    AcceptOnlySelfSigned,
}

/// Builds a listener's configuration: its identity, and the client-certificate policy of its
/// authenticator (none for [`Authenticator::None`] and [`Authenticator::Password`]).
pub fn server_config(
    identity: &TlsIdentity,
    authenticator: &Authenticator,
) -> Result<Arc<ServerConfig>, TlsError> {
    server_config_with(identity, authenticator.client_certificate())
}

/// Builds a listener's configuration with an explicit client-certificate policy (`None`: the
/// server does not ask for a client certificate).
pub fn server_config_with(
    identity: &TlsIdentity,
    client_auth: Option<&ClientCertificateAuth>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let builder = ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(config_error)?;
    let builder = match client_auth {
        None => builder.with_no_client_auth(),
        Some(ClientCertificateAuth::TrustedRoots(roots)) => {
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(root_store(roots)?),
                provider(),
            )
            .build()
            .map_err(|e| TlsError::Config {
                reason: e.to_string(),
            })?;
            builder.with_client_cert_verifier(verifier)
        }
        Some(ClientCertificateAuth::Callback(callback)) => builder.with_client_cert_verifier(
            Arc::new(CallbackClientVerifier::new(callback.clone(), provider())),
        ),
    };
    let config = builder
        .with_single_cert(
            identity.certificate_chain().to_vec(),
            identity.private_key().clone_key(),
        )
        .map_err(|e| TlsError::BadIdentity {
            reason: e.to_string(),
        })?;
    Ok(Arc::new(config))
}

/// Builds a replicator's configuration: how it trusts the server, and the client certificate it
/// presents if any.
pub fn client_config(
    trust: &ServerTrust,
    client_identity: Option<&TlsIdentity>,
) -> Result<Arc<ClientConfig>, TlsError> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .map_err(config_error)?;
    let verifier: Arc<dyn rustls::client::danger::ServerCertVerifier> = match trust {
        ServerTrust::TrustedRoots(roots) => {
            WebPkiServerVerifier::builder_with_provider(Arc::new(root_store(roots)?), provider())
                .build()
                .map_err(|e| TlsError::Config {
                    reason: e.to_string(),
                })?
        }
        ServerTrust::Pinned(pin) => Arc::new(PinnedServerVerifier::new(*pin, provider())),
        ServerTrust::AcceptOnlySelfSigned => Arc::new(SelfSignedServerVerifier::new(provider())),
    };
    let builder = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_identity {
        None => builder.with_no_client_auth(),
        Some(identity) => builder
            .with_client_auth_cert(
                identity.certificate_chain().to_vec(),
                identity.private_key().clone_key(),
            )
            .map_err(|e| TlsError::BadIdentity {
                reason: e.to_string(),
            })?,
    };
    Ok(Arc::new(config))
}

/// The TLS server name for a URL host: an IP address (v4, or v6 with or without brackets) becomes
/// [`ServerName::IpAddress`] (checked against the certificate's IP SANs in trusted-roots mode),
/// anything else must be a valid DNS name.
pub fn server_name(host: &str) -> Result<ServerName<'static>, ConnectError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if let Ok(ip) = bare.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(bare.to_owned()).map_err(|_| ConnectError::InvalidUrl {
        reason: format!("{bare:?} is not a valid host name"),
    })
}

/// The current time for certificate checks made outside a handshake.
pub(crate) fn unix_time(now: std::time::SystemTime) -> UnixTime {
    UnixTime::since_unix_epoch(
        now.duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default(),
    )
}

fn root_store(roots: &[CertificateDer<'static>]) -> Result<RootCertStore, TlsError> {
    if roots.is_empty() {
        return Err(TlsError::NoTrustedRoots);
    }
    let mut store = RootCertStore::empty();
    for root in roots {
        store
            .add(root.clone())
            .map_err(|e| TlsError::BadRootCertificate {
                reason: e.to_string(),
            })?;
    }
    Ok(store)
}

fn config_error(err: rustls::Error) -> TlsError {
    TlsError::Config {
        reason: err.to_string(),
    }
}
