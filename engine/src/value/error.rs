//! Why bytes are not a [`Value`](super::Value), or a float is not a number of the model.

/// Why JSON or CBOR input could not be turned into a [`Value`](super::Value).
///
/// Offsets are byte positions in the CBOR input where the offending item starts.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ValueError {
    /// The JSON text is malformed: bad syntax, invalid UTF-8, trailing characters, or a number
    /// too large for an `f64`.
    #[error("invalid JSON: {0}")]
    Json(String),
    /// A float is NaN or infinite; the data model holds finite floats only.
    #[error("non-finite float (NaN or infinity): the data model holds finite floats only")]
    NonFiniteFloat,
    /// Arrays and maps are nested deeper than the decoder's limit.
    #[error("nesting deeper than the limit of {limit} arrays/maps")]
    DepthLimitExceeded {
        /// The limit in force (number of nested arrays and maps allowed).
        limit: usize,
    },
    /// The CBOR input ends in the middle of an item.
    #[error("CBOR input truncated at byte {offset}")]
    Truncated {
        /// Where the incomplete item's missing bytes were expected.
        offset: usize,
    },
    /// A CBOR string, array or map declares more elements or bytes than the input still holds.
    #[error("CBOR item at byte {offset} declares length {length}, more than the input holds")]
    LengthExceedsInput {
        /// Where the item starts.
        offset: usize,
        /// The declared length (bytes for strings, elements for arrays, entries for maps).
        length: u64,
    },
    /// Bytes follow the single top-level CBOR item.
    #[error("trailing bytes after the CBOR item, from byte {offset}")]
    TrailingBytes {
        /// Where the first trailing byte is.
        offset: usize,
    },
    /// The CBOR is not well-formed (reserved additional information, a misplaced "break",
    /// an indefinite-length string with a chunk of another type, ...).
    #[error("malformed CBOR at byte {offset}: {reason}")]
    Malformed {
        /// Where the offending byte is.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A CBOR byte string (major type 2): bodies never hold raw bytes (binary data is a blob).
    #[error("CBOR byte string at byte {offset}: document bodies never hold raw bytes")]
    ByteString {
        /// Where the byte string starts.
        offset: usize,
    },
    /// A CBOR tag (major type 6): the data model has no tagged items.
    #[error("CBOR tag {tag} at byte {offset}: the data model has no tags")]
    Tag {
        /// Where the tag starts.
        offset: usize,
        /// The tag number.
        tag: u64,
    },
    /// A CBOR simple value other than `false`, `true` and `null` (such as `undefined`).
    #[error("CBOR simple value {value} at byte {offset}: only false, true and null exist")]
    SimpleValue {
        /// Where the simple value starts.
        offset: usize,
        /// The simple value's number (23 is `undefined`).
        value: u8,
    },
    /// A CBOR map key is not a text string.
    #[error("CBOR map key at byte {offset} is not a text string")]
    NonTextKey {
        /// Where the key starts.
        offset: usize,
    },
    /// A CBOR map holds the same key twice.
    #[error("CBOR map key {key:?} appears twice")]
    DuplicateKey {
        /// The repeated key.
        key: String,
    },
    /// A CBOR negative integer is below `i64::MIN`.
    #[error("CBOR integer at byte {offset} is below i64::MIN")]
    IntegerOutOfRange {
        /// Where the integer starts.
        offset: usize,
    },
    /// A CBOR text string is not valid UTF-8.
    #[error("CBOR text string at byte {offset} is not valid UTF-8")]
    InvalidUtf8 {
        /// Where the string starts.
        offset: usize,
    },
    /// Well-formed CBOR of the data model that is not in core deterministic encoding
    /// (RFC 8949 §4.2.1), reported by the deterministic checks only.
    #[error("CBOR at byte {offset} is not deterministic: {reason}")]
    NotDeterministic {
        /// Where the offending item starts.
        offset: usize,
        /// Which rule it breaks.
        reason: &'static str,
    },
}
