//! Why a delta could not be applied.

use crate::value::{Value, ValueError};

/// Why [`apply`](super::apply) refused a delta.
///
/// Every malformed delta is one of these, never a panic. The Fleece message each variant
/// corresponds to (`JSONDelta.cc`) is noted where there is one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DeltaError {
    /// The delta's bytes are not JSON (or CBOR) of the data model.
    #[error("the delta is not a valid encoded value: {0}")]
    Decode(ValueError),
    /// The delta patches objects and arrays nested deeper than the limit.
    #[error("the delta is nested deeper than the limit of {limit} levels")]
    DepthLimitExceeded {
        /// The limit in force.
        limit: usize,
    },
    /// A deletion (`[]` or `[old, 0, 0]`) of a key the old object does not have (Fleece:
    /// "Invalid deletion in delta").
    #[error("the delta deletes the key {key:?}, which the old object does not have")]
    DeletionOfMissingKey {
        /// The key.
        key: String,
    },
    /// A deletion (`[]` or `[old, 0, 0]`) where no key can be deleted: the whole document or an
    /// array item (Fleece would write an `undefined` value, outside the data model).
    #[error("the delta deletes the whole value or an array item; only object keys can be deleted")]
    DeletionOutsideObject,
    /// A JsonDiffPatch replacement `[old, new]` of a value that does not exist (Fleece:
    /// "Invalid replace in delta").
    #[error("the delta replaces ([old, new]) the key {key:?}, which the old object does not have")]
    ReplacementOfMissingKey {
        /// The key.
        key: String,
    },
    /// A non-empty object delta (`{...}`) against a value that is neither an object nor an
    /// array, or against a key the old object does not have (Fleece: "Invalid {...} in delta").
    #[error("an object delta {{...}} applies only to an existing object or array")]
    ObjectDeltaOnScalar,
    /// An array delta with a length other than 0 (delete), 1 (replace), 2 (`[old, new]`) or 3
    /// (`[x, 0, code]`) (Fleece: "Bad array count in delta").
    #[error("an array delta has {len} items; only 0 to 3 are meaningful")]
    BadArrayLength {
        /// The array's length.
        len: usize,
    },
    /// A three-item array delta whose format code (third item) is neither 0 (deletion) nor 2
    /// (text diff); 3 (JsonDiffPatch array move) is not supported by Fleece either (Fleece:
    /// "Unknown mode in delta").
    #[error("unknown delta format code {code}")]
    UnknownFormatCode {
        /// The third item as found.
        code: Value,
    },
    /// A text diff (`["patch", 0, 2]`) against a value that is not a string, or against a key
    /// the old object does not have (Fleece: "Invalid text replace in delta").
    #[error("a text diff applies only to an existing string")]
    TextDiffOnNonString,
    /// The text diff's patch is not a non-empty string of `n=`, `n-` and `n+bytes|` operations
    /// (Fleece: "Invalid text diff", "Unknown op" or "Missing insertion delimiter in text delta").
    #[error("malformed text diff at byte {offset}: {reason}")]
    MalformedTextDiff {
        /// Where in the patch string the problem is.
        offset: usize,
        /// What is wrong.
        reason: &'static str,
    },
    /// A text diff's `n=` or `n-` runs past the end of the old string (Fleece: "Invalid length
    /// in text delta").
    #[error("a text diff reaches byte {end} of a {len}-byte string")]
    TextDiffOutOfRange {
        /// The byte position the operation would reach.
        end: usize,
        /// The old string's length in bytes.
        len: usize,
    },
    /// A text diff's operations cover fewer bytes than the old string holds (Fleece: "Length
    /// mismatch in text delta").
    #[error("a text diff covers {covered} bytes of a {len}-byte string")]
    TextDiffLengthMismatch {
        /// The bytes the operations consumed.
        covered: usize,
        /// The old string's length in bytes.
        len: usize,
    },
    /// A text diff cuts a UTF-8 character, so its result is not a string.
    #[error("a text diff's result is not valid UTF-8")]
    TextDiffInvalidUtf8,
    /// A key of an array delta is neither a decimal index (`"3"`) nor a remainder (`"3-"`), or
    /// is not in canonical form (`"03"`), or a second remainder.
    #[error("invalid array delta key {key:?}")]
    InvalidArrayKey {
        /// The key.
        key: String,
    },
    /// An array delta's index is past the old array's end, or at or after the remainder's
    /// start; or the remainder starts past the old array's end.
    #[error("array delta index {index} is out of range (limit {limit})")]
    ArrayIndexOutOfRange {
        /// The index in the key.
        index: usize,
        /// The first index not allowed.
        limit: usize,
    },
    /// The value of an array delta's remainder key (`"n-"`) is not an array (Fleece: "Invalid
    /// array remainder in delta").
    #[error("array delta remainder {key:?} is not an array")]
    RemainderNotArray {
        /// The key.
        key: String,
    },
}
