//! Custom certificate verifiers: pinning, accept-only-self-signed, and a client-certificate
//! callback. Each decides on the certificate itself and leaves the handshake signatures to the
//! provider's algorithms, exactly as the webpki verifiers do.

use std::fmt;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, OtherError, SignatureScheme,
};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};

use crate::auth::CertificateCallback;
use crate::identity::Fingerprint;

/// Why a custom verifier rejected a certificate (carried in
/// `rustls::CertificateError::Other`, so its text reaches the replicator's error).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RejectedCertificate {
    /// The leaf is not the pinned certificate.
    #[error(
        "server certificate sha256/{actual} does not match the pinned certificate sha256/{pinned}"
    )]
    PinMismatch {
        /// The pinned fingerprint.
        pinned: Fingerprint,
        /// The presented leaf's fingerprint.
        actual: Fingerprint,
    },
    /// The leaf was issued by another certificate (a CA-signed certificate), while only
    /// self-signed certificates are accepted.
    #[error(
        "server certificate is CA-signed (issuer differs from subject); only a self-signed certificate is accepted"
    )]
    NotSelfSigned,
    /// The server sent a chain of several certificates, while only a lone self-signed
    /// certificate is accepted.
    #[error(
        "server sent a chain of {len} certificates; only a lone self-signed certificate is accepted"
    )]
    ChainNotAccepted {
        /// The chain's length.
        len: usize,
    },
    /// The client-certificate callback refused the certificate.
    #[error("client certificate refused by the listener's authenticator")]
    RefusedByCallback,
}

impl From<RejectedCertificate> for rustls::Error {
    fn from(reason: RejectedCertificate) -> rustls::Error {
        rustls::Error::InvalidCertificate(CertificateError::Other(OtherError(Arc::new(reason))))
    }
}

/// The extended key usage a certificate is checked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Usage {
    /// TLS server authentication (if the certificate names usages).
    Server,
    /// Any usage.
    Any,
}

impl webpki::ExtendedKeyUsageValidator for Usage {
    fn validate(&self, iter: webpki::KeyPurposeIdIter<'_, '_>) -> Result<(), webpki::Error> {
        match self {
            Usage::Server => webpki::KeyUsage::server_auth().validate(iter),
            Usage::Any => Ok(()),
        }
    }
}

/// Checks that `cert` is self-signed — issuer equals subject, and its signature verifies with its
/// own public key (webpki path validation with the certificate as its own trust anchor) — and
/// valid at `now` for `usage`.
pub(crate) fn verify_self_signed(
    cert: &CertificateDer<'_>,
    provider: &CryptoProvider,
    now: UnixTime,
    usage: Usage,
) -> Result<(), rustls::Error> {
    let parsed = webpki::EndEntityCert::try_from(cert).map_err(pki_error)?;
    if parsed.issuer() != parsed.subject() {
        return Err(RejectedCertificate::NotSelfSigned.into());
    }
    let anchor = webpki::anchor_from_trusted_cert(cert).map_err(pki_error)?;
    match parsed.verify_for_usage(
        provider.signature_verification_algorithms.all,
        &[anchor],
        &[],
        now,
        usage,
        None,
        None,
    ) {
        Ok(_) => Ok(()),
        // webpki takes no CA certificate as an end entity, but self-signed certificates made by
        // `openssl req -x509` and others are flagged as CAs: check those by hand.
        Err(webpki::Error::CaUsedAsEndEntity) => {
            verify_ca_flagged_self_signed(cert, &parsed, provider, now)
        }
        Err(other) => Err(pki_error(other)),
    }
}

/// The self-signature and validity of a self-signed certificate flagged as a CA: its signature
/// must verify with its own public key under one of the provider's algorithms, and `now` must
/// lie within its validity period. (Its key usages are not checked.)
fn verify_ca_flagged_self_signed(
    cert: &CertificateDer<'_>,
    parsed: &webpki::EndEntityCert<'_>,
    provider: &CryptoProvider,
    now: UnixTime,
) -> Result<(), rustls::Error> {
    let parts = super::x509::parse(cert).ok_or(rustls::Error::InvalidCertificate(
        CertificateError::BadEncoding,
    ))?;
    let signed = provider
        .signature_verification_algorithms
        .all
        .iter()
        .filter(|alg| alg.signature_alg_id().as_ref() == parts.signature_algorithm)
        .any(|alg| {
            parsed
                .verify_signature(*alg, parts.tbs, parts.signature)
                .is_ok()
        });
    if !signed {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::BadSignature,
        ));
    }
    if now.as_secs() > parts.not_after {
        return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
    }
    if !parts.valid_at(now) {
        return Err(rustls::Error::InvalidCertificate(
            CertificateError::NotValidYet,
        ));
    }
    Ok(())
}

