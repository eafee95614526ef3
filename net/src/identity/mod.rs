//! TLS identities: a certificate chain and its private key, in the spirit of Couchbase Lite's
//! `TLSIdentity`.
//!
//! - create a self-signed identity from [`IdentityAttributes`] ([`TlsIdentity::create_self_signed`]);
//! - save it under a label in an identity directory, load it back, delete it ([`store`]);
//! - import one from PEM or DER (CA-signed or self-signed, any key rustls' ring provider can use);
//! - [`TlsIdentity::anonymous`]: the listener's default identity, created on first use and reused;
//! - expose the chain and the leaf's SHA-256 [`Fingerprint`] (what a replicator pins).

mod fingerprint;
pub mod store;

use std::fmt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, SanType,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

pub use fingerprint::Fingerprint;

use crate::error::IdentityError;

/// The label of a listener's anonymous identity in its identity directory.
pub const ANONYMOUS_LABEL: &str = "ferry-anonymous";

/// How long a freshly generated anonymous identity is valid (Couchbase Lite uses one year too).
pub const ANONYMOUS_VALIDITY: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// How far before "now" a generated certificate's validity starts, to tolerate peers whose clock
/// is slightly behind.
const BACKDATE: Duration = Duration::from_secs(5 * 60);

/// What a certificate may be used for (its extended key usage).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyUsage {
    /// TLS server authentication (a listener).
    Server,
    /// TLS client authentication (a replicator presenting a client certificate).
    Client,
    /// Both.
    Both,
}

/// The attributes of a self-signed identity to create.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdentityAttributes {
    /// The subject's common name (CN); also the issuer's, since the certificate is self-signed.
    pub common_name: String,
    /// Subject alternative names: each an IP address (v4 or v6) or a DNS name.
    pub subject_alt_names: Vec<String>,
    /// How long the certificate is valid from its creation.
    pub valid_for: Duration,
    /// What the certificate may be used for.
    pub key_usage: KeyUsage,
}

impl IdentityAttributes {
    /// Attributes with this common name, no subject alternative names, one year of validity,
    /// usable as server and client.
    pub fn new(common_name: impl Into<String>) -> IdentityAttributes {
        IdentityAttributes {
            common_name: common_name.into(),
            subject_alt_names: Vec::new(),
            valid_for: ANONYMOUS_VALIDITY,
            key_usage: KeyUsage::Both,
        }
    }

    /// What [`TlsIdentity::anonymous`] generates.
    pub fn anonymous() -> IdentityAttributes {
        IdentityAttributes {
            common_name: "Ferry anonymous listener".to_owned(),
            subject_alt_names: vec!["localhost".into(), "127.0.0.1".into(), "::1".into()],
            valid_for: ANONYMOUS_VALIDITY,
            key_usage: KeyUsage::Server,
        }
    }
}

/// A certificate chain (leaf first) and the leaf's private key.
///
/// Its `Debug` output shows the leaf's fingerprint, never the key.
pub struct TlsIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

impl Clone for TlsIdentity {
    fn clone(&self) -> TlsIdentity {
        TlsIdentity {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

impl fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.sha256_fingerprint())
            .field("chain_len", &self.chain.len())
            .finish_non_exhaustive()
    }
}

impl TlsIdentity {
    /// Creates a self-signed identity with a fresh ECDSA P-256 key, valid from now (minus a few
    /// minutes of clock-skew tolerance) for `attrs.valid_for`.
    pub fn create_self_signed(attrs: &IdentityAttributes) -> Result<TlsIdentity, IdentityError> {
        TlsIdentity::create_self_signed_at(attrs, SystemTime::now())
    }

    /// [`TlsIdentity::create_self_signed`] with the current time given (for tests, and hosts that
    /// keep their own clock).
    pub fn create_self_signed_at(
        attrs: &IdentityAttributes,
        now: SystemTime,
    ) -> Result<TlsIdentity, IdentityError> {
        let invalid = |reason: String| IdentityError::InvalidAttributes { reason };
        if attrs.common_name.trim().is_empty() {
            return Err(invalid("empty common name".into()));
        }
        if attrs.valid_for.is_zero() {
            return Err(invalid("zero validity".into()));
        }
        let mut params = CertificateParams::default();
        params.subject_alt_names = attrs
            .subject_alt_names
            .iter()
            .map(|name| match name.parse::<std::net::IpAddr>() {
                Ok(ip) => Ok(SanType::IpAddress(ip)),
                Err(_) => {
                    let not_a_name =
                        || invalid(format!("{name:?} is neither an IP address nor a DNS name"));
                    // A wildcard is allowed in the leftmost label only.
                    let checked = name.strip_prefix("*.").unwrap_or(name);
                    rustls_pki_types::DnsName::try_from(checked).map_err(|_| not_a_name())?;
                    name.clone()
                        .try_into()
                        .map(SanType::DnsName)
                        .map_err(|_| not_a_name())
                }
            })
            .collect::<Result<_, _>>()?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, attrs.common_name.as_str());
        params.distinguished_name = dn;
        params.is_ca = IsCa::NoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = match attrs.key_usage {
            KeyUsage::Server => vec![ExtendedKeyUsagePurpose::ServerAuth],
            KeyUsage::Client => vec![ExtendedKeyUsagePurpose::ClientAuth],
            KeyUsage::Both => vec![
                ExtendedKeyUsagePurpose::ServerAuth,
                ExtendedKeyUsagePurpose::ClientAuth,
            ],
        };
        let start = now.checked_sub(BACKDATE).unwrap_or(now);
        let end = now
            .checked_add(attrs.valid_for)
            .ok_or_else(|| invalid("validity overflows the calendar".into()))?;
        params.not_before = start.into();
        params.not_after = end.into();

