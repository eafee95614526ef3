//! Blobs: binary attachments stored by digest and referenced from document bodies.
//!
//! A document body never holds raw bytes. Binary data lives in a *blob*, stored once per
//! database under its content address (the SHA-1 of its bytes, [`BlobDigest`]), and a body
//! refers to it with a map written exactly as Couchbase Lite writes one:
//!
//! ```json
//! {"@type": "blob", "digest": "sha1-hqjN9QypF19sYikSwKaKZmSklwA=", "length": 3000,
//!  "content_type": "image/jpeg"}
//! ```
//!
//! [`BlobRef`] is that map's typed form; [`blob_refs`] walks a body and finds every reference in
//! it (at any depth, in arrays too). The digest's text form is `sha1-` followed by the standard
//! base64 (with padding) of the 20 digest bytes ([`digest_to_string`], [`parse_digest`]).
//!
//! The [`Database`](crate::db::Database) saves and reads blobs (streaming), and compaction
//! removes the blobs no kept revision references; replication fetches a received revision's
//! missing blobs with `getAttachment` before storing it (see `docs/PROTOCOL.md`).

use std::collections::BTreeMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha1::{Digest as _, Sha1};

pub use crate::store::BlobDigest;
use crate::value::{Map, Value};

/// The key whose value marks a map as a blob reference.
pub const BLOB_TYPE_KEY: &str = "@type";

/// The value of the [`BLOB_TYPE_KEY`] key that marks a map as a blob reference.
pub const BLOB_TYPE: &str = "blob";

/// The prefix of a digest's text form.
const DIGEST_PREFIX: &str = "sha1-";

/// A reference to a blob inside a document body.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobRef {
    /// The SHA-1 of the blob's bytes.
    pub digest: BlobDigest,
    /// The blob's length in bytes.
    pub length: u64,
    /// The MIME type, if known (`content_type`).
    pub content_type: Option<String>,
}

impl BlobRef {
    /// The map a body holds for this blob:
    /// `{"@type": "blob", "digest": "sha1-…", "length": n, "content_type": "…"}`.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        map.insert(BLOB_TYPE_KEY.into(), Value::from(BLOB_TYPE));
        map.insert("digest".into(), Value::from(digest_to_string(&self.digest)));
        map.insert("length".into(), Value::from(self.length));
        if let Some(content_type) = &self.content_type {
            map.insert("content_type".into(), Value::from(content_type.as_str()));
        }
        Value::Object(map)
    }

    /// The reference a map holds: `Ok(None)` if the map is not a blob reference (its `@type`
    /// is not `"blob"`), an error if it claims to be one but is malformed.
    pub fn from_map(map: &Map) -> Result<Option<BlobRef>, BlobError> {
        if map.get(BLOB_TYPE_KEY).and_then(Value::as_str) != Some(BLOB_TYPE) {
            return Ok(None);
        }
        let digest = match map.get("digest") {
            Some(Value::String(text)) => parse_digest(text)?,
            Some(_) => return Err(BlobError::bad_reference("`digest` is not a string")),
            None => return Err(BlobError::bad_reference("`digest` is missing")),
        };
        let length = match map.get("length") {
            Some(v) => v.as_u64().ok_or_else(|| {
                BlobError::bad_reference("`length` is not a non-negative integer")
            })?,
            None => return Err(BlobError::bad_reference("`length` is missing")),
        };
        let content_type = match map.get("content_type") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => return Err(BlobError::bad_reference("`content_type` is not a string")),
        };
        Ok(Some(BlobRef {
            digest,
            length,
            content_type,
        }))
    }
}

/// Every blob a body references, once per digest, in digest order. A map marked
/// `"@type": "blob"` that is malformed is an error (a body must not carry a reference nobody
/// can resolve). Two references to one digest with different lengths are an error too.
pub fn blob_refs(body: &Value) -> Result<Vec<BlobRef>, BlobError> {
    let mut found = BTreeMap::new();
    collect(body, &mut found)?;
    Ok(found.into_values().collect())
}

fn collect(value: &Value, found: &mut BTreeMap<BlobDigest, BlobRef>) -> Result<(), BlobError> {
    match value {
        Value::Object(map) => {
            if let Some(blob) = BlobRef::from_map(map)? {
                if let Some(seen) = found.get(&blob.digest)
                    && seen.length != blob.length
                {
                    return Err(BlobError::bad_reference(
                        "two references to one digest give different lengths",
                    ));
                }
                found.entry(blob.digest).or_insert(blob);
                return Ok(());
            }
            map.values().try_for_each(|v| collect(v, found))
        }
        Value::Array(items) => items.iter().try_for_each(|v| collect(v, found)),
        _ => Ok(()),
    }
}

