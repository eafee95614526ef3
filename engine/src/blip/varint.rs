//! Unsigned LEB128 varints, as BLIP writes message numbers, flags, property lengths and ACK counts.
//!
//! Seven bits per byte, least significant group first; the high bit of a byte says another byte
//! follows. A `u64` needs at most [`MAX_LEN`] bytes.

/// The longest varint that can hold a `u64`.
pub const MAX_LEN: usize = 10;

/// Why bytes are not a varint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum VarintError {
    /// The input ended while a byte still announced a continuation.
    #[error("truncated varint")]
    Truncated,
    /// The value does not fit in 64 bits (or the varint is longer than 10 bytes).
    #[error("varint overflows 64 bits")]
    Overflow,
}

/// Appends the varint encoding of `value` to `out`.
pub fn encode(mut value: u64, out: &mut Vec<u8>) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

/// The number of bytes [`encode`] writes for `value`.
#[must_use]
pub fn encoded_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Decodes one varint at the start of `input`: the value and how many bytes it used.
///
/// Non-minimal encodings (such as `80 00` for zero) are accepted, as LEB128 decoders usually do.
pub fn decode(input: &[u8]) -> Result<(u64, usize), VarintError> {
    let mut value: u64 = 0;
    for (i, &byte) in input.iter().enumerate() {
        if i == MAX_LEN - 1 && byte > 1 {
            // The tenth byte holds bit 63 only.
            return Err(VarintError::Overflow);
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok((value, i + 1));
        }
    }
    Err(VarintError::Truncated)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enc(v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        encode(v, &mut out);
        out
    }

    #[test]
    fn known_encodings() {
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(1), [0x01]);
        assert_eq!(enc(127), [0x7f]);
        assert_eq!(enc(128), [0x80, 0x01]);
        assert_eq!(enc(300), [0xac, 0x02]);
        // 65437, the first ACK count in the LiteCore `big` recording (`9d ff 03`).
        assert_eq!(enc(65437), [0x9d, 0xff, 0x03]);
        assert_eq!(enc(u64::MAX).len(), MAX_LEN);
        assert_eq!(decode(&enc(u64::MAX)), Ok((u64::MAX, MAX_LEN)));
    }

    #[test]
    fn truncation_and_overflow_are_detected() {
        assert_eq!(decode(&[]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0x80]), Err(VarintError::Truncated));
        assert_eq!(decode(&[0xff, 0xff]), Err(VarintError::Truncated));
        let mut too_big = vec![0xff; 9];
        too_big.push(0x02);
        assert_eq!(decode(&too_big), Err(VarintError::Overflow));
        assert_eq!(decode(&[0x80; 11]), Err(VarintError::Overflow));
    }

    #[test]
    fn trailing_bytes_are_left_alone() {
        assert_eq!(decode(&[0xac, 0x02, 0xff]), Ok((300, 2)));
        assert_eq!(decode(&[0x80, 0x00]), Ok((0, 2)));
    }

    proptest! {
        #[test]
        fn round_trips(v in any::<u64>(), tail in proptest::collection::vec(any::<u8>(), 0..4)) {
            let mut bytes = enc(v);
            prop_assert_eq!(bytes.len(), encoded_len(v));
            bytes.extend_from_slice(&tail);
            prop_assert_eq!(decode(&bytes), Ok((v, encoded_len(v))));
        }

        #[test]
        fn every_strict_prefix_is_truncated(v in any::<u64>()) {
            let bytes = enc(v);
            for cut in 0..bytes.len() {
                prop_assert_eq!(decode(&bytes[..cut]), Err(VarintError::Truncated));
            }
        }

        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..16)) {
            if let Ok((v, used)) = decode(&bytes) {
                prop_assert!(used <= MAX_LEN && used <= bytes.len());
                // Re-decoding the minimal encoding gives the same value.
                prop_assert_eq!(decode(&enc(v)).map(|(v, _)| v), Ok(v));
            }
        }
    }
}