        let key = KeyPair::generate().map_err(|e| IdentityError::Generate {
            reason: e.to_string(),
        })?;
        let cert = params
            .self_signed(&key)
            .map_err(|e| IdentityError::Generate {
                reason: e.to_string(),
            })?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        TlsIdentity::from_der(vec![cert.der().clone()], key_der)
    }

    /// An identity from DER: the chain (leaf first) and the leaf's private key (PKCS#8, SEC1 or
    /// PKCS#1). Checks that the leaf parses and that the key belongs to it.
    pub fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<TlsIdentity, IdentityError> {
        let leaf = chain.first().ok_or_else(|| IdentityError::NoCertificate {
            what: "the certificate chain".into(),
        })?;
        webpki::EndEntityCert::try_from(leaf).map_err(|e| IdentityError::BadCertificate {
            reason: format!("{e:?}"),
        })?;
        let provider = crate::tls::provider();
        rustls::sign::CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider).map_err(
            |e| match e {
                rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                    IdentityError::KeyMismatch
                }
                other => IdentityError::BadKey {
                    reason: other.to_string(),
                },
            },
        )?;
        Ok(TlsIdentity { chain, key })
    }

    /// An identity from DER bytes: one certificate and its key (PKCS#8, SEC1 or PKCS#1; the
    /// format is recognised from the bytes).
    pub fn from_der_bytes(certificate: &[u8], key: &[u8]) -> Result<TlsIdentity, IdentityError> {
        let key = PrivateKeyDer::try_from(key.to_vec()).map_err(|e| IdentityError::BadKey {
            reason: e.to_owned(),
        })?;
        TlsIdentity::from_der(vec![CertificateDer::from(certificate.to_vec())], key)
    }

    /// An identity from PEM text: every `CERTIFICATE` block of `chain_pem` (leaf first) and the
    /// first private key block of `key_pem`.
    pub fn from_pem(chain_pem: &[u8], key_pem: &[u8]) -> Result<TlsIdentity, IdentityError> {
        TlsIdentity::from_pem_named(chain_pem, "the certificate PEM", key_pem, "the key PEM")
    }

    /// An identity from PEM files (see [`TlsIdentity::from_pem`]).
    pub fn from_pem_files(
        chain_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<TlsIdentity, IdentityError> {
        let (chain_path, key_path) = (chain_path.as_ref(), key_path.as_ref());
        let chain = std::fs::read(chain_path).map_err(|e| IdentityError::io(chain_path, e))?;
        let key = std::fs::read(key_path).map_err(|e| IdentityError::io(key_path, e))?;
        TlsIdentity::from_pem_named(
            &chain,
            &chain_path.display().to_string(),
            &key,
            &key_path.display().to_string(),
        )
    }

    /// An identity from DER files: one certificate and its key.
    pub fn from_der_files(
        certificate_path: impl AsRef<Path>,
        key_path: impl AsRef<Path>,
    ) -> Result<TlsIdentity, IdentityError> {
        let (cert_path, key_path) = (certificate_path.as_ref(), key_path.as_ref());
        let cert = std::fs::read(cert_path).map_err(|e| IdentityError::io(cert_path, e))?;
        let key = std::fs::read(key_path).map_err(|e| IdentityError::io(key_path, e))?;
        TlsIdentity::from_der_bytes(&cert, &key)
    }

    fn from_pem_named(
        chain_pem: &[u8],
        chain_what: &str,
        key_pem: &[u8],
        key_what: &str,
    ) -> Result<TlsIdentity, IdentityError> {
        let chain = certificates_from_pem_named(chain_pem, chain_what)?;
        let key =
            PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| pem_error(e, key_what, false))?;
        TlsIdentity::from_der(chain, key)
    }

    /// The listener's default identity in `dir`: the one saved under [`ANONYMOUS_LABEL`] if it
    /// is there and valid for at least another day, else a new self-signed one
    /// ([`IdentityAttributes::anonymous`]) saved in its place. Two calls return the same identity.
    pub fn anonymous(dir: impl AsRef<Path>) -> Result<TlsIdentity, IdentityError> {
        TlsIdentity::anonymous_at(dir, SystemTime::now())
    }

    /// [`TlsIdentity::anonymous`] with the current time given.
    pub fn anonymous_at(
        dir: impl AsRef<Path>,
        now: SystemTime,
    ) -> Result<TlsIdentity, IdentityError> {
        let dir = dir.as_ref();
        match store::load(dir, ANONYMOUS_LABEL) {
            Ok(identity) if identity.is_valid_self_signed_at(now + Duration::from_secs(86_400)) => {
                return Ok(identity);
            }
            Ok(_) => {
                tracing::info!(dir = %dir.display(), "anonymous TLS identity expires soon: replacing it");
                store::delete(dir, ANONYMOUS_LABEL)?;
            }
            Err(IdentityError::NotFound { .. }) => {}
            Err(other) => return Err(other),
        }
        let identity = TlsIdentity::create_self_signed_at(&IdentityAttributes::anonymous(), now)?;
        match store::save(&identity, dir, ANONYMOUS_LABEL) {
            Ok(()) => Ok(identity),
            // Another process created it meanwhile: use theirs, so both agree.
            Err(IdentityError::AlreadyExists { .. }) => store::load(dir, ANONYMOUS_LABEL),
            Err(other) => Err(other),
        }
    }

    /// Saves this identity under `label` in `dir` (see [`store::save`]).
    pub fn save(&self, dir: impl AsRef<Path>, label: &str) -> Result<(), IdentityError> {
        store::save(self, dir.as_ref(), label)
    }

    /// Loads the identity saved under `label` in `dir` (see [`store::load`]).
    pub fn load(dir: impl AsRef<Path>, label: &str) -> Result<TlsIdentity, IdentityError> {
        store::load(dir.as_ref(), label)
    }

    /// Deletes the identity saved under `label` in `dir` (see [`store::delete`]).
    pub fn delete(dir: impl AsRef<Path>, label: &str) -> Result<(), IdentityError> {
        store::delete(dir.as_ref(), label)
    }

    /// The certificate chain, leaf first.
    pub fn certificate_chain(&self) -> &[CertificateDer<'static>] {
        &self.chain
    }

    /// The leaf certificate.
    pub fn leaf(&self) -> &CertificateDer<'static> {
        // `from_der` refuses an empty chain, and every constructor goes through it.
        &self.chain[0]
    }

    /// The SHA-256 fingerprint of the leaf certificate.
    pub fn sha256_fingerprint(&self) -> Fingerprint {
        Fingerprint::of(self.leaf())
    }

    /// The chain as PEM text.
    pub fn certificate_chain_pem(&self) -> String {
        self.chain
            .iter()
            .map(|c| pem_encode("CERTIFICATE", c))
            .collect()
    }

    /// Whether the leaf is self-signed (issuer equals subject and its signature verifies with
    /// its own key) and valid at `now`.
    pub fn is_valid_self_signed_at(&self, now: SystemTime) -> bool {
        crate::tls::verify_self_signed(
            self.leaf(),
            &crate::tls::provider(),
            crate::tls::unix_time(now),
            crate::tls::Usage::Any,
        )
        .is_ok()
    }

    /// The private key (crate-internal: configurations are built here, keys are never shown).
    pub(crate) fn private_key(&self) -> &PrivateKeyDer<'static> {
        &self.key
    }

    /// The key as PEM text (for [`store::save`]).
    pub(crate) fn private_key_pem(&self) -> String {
        let label = match &self.key {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        pem_encode(label, self.key.secret_der())
    }
}