/// Maps a webpki error to the rustls certificate error rustls itself would report.
fn pki_error(err: webpki::Error) -> rustls::Error {
    use webpki::Error as E;
    let error = match err {
        E::BadDer | E::BadDerTime | E::TrailingData(_) => CertificateError::BadEncoding,
        E::CertExpired { .. } => CertificateError::Expired,
        E::CertNotValidYet { .. } => CertificateError::NotValidYet,
        E::UnknownIssuer => CertificateError::UnknownIssuer,
        E::InvalidSignatureForPublicKey => CertificateError::BadSignature,
        other => CertificateError::Other(OtherError(Arc::new(other))),
    };
    rustls::Error::InvalidCertificate(error)
}

fn tls12(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls12_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

fn tls13(
    provider: &CryptoProvider,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    rustls::crypto::verify_tls13_signature(
        message,
        cert,
        dss,
        &provider.signature_verification_algorithms,
    )
}

/// Accepts exactly the leaf certificate with the pinned SHA-256 fingerprint (no path, name or
/// expiry check); verifies handshake signatures with the provider's algorithms.
pub struct PinnedServerVerifier {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl PinnedServerVerifier {
    /// A verifier accepting only the certificate with this fingerprint.
    pub fn new(pin: Fingerprint, provider: Arc<CryptoProvider>) -> PinnedServerVerifier {
        PinnedServerVerifier { pin, provider }
    }
}

/// The handshake-signature half of a verifier: every custom verifier checks signatures with
/// its `provider`'s algorithms, exactly as rustls' own verifiers do.
macro_rules! handshake_signatures_by_provider {
    () => {
        fn verify_tls12_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            tls12(&self.provider, message, cert, dss)
        }

        fn verify_tls13_signature(
            &self,
            message: &[u8],
            cert: &CertificateDer<'_>,
            dss: &DigitallySignedStruct,
        ) -> Result<HandshakeSignatureValid, rustls::Error> {
            tls13(&self.provider, message, cert, dss)
        }

        fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
            self.provider
                .signature_verification_algorithms
                .supported_schemes()
        }
    };
}

impl fmt::Debug for PinnedServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinnedServerVerifier")
            .field("pin", &self.pin)
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for PinnedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self.pin.matches(end_entity) {
            tracing::warn!(pinned = %self.pin, "server certificate does not match the pin");
            return Err(RejectedCertificate::PinMismatch {
                pinned: self.pin,
                actual: Fingerprint::of(end_entity),
            }
            .into());
        }
        // The pinned bytes must still be a certificate the signature checks can use.
        webpki::EndEntityCert::try_from(end_entity).map_err(pki_error)?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures_by_provider!();
}

/// Accepts a lone, valid, self-signed server certificate and rejects CA-signed ones and longer
/// chains; the host name is not checked. Verifies handshake signatures with the provider's
/// algorithms.
pub struct SelfSignedServerVerifier {
    provider: Arc<CryptoProvider>,
}

impl SelfSignedServerVerifier {
    /// A verifier accepting only self-signed server certificates.
    pub fn new(provider: Arc<CryptoProvider>) -> SelfSignedServerVerifier {
        SelfSignedServerVerifier { provider }
    }
}

impl fmt::Debug for SelfSignedServerVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SelfSignedServerVerifier")
            .finish_non_exhaustive()
    }
}

impl ServerCertVerifier for SelfSignedServerVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !intermediates.is_empty() {
            return Err(RejectedCertificate::ChainNotAccepted {
                len: intermediates.len() + 1,
            }
            .into());
        }
        verify_self_signed(end_entity, &self.provider, now, Usage::Server)?;
        Ok(ServerCertVerified::assertion())
    }

    handshake_signatures_by_provider!();
}

/// Requires a client certificate and lets a callback decide on the presented chain (leaf first);
/// the client must still prove it holds the leaf's key (handshake signature, provider's
/// algorithms).
pub struct CallbackClientVerifier {
    callback: CertificateCallback,
    provider: Arc<CryptoProvider>,
}

impl CallbackClientVerifier {
    /// A verifier deferring to `callback`.
    pub fn new(
        callback: CertificateCallback,
        provider: Arc<CryptoProvider>,
    ) -> CallbackClientVerifier {
        CallbackClientVerifier { callback, provider }
    }
}

impl fmt::Debug for CallbackClientVerifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CallbackClientVerifier")
            .finish_non_exhaustive()
    }
}

impl ClientCertVerifier for CallbackClientVerifier {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        &[]
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        webpki::EndEntityCert::try_from(end_entity).map_err(pki_error)?;
        let mut chain = Vec::with_capacity(intermediates.len() + 1);
        chain.push(end_entity.clone());
        chain.extend(intermediates.iter().cloned());
        if (self.callback)(&chain) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(RejectedCertificate::RefusedByCallback.into())
        }
    }

    handshake_signatures_by_provider!();
}