/// The text form of a digest: `sha1-<base64>`.
pub fn digest_to_string(digest: &BlobDigest) -> String {
    format!("{DIGEST_PREFIX}{}", STANDARD.encode(digest))
}

/// Parses a digest's text form (`sha1-<base64 of 20 bytes>`).
pub fn parse_digest(text: &str) -> Result<BlobDigest, BlobError> {
    let bad = |reason: &str| BlobError::BadDigest {
        digest: text.chars().take(100).collect(),
        reason: reason.to_owned(),
    };
    let encoded = text
        .strip_prefix(DIGEST_PREFIX)
        .ok_or_else(|| bad("it does not start with \"sha1-\""))?;
    let bytes = STANDARD
        .decode(encoded)
        .map_err(|_| bad("it is not valid base64"))?;
    bytes
        .try_into()
        .map_err(|_| bad("it does not hold 20 bytes"))
}

/// SHA-1 and length of bytes fed in pieces: how a blob's digest is computed on the way in.
#[derive(Debug, Clone, Default)]
pub struct BlobHasher {
    sha: Sha1,
    length: u64,
}

impl BlobHasher {
    /// A hasher that has seen nothing.
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
        self.length += bytes.len() as u64;
    }

    /// Bytes fed so far.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// The digest of everything fed.
    pub fn finish(self) -> BlobDigest {
        self.sha.finalize().into()
    }
}

/// The digest of `bytes`.
pub fn digest_of(bytes: &[u8]) -> BlobDigest {
    Sha1::digest(bytes).into()
}

/// The answer to `proveAttachment`, computed as LiteCore does: `sha1-<base64>` of the SHA-1
/// over the nonce's length (one byte), the nonce, then the blob's bytes.
#[derive(Debug, Clone)]
pub struct AttachmentProof {
    sha: Sha1,
}

impl AttachmentProof {
    /// Starts a proof for `nonce`, which must be 1 to 255 bytes long.
    pub fn new(nonce: &[u8]) -> Result<Self, BlobError> {
        let len = u8::try_from(nonce.len())
            .ok()
            .filter(|n| *n > 0)
            .ok_or(BlobError::BadNonce { len: nonce.len() })?;
        let mut sha = Sha1::new();
        sha.update([len]);
        sha.update(nonce);
        Ok(AttachmentProof { sha })
    }

    /// Feeds the blob's next bytes.
    pub fn update(&mut self, bytes: &[u8]) {
        self.sha.update(bytes);
    }

    /// The proof's text form.
    pub fn finish(self) -> String {
        digest_to_string(&self.sha.finalize().into())
    }
}

/// What is wrong with a blob, a blob reference or a blob transfer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BlobError {
    /// A digest's text is not `sha1-` and the base64 of 20 bytes.
    #[error("bad blob digest {digest:?}: {reason}")]
    BadDigest {
        /// The text (truncated to 100 characters).
        digest: String,
        /// What is wrong.
        reason: String,
    },
    /// A map marked `"@type": "blob"` is not a valid blob reference.
    #[error("bad blob reference: {0}")]
    BadReference(String),
    /// Received bytes do not hash to the digest they were announced under.
    #[error("blob {expected} arrived with digest {actual}: the bytes are corrupt")]
    DigestMismatch {
        /// The announced digest.
        expected: String,
        /// The digest of the bytes that arrived.
        actual: String,
    },
    /// A blob's bytes are not as long as its reference says.
    #[error("blob {digest} is {actual} bytes long, its reference says {expected}")]
    LengthMismatch {
        /// The blob's digest.
        digest: String,
        /// The length in the reference.
        expected: u64,
        /// The length that arrived (so far, if more than expected).
        actual: u64,
    },
    /// A blob is larger than the configured limit.
    #[error("blob is {length} bytes, more than the limit of {max}")]
    TooLarge {
        /// Its length (so far).
        length: u64,
        /// The limit (`DatabaseConfig::max_blob_size`).
        max: u64,
    },
    /// A blob is not stored here.
    #[error("blob {0} is not stored here")]
    NotFound(String),
    /// Reading a blob's bytes from their source failed, or the writer had already failed.
    #[error("reading the blob failed: {0}")]
    Read(String),
    /// A `proveAttachment` nonce is empty or longer than 255 bytes.
    #[error("a proveAttachment nonce must be 1 to 255 bytes, not {len}")]
    BadNonce {
        /// The nonce's length.
        len: usize,
    },
}

impl BlobError {
    fn bad_reference(reason: &str) -> Self {
        BlobError::BadReference(reason.to_owned())
    }
}

#[cfg(test)]
mod tests;
