//! Conflict resolution on the active side: the resolver API and Couchbase Lite's default.
//!
//! A pulled revision that does not descend from the local current revision (and leaves it a
//! leaf) is a conflict. The active session stores the remote branch, asks the resolver which
//! content wins, and applies the answer with [`Database::resolve_pair`], which makes the
//! result independent of which side was local: peers resolving the same conflict the same way
//! create identical revisions, so they converge without trading new conflicts. The result is
//! then pushed like any local change.
//!
//! [`Database::resolve_pair`]: crate::db::Database::resolve_pair

use std::fmt;
use std::sync::Arc;

use crate::db::PairOutcome;
use crate::rev::RevId;
use crate::value::Value;

/// One side of a conflict.
#[derive(Debug, Clone, PartialEq)]
pub struct ConflictSide {
    /// The revision.
    pub rev: RevId,
    /// Whether it is a deletion.
    pub deleted: bool,
    /// Its body (an empty object for a deletion).
    pub body: Value,
}

/// A document in conflict: the local current revision and the remote one that branched from it.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The document ID.
    pub doc_id: String,
    /// The local side.
    pub local: ConflictSide,
    /// The remote side.
    pub remote: ConflictSide,
}

/// What a resolver decides.
#[derive(Debug, Clone, PartialEq)]
pub enum Resolution {
    /// The local revision's content wins.
    Local,
    /// The remote revision's content wins.
    Remote,
    /// This merged body wins.
    Merged(Value),
    /// The document is deleted.
    Delete,
}

/// A conflict resolver. It must be deterministic and symmetric (give the same content
/// whichever side is local) for peers that resolve the same conflict independently to converge.
/// A resolver that panics leaves the document conflicted and reported; the replicator goes on.
#[derive(Clone)]
pub struct ConflictResolver(Arc<dyn Fn(&Conflict) -> Resolution + Send + Sync>);

impl ConflictResolver {
    /// A resolver from a function.
    pub fn new(f: impl Fn(&Conflict) -> Resolution + Send + Sync + 'static) -> Self {
        ConflictResolver(Arc::new(f))
    }

    /// Couchbase Lite 3.x's default: a deletion wins; else the higher generation; else the
    /// byte-wise higher revision ID.
    pub fn couchbase_default() -> Self {
        ConflictResolver::new(default_resolution)
    }

    /// Asks the resolver, containing a panic.
    pub(crate) fn resolve(&self, conflict: &Conflict) -> Option<Resolution> {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (self.0)(conflict))).ok()
    }
}

impl Default for ConflictResolver {
    fn default() -> Self {
        ConflictResolver::couchbase_default()
    }
}

impl fmt::Debug for ConflictResolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ConflictResolver(..)")
    }
}

/// Couchbase Lite 3.x's default resolution (see [`ConflictResolver::couchbase_default`]).
pub fn default_resolution(conflict: &Conflict) -> Resolution {
    let (local, remote) = (&conflict.local, &conflict.remote);
    match (local.deleted, remote.deleted) {
        (true, false) => Resolution::Local,
        (false, true) => Resolution::Remote,
        _ if local.rev > remote.rev => Resolution::Local,
        _ => Resolution::Remote,
    }
}

/// The resolution as an outcome for [`crate::db::Database::resolve_pair`].
pub(crate) fn outcome(conflict: &Conflict, resolution: Resolution) -> PairOutcome {
    match resolution {
        Resolution::Local => PairOutcome::Keep(conflict.local.rev.clone()),
        Resolution::Remote => PairOutcome::Keep(conflict.remote.rev.clone()),
        Resolution::Merged(body) => PairOutcome::Merge(body),
        Resolution::Delete => PairOutcome::Delete,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn side(rev: &str, deleted: bool) -> ConflictSide {
        ConflictSide {
            rev: RevId::parse(rev).unwrap(),
            deleted,
            body: Value::empty_object(),
        }
    }

    fn winner(c: &Conflict) -> RevId {
        match default_resolution(c) {
            Resolution::Local => c.local.rev.clone(),
            Resolution::Remote => c.remote.rev.clone(),
            other => panic!("the default never merges: {other:?}"),
        }
    }

    #[test]
    fn default_follows_couchbase_lite() {
        let c = |l, ld, r, rd| Conflict {
            doc_id: "d".into(),
            local: side(l, ld),
            remote: side(r, rd),
        };
        assert_eq!(
            winner(&c("5-aa", false, "2-bb", true)),
            RevId::parse("2-bb").unwrap(),
            "deletion wins"
        );
        assert_eq!(
            winner(&c("2-bb", true, "5-aa", false)),
            RevId::parse("2-bb").unwrap()
        );
        assert_eq!(
            winner(&c("3-aa", false, "2-ff", false)),
            RevId::parse("3-aa").unwrap(),
            "generation"
        );
        assert_eq!(
            winner(&c("2-aa", false, "2-ff", false)),
            RevId::parse("2-ff").unwrap(),
            "rev ID"
        );
    }

    #[test]
    fn a_panicking_resolver_is_contained() {
        let r = ConflictResolver::new(|_| panic!("resolver bug"));
        let c = Conflict {
            doc_id: "d".into(),
            local: side("1-aa", false),
            remote: side("1-bb", false),
        };
        assert_eq!(r.resolve(&c), None);
    }

    proptest! {
        #[test]
        fn default_is_a_total_order_independent_of_sides(
            g1 in 1u64..5, d1 in proptest::collection::vec(any::<u8>(), 2..4), del1: bool,
            g2 in 1u64..5, d2 in proptest::collection::vec(any::<u8>(), 2..4), del2: bool,
        ) {
            let a = ConflictSide { rev: RevId::from_digest(g1, &d1), deleted: del1, body: Value::empty_object() };
            let b = ConflictSide { rev: RevId::from_digest(g2, &d2), deleted: del2, body: Value::empty_object() };
            prop_assume!(a.rev != b.rev);
            let ab = Conflict { doc_id: "d".into(), local: a.clone(), remote: b.clone() };
            let ba = Conflict { doc_id: "d".into(), local: b, remote: a };
            prop_assert_eq!(winner(&ab), winner(&ba));
        }
    }
}
