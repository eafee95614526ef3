//! Revisions: IDs, digests and the per-document revision tree.

mod digest;
mod id;
mod tree;

pub use digest::{DELETED_BODY_CBOR, DigestError, new_rev_id, new_rev_id_from_cbor};
pub use id::{MAX_DIGEST_HEX_LEN, RevId, RevIdError};
pub use tree::{
    Change, DEFAULT_MAX_DEPTH, HISTORY_REACH, RevNode, RevTree, RevTreeError, TREE_FORMAT_VERSION,
};
