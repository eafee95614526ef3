//! Helpers for the revision tree's tests.

use crate::rev::RevId;

/// Parses a revision ID written in a test.
pub(crate) fn rev(s: &str) -> RevId {
    RevId::parse(s).expect("a valid revision ID in a test")
}
