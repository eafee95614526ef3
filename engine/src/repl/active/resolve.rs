//! Resolving pulled conflicts, and conflicts left over from earlier sessions.

use super::session::ActiveSession;
use super::{ActiveEvent, Direction};
use crate::db::{Database, DbError};
use crate::repl::SessionError;
use crate::repl::conflict::{self, Conflict, ConflictSide};
use crate::rev::RevId;
use crate::store::Store;

impl ActiveSession {
    /// Resolves each `(doc ID, local revision, remote revision)` with the configured resolver.
    /// A resolver that panics, or a resolution the database refuses, leaves the document
    /// conflicted and reported; the session goes on.
    pub(super) fn resolve_conflicts<S: Store>(
        &mut self,
        db: &mut Database<S>,
        conflicts: Vec<(String, RevId, RevId)>,
    ) -> Result<(), SessionError> {
        let mut touched = std::collections::BTreeSet::new();
        for (doc_id, local, remote) in conflicts {
            // Later revisions of the same batch may have grown either branch: resolve the tips.
            let (Some(local), Some(remote)) = (
                db.branch_tip(&doc_id, &local)?,
                db.branch_tip(&doc_id, &remote)?,
            ) else {
                continue;
            };
            touched.insert(doc_id.clone());
            if local == remote {
                continue;
            }
            match self.resolve_one(db, &doc_id, &local, &remote) {
                Ok(Some(rev)) => self
                    .events
                    .push_back(ActiveEvent::ConflictResolved { doc_id, rev }),
                Ok(None) => {}
                Err(error) => self.events.push_back(ActiveEvent::DocumentFailed {
                    doc_id,
                    rev: remote,
                    direction: Direction::Pull,
                    error,
                    transient: false,
                }),
            }
        }
        // Whatever branches remain live in those documents (several conflicts in one batch)
        // are settled the same way: the current revision against each other live leaf.
        for doc_id in touched {
            self.resolve_live_leaves(db, &doc_id)?;
        }
        Ok(())
    }

    /// Resolves the current revision of `doc_id` against each other live leaf.
    fn resolve_live_leaves<S: Store>(
        &mut self,
        db: &mut Database<S>,
        doc_id: &str,
    ) -> Result<(), SessionError> {
        for _ in 0..16 {
            let Some((_, tree)) = db.revision_tree(doc_id)? else {
                return Ok(());
            };
            let Some(current) = tree.current().cloned() else {
                return Ok(());
            };
            let Some(other) = tree.live_conflicts().first().map(|n| n.rev_id().clone()) else {
                return Ok(());
            };
            match self.resolve_one(db, doc_id, &current, &other) {
                Ok(Some(rev)) => self.events.push_back(ActiveEvent::ConflictResolved {
                    doc_id: doc_id.to_owned(),
                    rev,
                }),
                Ok(None) => return Ok(()),
                Err(error) => {
                    self.events.push_back(ActiveEvent::DocumentFailed {
                        doc_id: doc_id.to_owned(),
                        rev: other,
                        direction: Direction::Pull,
                        error,
                        transient: false,
                    });
                    return Ok(());
                }
            }
        }
        Ok(())
    }

    /// Resolves one conflict; `Ok(None)` if it was already resolved.
    fn resolve_one<S: Store>(
        &self,
        db: &mut Database<S>,
        doc_id: &str,
        local: &RevId,
        remote: &RevId,
    ) -> Result<Option<RevId>, String> {
        let side = |db: &Database<S>, rev: &RevId| -> Result<Option<ConflictSide>, DbError> {
            Ok(db.get_revision(doc_id, rev)?.map(|d| ConflictSide {
                rev: rev.clone(),
                deleted: d.deleted,
                body: d.body,
            }))
        };
        let (Some(local), Some(remote)) = (
            side(db, local).map_err(|e| e.to_string())?,
            side(db, remote).map_err(|e| e.to_string())?,
        ) else {
            return Ok(None); // a side is no longer a leaf with a body: resolved meanwhile
        };
        let conflict = Conflict {
            doc_id: doc_id.to_owned(),
            local,
            remote,
        };
        let resolution = self
            .config
            .conflict_resolver
            .resolve(&conflict)
            .ok_or_else(|| "conflict unresolved: the conflict resolver panicked".to_owned())?;
        let outcome = conflict::outcome(&conflict, resolution);
        db.resolve_pair(doc_id, &conflict.local.rev, &conflict.remote.rev, &outcome)
            .map(Some)
            .map_err(|e| format!("conflict unresolved: {e}"))
    }

    /// Finds documents left conflicted by earlier sessions (a resolver that failed, a crash
    /// between storing and resolving) and resolves them: the current revision against each
    /// other live leaf.
    pub(super) fn resolve_existing_conflicts<S: Store>(
        &mut self,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let mut found = Vec::new();
        for doc_id in db.conflicted_documents()? {
            let Some((_, tree)) = db.revision_tree(&doc_id)? else {
                continue;
            };
            let Some(current) = tree.current().cloned() else {
                continue;
            };
            for other in tree.live_conflicts() {
                found.push((doc_id.clone(), current.clone(), other.rev_id().clone()));
            }
        }
        self.resolve_conflicts(db, found)
    }
}
