//! Revision digests: how Ferry makes a new revision ID.
//!
//! The structure is LiteCore's (Couchbase Lite 3.x, rev-tree versioning); the body encoding is
//! Ferry's deterministic CBOR instead of Fleece:
//!
//! ```text
//! digest = SHA-1( u8 len(parent) ‖ parent ‖ u8 deleted ‖ body )
//! revid  = "<generation>-<lowercase hex digest>"
//! ```
//!
//! - `parent` is the parent revision ID's text exactly as held (ASCII, e.g. `1-6b1c…`); with no
//!   parent its length byte is `0` and no text follows;
//! - `deleted` is `1` for a deletion (tombstone), else `0`;
//! - `body` is the body's RFC 8949 core deterministic CBOR ([`Value::to_cbor`]). A deletion
//!   hashes the empty map (`a0`), whatever body is passed: the body of a tombstone is not part
//!   of its identity, as in LiteCore (which hashes an empty Fleece dict);
//! - `generation` is the parent's generation + 1, or 1 without a parent.
//!
//! Consequences: the document ID is not hashed (the same edit of the same parent gives the same
//! ID on any document and any peer), map key order never matters, and `1` and `1.0` give
//! different IDs. See `docs/PROTOCOL.md`, section "Revision IDs".

use sha1::{Digest, Sha1};

use super::RevId;
use crate::value::{Value, ValueError, check_deterministic_cbor};

/// The deterministic CBOR of the empty map, hashed as the body of every deletion.
pub const DELETED_BODY_CBOR: &[u8] = &[0xa0];

/// Why a revision ID could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The parent already has the largest generation; a child's would overflow 64 bits.
    #[error("parent revision {parent} has the largest generation: a child's would overflow")]
    GenerationOverflow {
        /// The parent revision ID.
        parent: RevId,
    },
    /// The parent revision ID is longer than 255 bytes, so its length does not fit the length
    /// byte (cannot happen with IDs [`RevId::parse`] accepts; kept for safety).
    #[error("parent revision ID is {len} bytes long; at most 255 can be hashed")]
    ParentTooLong {
        /// The parent ID's length in bytes.
        len: usize,
    },
    /// The body bytes given as CBOR are not one deterministic CBOR item of the data model.
    #[error("revision body is not deterministic CBOR of the data model: {0}")]
    BodyNotDeterministic(#[source] ValueError),
}

/// Makes the ID of a new revision: a child of `parent` (or a document's first revision), a
/// deletion or not, with `body` (ignored for a deletion, which hashes the empty map).
pub fn new_rev_id(
    parent: Option<&RevId>,
    deleted: bool,
    body: &Value,
) -> Result<RevId, DigestError> {
    if deleted {
        return digest(parent, true, DELETED_BODY_CBOR);
    }
    let mut cbor = Vec::with_capacity(128);
    body.write_cbor(&mut cbor);
    digest(parent, false, &cbor)
}

/// Like [`new_rev_id`], for a body already in deterministic CBOR (as stored). The bytes are
/// checked, without allocating, to be deterministic CBOR of the data model nested at most
/// [`MAX_DEPTH_CEILING`](crate::value::MAX_DEPTH_CEILING) deep
/// ([`DigestError::BodyNotDeterministic`] otherwise), because peers only converge on IDs made
/// from identical bytes. A deletion ignores `body_cbor` (not even checking it) and hashes the
/// empty map.
pub fn new_rev_id_from_cbor(
    parent: Option<&RevId>,
    deleted: bool,
    body_cbor: &[u8],
) -> Result<RevId, DigestError> {
    if deleted {
        return digest(parent, true, DELETED_BODY_CBOR);
    }
    check_deterministic_cbor(body_cbor).map_err(DigestError::BodyNotDeterministic)?;
    digest(parent, false, body_cbor)
}

