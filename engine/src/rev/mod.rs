//! Revisions: IDs, digests and the per-document revision tree.

mod id;

pub use id::{MAX_DIGEST_HEX_LEN, RevId, RevIdError};
