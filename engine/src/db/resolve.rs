//! Symmetric resolution of a conflict between two revisions, as replication does it.
//!
//! Peers that meet the same conflict must resolve it the same way, creating identical
//! revisions, or they would trade new conflicts forever. So the result never depends on which
//! side is "local": the higher of the two revisions ([`RevId`]'s order) is the *canonical
//! parent*; the other gets a tombstone if it is live; and unless the canonical parent already
//! holds the winning content, the result is a new revision on top of it. Revision IDs are
//! digests of parent and content, so every peer computes the same ones.

use super::write::kind_name;
use super::{Database, DbError};
use crate::rev::{RevId, new_rev_id};
use crate::store::Store;
use crate::value::Value;

/// How a conflict between two revisions ends.
#[derive(Debug, Clone, PartialEq)]
pub enum PairOutcome {
    /// This revision (one of the two) wins as it is: its content becomes current.
    Keep(RevId),
    /// A merged body becomes current.
    Merge(Value),
    /// The document ends deleted.
    Delete,
}

impl<S: Store> Database<S> {
    /// Resolves the conflict between leaves `a` and `b` of `doc_id` (see the module docs) and
    /// returns the resulting current revision. Idempotent: resolving an already resolved pair
    /// the same way changes nothing.
    pub fn resolve_pair(
        &mut self,
        doc_id: &str,
        a: &RevId,
        b: &RevId,
        outcome: &PairOutcome,
    ) -> Result<RevId, DbError> {
        let (parent, other) = if a > b { (a, b) } else { (b, a) };
        // Decide the content of the result before touching the tree.
        let (deleted, body) = match outcome {
            PairOutcome::Keep(winner) if winner == parent => (None, None),
            PairOutcome::Keep(winner) if winner == other => {
                let doc = self
                    .get_revision(doc_id, other)?
                    .ok_or_else(|| DbError::NotFound(format!("{doc_id}@{other}")))?;
                (Some(doc.deleted), Some(doc.body))
            }
            PairOutcome::Keep(winner) => {
                return Err(DbError::NotALeaf {
                    doc_id: doc_id.to_owned(),
                    rev: winner.clone(),
                });
            }
            PairOutcome::Merge(body) => {
                if body.as_object().is_none() {
                    return Err(DbError::BodyNotAnObject {
                        found: kind_name(body),
                    });
                }
                (Some(false), Some(body.clone()))
            }
            PairOutcome::Delete => (Some(true), Some(Value::empty_object())),
        };
        let tombstone_body = Value::empty_object().to_cbor();
        let body_cbor = body.as_ref().map(Value::to_cbor);
        self.commit_edit(doc_id, |tree, plan| {
            for rev in [parent, other] {
                if !tree.get(rev).is_some_and(|n| n.is_leaf()) {
                    // Already resolved (idempotence) or never a conflict.
                    if tree.get(rev).is_some() {
                        continue;
                    }
                    return Err(DbError::NotALeaf {
                        doc_id: doc_id.to_owned(),
                        rev: rev.clone(),
                    });
                }
            }
            let mut changed = false;
            if tree
                .get(other)
                .is_some_and(|n| n.is_leaf() && !n.is_deleted())
            {
                let tomb = new_rev_id(Some(other), true, &Value::empty_object())?;
                plan.absorb(tree.add_child(Some(other), tomb.clone(), true)?);
                plan.put_bodies.push((tomb, tombstone_body.clone()));
                changed = true;
            }
            let parent_is_leaf = tree.get(parent).is_some_and(|n| n.is_leaf());
            let parent_deleted = tree.get(parent).is_some_and(|n| n.is_deleted());
            if let (Some(deleted), Some(body), Some(encoded), true) =
                (deleted, &body, &body_cbor, parent_is_leaf)
            {
                // Deleting over a tombstone changes nothing.
                if !(deleted && parent_deleted) {
                    let rev = new_rev_id(Some(parent), deleted, body)?;
                    plan.absorb(tree.add_child(Some(parent), rev.clone(), deleted)?);
                    plan.current_body_size = Some(encoded.len() as u64);
                    plan.put_bodies.push((rev, encoded.clone()));
                    changed = true;
                }
            }
            Ok(changed)
        })?;
        let (_, tree) = self
            .revision_tree(doc_id)?
            .ok_or_else(|| DbError::NotFound(doc_id.to_owned()))?;
        tree.current()
            .cloned()
            .ok_or_else(|| DbError::NotFound(doc_id.to_owned()))
    }
}