fn digest(parent: Option<&RevId>, deleted: bool, body: &[u8]) -> Result<RevId, DigestError> {
    let (generation, parent_text) = match parent {
        None => (1, ""),
        Some(p) => {
            let generation = p
                .child_generation()
                .ok_or_else(|| DigestError::GenerationOverflow { parent: p.clone() })?;
            (generation, p.as_str())
        }
    };
    let len = u8::try_from(parent_text.len()).map_err(|_| DigestError::ParentTooLong {
        len: parent_text.len(),
    })?;
    let mut sha = Sha1::new();
    sha.update([len]);
    sha.update(parent_text.as_bytes());
    sha.update([u8::from(deleted)]);
    sha.update(body);
    Ok(RevId::from_digest(generation, &sha.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::testing::arb_value;
    use proptest::prelude::*;

    fn rev(s: &str) -> RevId {
        RevId::parse(s).unwrap()
    }

    #[test]
    fn hashes_the_documented_bytes() {
        // {"a":1} with no parent: SHA-1(00 ‖ 00 ‖ a1 61 61 01).
        let body = Value::object([("a", 1)]);
        let expected = Sha1::digest([0x00, 0x00, 0xa1, 0x61, 0x61, 0x01]);
        let id = new_rev_id(None, false, &body).unwrap();
        assert_eq!(id, RevId::from_digest(1, &expected));
        assert_eq!(id.digest_hex().len(), 40);

        // A child: SHA-1(len ‖ parent text ‖ 00 ‖ cbor).
        let mut input = vec![id.as_str().len() as u8];
        input.extend_from_slice(id.as_str().as_bytes());
        input.extend_from_slice(&[0x00, 0xa1, 0x61, 0x61, 0x02]);
        let child = new_rev_id(Some(&id), false, &Value::object([("a", 2)])).unwrap();
        assert_eq!(child, RevId::from_digest(2, &Sha1::digest(&input)));
        assert!(child > id);
    }

    #[test]
    fn the_worked_examples_of_docs_revision_ids() {
        let body = |n: i32| Value::object([("a", n)]);
        assert_eq!(
            new_rev_id(None, false, &body(1)).unwrap().as_str(),
            "1-6079262b85c7f72a6abac3055f17ae259df6a9a2"
        );
        let parent = rev("1-6b1ccd815504bdc118033214b67018360704b84f");
        assert_eq!(
            new_rev_id(Some(&parent), false, &body(2)).unwrap().as_str(),
            "2-9bf9b8eecf347216f105908d186b890cccc716c3"
        );
        assert_eq!(
            new_rev_id(Some(&parent), true, &body(2)).unwrap().as_str(),
            "2-a2246b3a333cae6c9e3323e312d8df9d3a1a8389"
        );
        let keys = Value::object([("b", 1), ("aa", 2), ("", 3)]);
        assert_eq!(
            keys.to_cbor(),
            [0xa3, 0x60, 0x03, 0x61, 0x62, 0x01, 0x62, 0x61, 0x61, 0x02]
        );
    }

    #[test]
    fn a_deletion_hashes_the_empty_map_whatever_the_body() {
        let parent = rev("3-30b16fec190c3b6b81e4d0e0e5b5dc3e7c0ad1a2");
        let mut input = vec![parent.as_str().len() as u8];
        input.extend_from_slice(parent.as_str().as_bytes());
        input.extend_from_slice(&[0x01, 0xa0]);
        let expected = RevId::from_digest(4, &Sha1::digest(&input));
        for body in [
            Value::empty_object(),
            Value::Null,
            Value::object([("x", 1)]),
        ] {
            assert_eq!(new_rev_id(Some(&parent), true, &body), Ok(expected.clone()));
        }
        assert_eq!(
            new_rev_id_from_cbor(Some(&parent), true, b"garbage"),
            Ok(expected.clone())
        );
        // Not the same as a live revision with an empty body.
        assert_ne!(
            new_rev_id(Some(&parent), false, &Value::empty_object()),
            Ok(expected)
        );
    }

    #[test]
    fn one_and_one_point_zero_give_different_ids() {
        let int = new_rev_id(None, false, &Value::object([("f", Value::from(1))])).unwrap();
        let float = new_rev_id(
            None,
            false,
            &Value::object([("f", Value::float(1.0).unwrap())]),
        )
        .unwrap();
        assert_ne!(int, float);
    }

    #[test]
    fn generation_overflow_is_an_error() {
        let top = rev("18446744073709551615-ab");
        assert_eq!(
            new_rev_id(Some(&top), false, &Value::Null),
            Err(DigestError::GenerationOverflow {
                parent: top.clone()
            })
        );
        assert_eq!(
            new_rev_id_from_cbor(Some(&top), true, &[]),
            Err(DigestError::GenerationOverflow { parent: top })
        );
    }

    #[test]
    fn cbor_bodies_must_be_deterministic() {
        // {"a":1} with a two-byte integer head: well-formed, not deterministic.
        let sloppy = [0xa1, 0x61, 0x61, 0x18, 0x01];
        assert!(matches!(
            new_rev_id_from_cbor(None, false, &sloppy),
            Err(DigestError::BodyNotDeterministic(
                ValueError::NotDeterministic { offset: 3, .. }
            ))
        ));
        assert!(matches!(
            new_rev_id_from_cbor(None, false, &[0x40]),
            Err(DigestError::BodyNotDeterministic(ValueError::ByteString {
                offset: 0
            }))
        ));
        assert!(matches!(
            new_rev_id_from_cbor(None, false, &[0xa1]),
            Err(DigestError::BodyNotDeterministic(
                ValueError::LengthExceedsInput { .. }
            ))
        ));
    }

    #[test]
    fn both_variants_accept_bodies_nested_to_the_decoders_ceiling() {
        let mut deep = Value::empty_object();
        for _ in 0..crate::value::MAX_DEPTH_CEILING - 1 {
            deep = Value::array([deep]);
        }
        let cbor = deep.to_cbor();
        assert_eq!(
            new_rev_id_from_cbor(None, false, &cbor),
            new_rev_id(None, false, &deep)
        );
        let deeper = Value::array([deep]).to_cbor();
        assert!(matches!(
            new_rev_id_from_cbor(None, false, &deeper),
            Err(DigestError::BodyNotDeterministic(
                ValueError::DepthLimitExceeded { .. }
            ))
        ));
    }

    proptest! {
        #[test]
        fn value_and_cbor_variants_agree(v in arb_value(), deleted in any::<bool>()) {
            let parent = rev("7-00ff");
            let from_value = new_rev_id(Some(&parent), deleted, &v).unwrap();
            let from_cbor = new_rev_id_from_cbor(Some(&parent), deleted, &v.to_cbor()).unwrap();
            prop_assert_eq!(&from_value, &from_cbor);
            prop_assert_eq!(from_value.generation(), 8);
            prop_assert!(from_value > parent);
        }
    }
}
