//! The local database API over any [`crate::store::Store`].
