//! Revision IDs: `"<generation>-<hex digest>"`.

use std::cmp::Ordering;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

/// The longest digest accepted, in hex characters (a SHA-512 would be 128).
pub const MAX_DIGEST_HEX_LEN: usize = 128;

/// Why a string is not a revision ID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevIdError {
    /// The string has no `-` separating generation and digest.
    #[error("revision ID {0:?} has no '-' between generation and digest")]
    MissingSeparator(String),
    /// The generation is not a decimal number.
    #[error("revision ID {0:?} has a generation that is not a decimal number")]
    BadGeneration(String),
    /// The generation is zero; generations start at 1.
    #[error("revision ID {0:?} has generation 0; generations start at 1")]
    ZeroGeneration(String),
    /// The generation does not fit in 64 bits.
    #[error("revision ID {0:?} has a generation that overflows 64 bits")]
    GenerationOverflow(String),
    /// The digest is empty, not hex, of odd length, or too long.
    #[error("revision ID {0:?} has a digest that is not 1..=64 bytes of hex")]
    BadDigest(String),
}

/// A revision ID such as `1-6b1ccd815504bdc118033214b67018360704b84f`.
///
/// Revision IDs are opaque on the wire: a parsed ID keeps its exact text, so it is sent back
/// byte for byte as it arrived. Ordering is by generation, then by the digest's bytes as written
/// (the byte-wise comparison of DESIGN §2's winner rule).
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct RevId {
    generation: u64,
    /// Shared: revision IDs are cloned far more often than built (trees, plans, events).
    text: Arc<str>,
    /// Index of the first digest character in `text`.
    digest_at: u8,
}

impl RevId {
    /// Parses and validates a revision ID.
    pub fn parse(s: &str) -> Result<Self, RevIdError> {
        let (gen_text, digest) = s
            .split_once('-')
            .ok_or_else(|| RevIdError::MissingSeparator(s.to_owned()))?;
        if gen_text.is_empty()
            || gen_text.len() > 20
            || !gen_text.bytes().all(|b| b.is_ascii_digit())
            || (gen_text.len() > 1 && gen_text.starts_with('0'))
        {
            return Err(RevIdError::BadGeneration(s.to_owned()));
        }
        // Digits only (checked above), so only an overflow can fail.
        let generation = gen_text
            .bytes()
            .try_fold(0u64, |n, d| {
                n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
            })
            .ok_or_else(|| RevIdError::GenerationOverflow(s.to_owned()))?;
        if generation == 0 {
            return Err(RevIdError::ZeroGeneration(s.to_owned()));
        }
        // Every byte is checked without an early exit, which the compiler can vectorise: revision
        // IDs are parsed for every node of every revision tree read.
        let all_hex = digest
            .bytes()
            .fold(true, |ok, b| ok & b.is_ascii_hexdigit());
        if digest.is_empty()
            || digest.len() > MAX_DIGEST_HEX_LEN
            || digest.len() % 2 != 0
            || !all_hex
        {
            return Err(RevIdError::BadDigest(s.to_owned()));
        }
        Ok(RevId {
            generation,
            text: s.into(),
            // At most 20 digits, so the index fits in a byte.
            digest_at: (gen_text.len() + 1) as u8,
        })
    }