/// A PEM block with 64-column base64 lines.
fn pem_encode(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// Every `CERTIFICATE` block of a PEM file, in order (for example the trusted roots of a
/// listener's client-certificate authentication); fails if there is none.
pub fn certificates_from_pem_file(
    path: impl AsRef<Path>,
) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let path = path.as_ref();
    let pem = std::fs::read(path).map_err(|e| IdentityError::io(path, e))?;
    certificates_from_pem_named(&pem, &path.display().to_string())
}

/// Every `CERTIFICATE` block of `pem`; `what` names it in errors.
fn certificates_from_pem_named(
    pem: &[u8],
    what: &str,
) -> Result<Vec<CertificateDer<'static>>, IdentityError> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| pem_error(e, what, true))?;
    if chain.is_empty() {
        return Err(IdentityError::NoCertificate {
            what: what.to_owned(),
        });
    }
    Ok(chain)
}

fn pem_error(err: rustls_pki_types::pem::Error, what: &str, certificate: bool) -> IdentityError {
    use rustls_pki_types::pem::Error as E;
    match err {
        E::NoItemsFound if certificate => IdentityError::NoCertificate {
            what: what.to_owned(),
        },
        E::NoItemsFound => IdentityError::NoPrivateKey {
            what: what.to_owned(),
        },
        other => IdentityError::BadPem {
            what: what.to_owned(),
            reason: other.to_string(),
        },
    }
}
