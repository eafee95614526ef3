//! Revisions: IDs, digests and the per-document revision tree.

mod id;
mod tree;

pub use id::{MAX_DIGEST_HEX_LEN, RevId, RevIdError};
pub use tree::{Change, DEFAULT_MAX_DEPTH, RevNode, RevTree, RevTreeError, TREE_FORMAT_VERSION};
