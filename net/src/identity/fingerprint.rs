//! SHA-256 certificate fingerprints: what a replicator pins.

use std::fmt;
use std::str::FromStr;

use rustls_pki_types::CertificateDer;
use sha2::{Digest, Sha256};

use crate::error::FingerprintError;

/// The SHA-256 digest of a certificate's DER encoding.
///
/// Displayed as 64 lowercase hex digits; parsed from that, from upper case, from the
/// colon-separated form (`AB:CD:...`, as `openssl x509 -fingerprint -sha256` prints it), and from
/// any of those after a `sha256/` or `sha256:` prefix.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint([u8; 32]);

impl Fingerprint {
    /// The fingerprint of a certificate.
    pub fn of(certificate: &CertificateDer<'_>) -> Fingerprint {
        Fingerprint(Sha256::digest(certificate.as_ref()).into())
    }

    /// A fingerprint from its 32 bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Fingerprint {
        Fingerprint(bytes)
    }

    /// The 32 digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// 64 lowercase hex digits (the same as `Display`).
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// Upper-case hex bytes separated by colons, as OpenSSL prints fingerprints.
    pub fn to_colon_hex(&self) -> String {
        self.0
            .iter()
            .map(|b| format!("{b:02X}"))
            .collect::<Vec<_>>()
            .join(":")
    }

    /// Whether `certificate` has this fingerprint.
    pub fn matches(&self, certificate: &CertificateDer<'_>) -> bool {
        crate::auth::constant_time_eq(&Fingerprint::of(certificate).0, &self.0)
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Fingerprint(sha256/{})", self.to_hex())
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    fn from_str(text: &str) -> Result<Fingerprint, FingerprintError> {
        let invalid = |reason: &str| FingerprintError::Invalid {
            reason: reason.to_owned(),
        };
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let body = lower
            .strip_prefix("sha256/")
            .or_else(|| lower.strip_prefix("sha256:"))
            .unwrap_or(&lower);
        let digits: String = if body.contains(':') {
            let groups: Vec<&str> = body.split(':').collect();
            if groups.iter().any(|g| g.len() != 2) {
                return Err(invalid(
                    "colon-separated groups must be two hex digits each",
                ));
            }
            groups.concat()
        } else {
            body.to_owned()
        };
        if digits.len() != 64 {
            return Err(invalid(&format!("{} hex digits", digits.len())));
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(&digits, &mut bytes).map_err(|_| invalid("non-hex character"))?;
        Ok(Fingerprint(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    #[test]
    fn parses_every_documented_form() {
        let plain: Fingerprint = HEX.parse().unwrap();
        assert_eq!(plain.to_hex(), HEX);
        assert_eq!(plain.to_string(), HEX);
        assert_eq!(
            format!("sha256/{HEX}").parse::<Fingerprint>().unwrap(),
            plain
        );
        assert_eq!(
            format!("SHA256:{HEX}").parse::<Fingerprint>().unwrap(),
            plain
        );
        assert_eq!(HEX.to_uppercase().parse::<Fingerprint>().unwrap(), plain);
        let colons = plain.to_colon_hex();
        assert!(colons.starts_with("01:23:45:67:89:AB:CD:EF:"));
        assert_eq!(colons.parse::<Fingerprint>().unwrap(), plain);
        assert_eq!(
            format!("sha256/{colons}").parse::<Fingerprint>().unwrap(),
            plain
        );
        assert_eq!(format!("  {HEX}\n").parse::<Fingerprint>().unwrap(), plain);
    }

    #[test]
    fn rejects_malformed_text() {
        for bad in [
            "",
            "sha256/",
            &HEX[..62],
            &format!("{HEX}00"),
            &HEX.replace('a', "g"),
            "01:2:34",
            &format!("sha1/{HEX}"),
        ] {
            assert!(
                matches!(
                    bad.parse::<Fingerprint>(),
                    Err(FingerprintError::Invalid { .. })
                ),
                "{bad:?} must not parse"
            );
        }
    }

    #[test]
    fn fingerprint_is_sha256_of_der() {
        let der = CertificateDer::from(b"not really a certificate".to_vec());
        let fp = Fingerprint::of(&der);
        assert_eq!(
            fp.as_bytes(),
            &<[u8; 32]>::from(Sha256::digest(b"not really a certificate"))
        );
        assert!(fp.matches(&der));
        assert!(!fp.matches(&CertificateDer::from(b"other".to_vec())));
    }
}
