//! Revisions: IDs, digests and the per-document revision tree.

mod digest;
mod id;

pub use digest::{DELETED_BODY_CBOR, DigestError, new_rev_id, new_rev_id_from_cbor};
pub use id::{MAX_DIGEST_HEX_LEN, RevId, RevIdError};