    /// Builds a revision ID from a generation and a digest, written in lowercase hex.
    ///
    /// # Panics
    /// If `generation` is 0 or the digest is empty or longer than 64 bytes: those are
    /// programming errors, never data from the wire.
    pub fn from_digest(generation: u64, digest: &[u8]) -> Self {
        assert!(generation > 0, "revision generations start at 1");
        assert!(
            !digest.is_empty() && digest.len() * 2 <= MAX_DIGEST_HEX_LEN,
            "digest must be 1..=64 bytes"
        );
        let mut text = generation.to_string();
        let digest_at = text.len() + 1;
        text.push('-');
        for b in digest {
            text.push(char::from(HEX[usize::from(b >> 4)]));
            text.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
        RevId {
            generation,
            text: text.into(),
            digest_at: digest_at as u8,
        }
    }

    /// The generation: 1 for a document's first revision, parent + 1 after.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    /// The digest part, as written (hex).
    pub fn digest_hex(&self) -> &str {
        &self.text[usize::from(self.digest_at)..]
    }

    /// The whole ID as text, exactly as parsed or built.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The generation a child of this revision has, or `None` if it would overflow.
    pub fn child_generation(&self) -> Option<u64> {
        self.generation.checked_add(1)
    }
}

const HEX: &[u8; 16] = b"0123456789abcdef";

impl Ord for RevId {
    fn cmp(&self, other: &Self) -> Ordering {
        self.generation.cmp(&other.generation).then_with(|| {
            self.digest_hex()
                .as_bytes()
                .cmp(other.digest_hex().as_bytes())
        })
    }
}

impl PartialOrd for RevId {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for RevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl fmt::Debug for RevId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RevId({})", self.text)
    }
}

impl FromStr for RevId {
    type Err = RevIdError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        RevId::parse(s)
    }
}

impl AsRef<str> for RevId {
    fn as_ref(&self) -> &str {
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn parses_and_formats() {
        let r = RevId::parse("12-00ff").unwrap();
        assert_eq!(r.generation(), 12);
        assert_eq!(r.digest_hex(), "00ff");
        assert_eq!(r.to_string(), "12-00ff");
        assert_eq!(RevId::from_digest(12, &[0x00, 0xff]), r);
    }

    #[test]
    fn rejects_garbage_with_the_reason() {
        assert!(matches!(
            RevId::parse("abc"),
            Err(RevIdError::MissingSeparator(_))
        ));
        assert!(matches!(
            RevId::parse("-ab"),
            Err(RevIdError::BadGeneration(_))
        ));
        assert!(matches!(
            RevId::parse("x1-ab"),
            Err(RevIdError::BadGeneration(_))
        ));
        assert!(matches!(
            RevId::parse("01-ab"),
            Err(RevIdError::BadGeneration(_))
        ));
        assert!(matches!(
            RevId::parse("+1-ab"),
            Err(RevIdError::BadGeneration(_))
        ));
        assert!(matches!(
            RevId::parse("0-ab"),
            Err(RevIdError::ZeroGeneration(_))
        ));
        assert!(matches!(
            RevId::parse("18446744073709551616-ab"),
            Err(RevIdError::GenerationOverflow(_))
        ));
        assert!(matches!(RevId::parse("1-"), Err(RevIdError::BadDigest(_))));
        assert!(matches!(
            RevId::parse("1-abc"),
            Err(RevIdError::BadDigest(_))
        ));
        assert!(matches!(
            RevId::parse("1-zz"),
            Err(RevIdError::BadDigest(_))
        ));
        assert!(matches!(
            RevId::parse("1-ab-cd"),
            Err(RevIdError::BadDigest(_))
        ));
        let long = format!("1-{}", "a".repeat(130));
        assert!(matches!(RevId::parse(&long), Err(RevIdError::BadDigest(_))));
    }

    #[test]
    fn max_generation_has_no_child() {
        let r = RevId::parse("18446744073709551615-ab").unwrap();
        assert_eq!(r.child_generation(), None);
        assert_eq!(RevId::parse("1-ab").unwrap().child_generation(), Some(2));
    }

    #[test]
    fn orders_by_generation_then_digest_bytes() {
        let a = RevId::parse("2-ff").unwrap();
        let b = RevId::parse("10-00").unwrap();
        let c = RevId::parse("10-01").unwrap();
        assert!(a < b, "generation is numeric, not textual");
        assert!(b < c);
    }

    proptest! {
        #[test]
        fn from_digest_round_trips(generation in 1u64.., digest in proptest::collection::vec(any::<u8>(), 1..64)) {
            let r = RevId::from_digest(generation, &digest);
            let parsed = RevId::parse(r.as_str()).unwrap();
            prop_assert_eq!(&parsed, &r);
            prop_assert_eq!(parsed.generation(), generation);
        }

        #[test]
        fn parse_never_panics(s in "\\PC*") {
            let _ = RevId::parse(&s);
        }
    }
}
