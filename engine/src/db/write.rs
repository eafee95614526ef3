//! The write paths of [`Database`]: local edits, deletions, purges, conflict resolution and
//! revisions inserted by replication. Each is planned against the document as read, then
//! committed as one guarded store batch.

use std::collections::BTreeMap;
use std::collections::btree_map::Entry;

use super::{Database, DbError, DocumentChange};
use crate::rev::{RevId, RevTree, new_rev_id};
use crate::store::{DocRecord, Sequence, Store, StoreError, WriteBatch, WriteOp};
use crate::value::Value;

/// How many times a write is re-planned when another writer changed the document in between.
pub(super) const MAX_ATTEMPTS: usize = 8;

/// A revision received from a peer, to be inserted with its history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteRevision {
    /// The document ID.
    pub doc_id: String,
    /// The new revision first, then its ancestors, newest first.
    pub history: Vec<RevId>,
    /// Whether the revision is a deletion.
    pub deleted: bool,
    /// The body as deterministic CBOR of a map (validated before it is stored).
    pub body: Vec<u8>,
    /// Whether the revision may create a conflicting branch. The passive side of a replication
    /// never stores conflicts and passes `false`; the active side stores the branch and
    /// resolves it.
    pub allow_conflict: bool,
    /// A peer known to have this revision, whose body is then kept as a delta base.
    pub remote: Option<u32>,
}

/// What inserting a [`RemoteRevision`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum InsertOutcome {
    /// The revision was already known; nothing changed.
    AlreadyKnown,
    /// The revision was added.
    Inserted {
        /// The sequence the document now has.
        sequence: Sequence,
        /// Whether it became the document's current revision.
        current: bool,
        /// Whether the document now has conflicting live branches.
        conflicted: bool,
        /// The live revision (the previous current one) this revision conflicts with: it does
        /// not descend from it and both are leaves. Resolve with
        /// [`Database::resolve_pair`].
        conflict_with: Option<RevId>,
    },
}

/// The root revision of `rev`'s branch.
fn root_of<'t>(tree: &'t RevTree, rev: &RevId) -> Option<&'t RevId> {
    let mut node = tree.get(rev)?;
    while let Some(parent) = node.parent() {
        node = parent;
    }
    Some(node.rev_id())
}

/// The JSON kind of a value, for error messages.
pub(super) fn kind_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A planned remote revision: its document's index in the batch, the revision, and the
/// revision it conflicts with.
type Planned = (usize, RevId, Option<RevId>);

/// How much of a remote revision's body [`Database::insert_revisions`] checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum BodyCheck {
    /// Everything: well-formed deterministic CBOR of a map.
    Full,
    /// Only that it is a map: the caller produced or validated the CBOR.
    AlreadyDeterministic,
}

/// One document's planned write.
pub(super) struct Plan {
    pub(super) expected: Option<Sequence>,
    pub(super) tree: RevTree,
    pub(super) put_bodies: Vec<(RevId, Vec<u8>)>,
    pub(super) drop_bodies: Vec<RevId>,
    /// The current body's size, when the plan knows it.
    pub(super) current_body_size: Option<u64>,
    /// The record as read, if any.
    pub(super) old: Option<DocRecord>,
    /// The document's index in the batch being planned, once a revision changed it.
    pub(super) slot: Option<usize>,
}

impl Plan {
    /// Takes note of the bodies a tree mutation released.
    pub(super) fn absorb(&mut self, change: crate::rev::Change) {
        self.drop_bodies.extend(change.drop_bodies);
        self.drop_bodies.extend(change.removed);
    }
}

impl<S: Store> Database<S> {
    /// Saves a new revision of a document with `body` and returns its revision ID.
    ///
    /// `base` is the revision the edit is based on: `None` to create a document (or recreate a
    /// deleted one), otherwise the current revision. A stale base is [`DbError::Conflict`].
    pub fn put(
        &mut self,
        doc_id: &str,
        body: &Value,
        base: Option<&RevId>,
    ) -> Result<RevId, DbError> {
        let encoded = body.to_cbor();
        self.validate_body(body, encoded.len())?;
        self.local_edit(doc_id, base, false, body, encoded)
    }

    /// Deletes a document: saves a tombstone revision based on `base` (which must be current)
    /// and returns its revision ID. Tombstones replicate like any revision.
    pub fn delete(&mut self, doc_id: &str, base: &RevId) -> Result<RevId, DbError> {
        let empty = Value::empty_object();
        let encoded = empty.to_cbor();
        self.local_edit(doc_id, Some(base), true, &empty, encoded)
    }

    /// Removes every trace of a document from this database. Purges are local: they never
    /// replicate, and a peer that sends the document again makes it a new document here.
    /// Returns whether the document existed.
    pub fn purge(&mut self, doc_id: &str) -> Result<bool, DbError> {
        self.validate_doc_id(doc_id)?;
        for _ in 0..MAX_ATTEMPTS {
            let Some(record) = self.store.document(doc_id)? else {
                return Ok(false);
            };
            let mut batch = WriteBatch::new();
            batch.push(WriteOp::ExpectDocument {
                doc_id: doc_id.to_owned(),
                sequence: Some(record.sequence),
                tree: None,
            });
            batch.push(WriteOp::PurgeDocument {
                doc_id: doc_id.to_owned(),
            });
            match self.store.apply(batch) {
                Ok(_) => return Ok(true),
                Err(StoreError::DocumentChanged { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::DocumentChanged {
            doc_id: doc_id.to_owned(),
        }
        .into())
    }

    /// Resolves a conflicted document: every live leaf other than `winner` gets a tombstone
    /// child, and with `merged` a new revision with that body becomes a child of `winner`.
    /// Returns the resulting current revision.
    ///
    /// Resolutions are deterministic (revision IDs are digests of parent and body), so peers
    /// that resolve the same conflict the same way create the same revisions and converge.
    pub fn resolve_conflict(
        &mut self,
        doc_id: &str,
        winner: &RevId,
        merged: Option<&Value>,
    ) -> Result<RevId, DbError> {
        let merged_cbor = merged.map(Value::to_cbor);
        if let (Some(body), Some(encoded)) = (merged, &merged_cbor) {
            self.validate_body(body, encoded.len())?;
        }
        let tombstone_body = Value::empty_object().to_cbor();
        self.commit_edit(doc_id, |tree, plan| {
            let node = tree.get(winner).filter(|n| n.is_leaf() && !n.is_deleted());
            if node.is_none() {
                return Err(DbError::NotALeaf {
                    doc_id: doc_id.to_owned(),
                    rev: winner.clone(),
                });
            }
            let losers: Vec<RevId> = tree
                .leaves()
                .into_iter()
                .filter(|leaf| leaf.rev_id() != winner && !leaf.is_deleted())
                .map(|leaf| leaf.rev_id().clone())
                .collect();
            for loser in &losers {
                let tomb = new_rev_id(Some(loser), true, &Value::empty_object())?;
                let change = tree.add_child(Some(loser), tomb.clone(), true)?;
                plan.absorb(change);
                plan.put_bodies.push((tomb, tombstone_body.clone()));
            }
            if let (Some(body), Some(encoded)) = (merged, &merged_cbor) {
                let rev = new_rev_id(Some(winner), false, body)?;
                let change = tree.add_child(Some(winner), rev.clone(), false)?;
                plan.absorb(change);
                plan.current_body_size = Some(encoded.len() as u64);
                plan.put_bodies.push((rev, encoded.clone()));
            } else if losers.is_empty() {
                // Nothing to resolve: no write.
                return Ok(false);
            }
            Ok(true)
        })?;
        let (_, tree) = self
            .revision_tree(doc_id)?
            .ok_or_else(|| DbError::NotFound(doc_id.to_owned()))?;
        tree.current()
            .cloned()
            .ok_or_else(|| DbError::NotFound(doc_id.to_owned()))
    }

    /// Inserts revisions received from peers, each with its history, in ONE atomic store
    /// transaction, and returns one result per revision, in order. A revision that fails (a bad
    /// history, a refused conflict, an invalid body) gets its error and is not stored; the
    /// others are stored.
    pub fn insert_revisions(
        &mut self,
        revisions: &[RemoteRevision],
    ) -> Result<Vec<Result<InsertOutcome, DbError>>, DbError> {
        self.insert_revisions_with(revisions, BodyCheck::Full)
    }

    /// [`Database::insert_revisions`] for replication, whose bodies come from
    /// `Profile::body_from_wire` or a delta applied to a stored body: already known to be
    /// deterministic CBOR, so only their kind is checked again.
    pub(crate) fn insert_received_revisions(
        &mut self,
        revisions: &[RemoteRevision],
    ) -> Result<Vec<Result<InsertOutcome, DbError>>, DbError> {
        self.insert_revisions_with(revisions, BodyCheck::AlreadyDeterministic)
    }

    fn insert_revisions_with(
        &mut self,
        revisions: &[RemoteRevision],
        check: BodyCheck,
    ) -> Result<Vec<Result<InsertOutcome, DbError>>, DbError> {
        'attempt: for attempt in 0..MAX_ATTEMPTS {
            let mut plans: BTreeMap<&str, Plan> = BTreeMap::new();
            let mut order: Vec<&str> = Vec::new();
            // Per revision: Err, AlreadyKnown (None), or the index into `order`, the revision
            // and the revision it conflicts with.
            let mut results: Vec<Result<Option<Planned>, DbError>> =
                Vec::with_capacity(revisions.len());
            for rev in revisions {
                let outcome = self.plan_remote(rev, check, attempt == 0, &mut plans, &mut order);
                results.push(outcome);
            }
            match self.commit(&order, &mut plans) {
                Ok(sequences) => {
                    return Ok(results
                        .into_iter()
                        .map(|r| {
                            r.map(|slot| match slot {
                                None => InsertOutcome::AlreadyKnown,
                                Some((i, rev, conflict_with)) => {
                                    let plan = &plans[order[i]];
                                    InsertOutcome::Inserted {
                                        sequence: sequences[i],
                                        current: plan.tree.current() == Some(&rev),
                                        conflicted: plan.tree.is_conflicted(),
                                        conflict_with,
                                    }
                                }
                            })
                        })
                        .collect());
                }
                Err(DbError::Store(StoreError::DocumentChanged { .. })) => continue 'attempt,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::DocumentChanged {
            doc_id: String::new(),
        }
        .into())
    }

    fn plan_remote<'a>(
        &self,
        rev: &'a RemoteRevision,
        check: BodyCheck,
        first: bool,
        plans: &mut BTreeMap<&'a str, Plan>,
        order: &mut Vec<&'a str>,
    ) -> Result<Option<Planned>, DbError> {
        self.validate_doc_id(&rev.doc_id)?;
        if rev.body.len() > self.config.max_body_size {
            return Err(DbError::BodyTooLarge {
                size: rev.body.len(),
                max: self.config.max_body_size,
            });
        }
        // Validated without building a `Value`: well-formed deterministic CBOR of a map.
        if check == BodyCheck::Full {
            crate::value::check_deterministic_cbor(&rev.body)?;
        } else {
            debug_assert!(crate::value::is_deterministic_cbor(&rev.body));
        }
        if rev.body.first().is_none_or(|b| b >> 5 != 5) {
            let found = Value::from_cbor(&rev.body).map_or("not CBOR", |v| kind_name(&v));
            return Err(DbError::BodyNotAnObject { found });
        }
        let plan = match plans.entry(rev.doc_id.as_str()) {
            Entry::Occupied(entry) => entry.into_mut(),
            // The read that answered the peer, on the first attempt (its write is guarded).
            Entry::Vacant(entry) => match self.take_kept_read(&rev.doc_id).filter(|_| first) {
                Some(Some((record, tree))) => entry.insert(Self::plan_from(Some(record), tree)),
                Some(None) => entry.insert(Self::plan_from(None, RevTree::new())),
                None => entry.insert(self.read_plan(&rev.doc_id)?),
            },
        };
        let mut tree = plan.tree.clone();
        let previous = tree
            .current_node()
            .filter(|n| !n.is_deleted())
            .map(|n| n.rev_id().clone());
        // A tombstone on a live leaf closes that branch (a conflict resolution elsewhere): it
        // never adds a live branch, so it is never a conflict.
        let closing = rev.deleted
            && rev
                .history
                .get(1)
                .is_some_and(|p| tree.get(p).is_some_and(|n| n.is_leaf() && !n.is_deleted()));
        let change = tree.insert_with_history(&rev.history, rev.deleted)?;
        if !change.changed {
            return Ok(None);
        }
        let new_rev = rev.history[0].clone();
        // The new revision conflicts with the live current revision it does not descend from —
        // unless it is the deletion of another incarnation of the document (another root), as
        // a live revision over a tombstone is no conflict either.
        let conflict_with = previous.filter(|p| {
            !closing
                && *p != new_rev
                && tree.get(p).is_some_and(|n| n.is_leaf())
                && (!rev.deleted || root_of(&tree, p) == root_of(&tree, &new_rev))
        });
        if !rev.allow_conflict && (conflict_with.is_some() || change.conflict_created) {
            return Err(DbError::Conflict {
                current: plan.tree.current().cloned(),
            });
        }
        let mut dropped = change.drop_bodies;
        dropped.extend(change.removed);
        if let Some(remote) = rev.remote {
            let change = tree.set_remote_ancestor(remote, &new_rev)?;
            dropped.extend(change.drop_bodies);
            dropped.extend(change.removed);
        }
        if tree.current() == Some(&new_rev) {
            plan.current_body_size = Some(rev.body.len() as u64);
        }
        plan.tree = tree;
        plan.put_bodies.retain(|(r, _)| !dropped.contains(r));
        plan.drop_bodies.extend(dropped);
        plan.put_bodies.push((new_rev.clone(), rev.body.clone()));
        let index = match plan.slot {
            Some(i) => i,
            None => {
                order.push(&rev.doc_id);
                plan.slot = Some(order.len() - 1);
                order.len() - 1
            }
        };
        Ok(Some((index, new_rev, conflict_with)))
    }

    fn local_edit(
        &mut self,
        doc_id: &str,
        base: Option<&RevId>,
        deleted: bool,
        body: &Value,
        encoded: Vec<u8>,
    ) -> Result<RevId, DbError> {
        self.validate_doc_id(doc_id)?;
        let mut new_rev = None;
        self.commit_edit(doc_id, |tree, plan| {
            let current = tree.current().cloned();
            let current_deleted = tree.is_deleted();
            let parent = match (base, &current) {
                (None, None) => None,
                // Recreating a deleted document continues its tombstone's branch.
                (None, Some(cur)) if current_deleted && !deleted => Some(cur.clone()),
                (Some(b), Some(cur)) if b == cur && !(deleted && current_deleted) => {
                    Some(cur.clone())
                }
                _ => return Err(DbError::Conflict { current }),
            };
            let rev = new_rev_id(parent.as_ref(), deleted, body)?;
            let change = tree.add_child(parent.as_ref(), rev.clone(), deleted)?;
            plan.absorb(change);
            plan.current_body_size = Some(encoded.len() as u64);
            plan.put_bodies.push((rev.clone(), encoded.clone()));
            new_rev = Some(rev);
            Ok(true)
        })?;
        new_rev.ok_or_else(|| DbError::NotFound(doc_id.to_owned()))
    }

    /// Plans and commits a write to one document, re-planning if another writer got there
    /// first. `edit` returns whether there is anything to write.
    pub(super) fn commit_edit(
        &mut self,
        doc_id: &str,
        mut edit: impl FnMut(&mut RevTree, &mut Plan) -> Result<bool, DbError>,
    ) -> Result<(), DbError> {
        for _ in 0..MAX_ATTEMPTS {
            let mut plan = self.read_plan(doc_id)?;
            let mut tree = std::mem::take(&mut plan.tree);
            if !edit(&mut tree, &mut plan)? {
                return Ok(());
            }
            plan.tree = tree;
            let mut plans = BTreeMap::new();
            plans.insert(doc_id, plan);
            match self.commit(&[doc_id], &mut plans) {
                Ok(_) => return Ok(()),
                Err(DbError::Store(StoreError::DocumentChanged { .. })) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(StoreError::DocumentChanged {
            doc_id: doc_id.to_owned(),
        }
        .into())
    }

    fn read_plan(&self, doc_id: &str) -> Result<Plan, DbError> {
        let old = self.store.document(doc_id)?;
        let tree = match &old {
            Some(record) => RevTree::decode(&record.tree)?,
            None => RevTree::new(),
        };
        Ok(Self::plan_from(old, tree))
    }

    /// The plan of a document read as `old` (with `tree` decoded from it).
    fn plan_from(old: Option<DocRecord>, tree: RevTree) -> Plan {
        Plan {
            expected: old.as_ref().map(|r| r.sequence),
            tree,
            put_bodies: Vec::new(),
            drop_bodies: Vec::new(),
            current_body_size: None,
            old,
            slot: None,
        }
    }

    /// Commits the plans of `docs` (in that order) as one guarded batch; returns the sequence
    /// given to each document and notifies observers.
    fn commit<'a>(
        &mut self,
        docs: &[&'a str],
        plans: &mut BTreeMap<&'a str, Plan>,
    ) -> Result<Vec<Sequence>, DbError> {
        if docs.is_empty() {
            return Ok(Vec::new());
        }
        let mut batch = WriteBatch::new();
        let mut changes = Vec::with_capacity(docs.len());
        for doc_id in docs {
            let plan = plans
                .get_mut(doc_id)
                .expect("every changed document has a plan");
            for pruned in plan.tree.prune(self.config.max_rev_tree_depth) {
                plan.drop_bodies.push(pruned);
            }
            let current = plan
                .tree
                .current()
                .cloned()
                .ok_or_else(|| DbError::NotFound((*doc_id).to_owned()))?;
            plan.put_bodies
                .retain(|(rev, _)| !plan.drop_bodies.contains(rev));
            let body_size = match plan.current_body_size {
                Some(size) if plan.put_bodies.iter().any(|(r, _)| *r == current) => size,
                _ => match &plan.old {
                    Some(old) if old.current_rev == current => old.body_size,
                    _ => self
                        .store
                        .body(doc_id, current.as_str())?
                        .map_or(0, |b| b.len() as u64),
                },
            };
            let flags = Self::flags_of(&plan.tree);
            // Guarded by the sequence and the tree as read: recording a remote ancestor
            // changes a tree without moving its sequence.
            batch.push(WriteOp::ExpectDocument {
                doc_id: (*doc_id).to_owned(),
                sequence: plan.expected,
                tree: plan.old.take().map(|old| old.tree),
            });
            changes.push(DocumentChange {
                doc_id: (*doc_id).to_owned(),
                rev: current.clone(),
                sequence: 0,
                deleted: flags.deleted,
            });
            batch.push(WriteOp::PutDocument {
                record: DocRecord {
                    doc_id: (*doc_id).to_owned(),
                    current_rev: current,
                    flags,
                    sequence: 0,
                    body_size,
                    tree: plan.tree.encode(),
                },
                put_bodies: std::mem::take(&mut plan.put_bodies),
                drop_bodies: std::mem::take(&mut plan.drop_bodies),
            });
        }
        let sequences = self.store.apply(batch)?;
        for (change, sequence) in changes.iter_mut().zip(&sequences) {
            change.sequence = *sequence;
        }
        self.observers.notify(&changes);
        Ok(sequences)
    }

    /// Checks a document ID against this database's rules: not empty, at most
    /// [`DatabaseConfig::max_doc_id_len`](super::DatabaseConfig::max_doc_id_len) bytes, no NUL
    /// or control characters. Every write checks it; replication uses it to refuse proposals
    /// early.
    pub fn validate_doc_id(&self, doc_id: &str) -> Result<(), DbError> {
        let reason = if doc_id.is_empty() {
            Some("it is empty")
        } else if doc_id.len() > self.config.max_doc_id_len {
            Some("it is longer than the configured limit")
        } else if doc_id.contains('\0') {
            Some("it contains a NUL character")
        } else if doc_id.chars().any(char::is_control) {
            Some("it contains a control character")
        } else {
            None
        };
        match reason {
            None => Ok(()),
            Some(reason) => Err(DbError::InvalidDocId {
                doc_id: doc_id.chars().take(100).collect(),
                reason,
            }),
        }
    }

    /// Checks a body written locally: an object, no reserved top-level property, within the
    /// size limit, well-formed blob references. (Bodies from peers are only required to be objects within the limit.)
    fn validate_body(&self, body: &Value, size: usize) -> Result<(), DbError> {
        let Some(map) = body.as_object() else {
            return Err(DbError::BodyNotAnObject {
                found: kind_name(body),
            });
        };
        if let Some(key) = map.keys().find(|k| k.starts_with('_')) {
            return Err(DbError::ReservedProperty(key.clone()));
        }
        if size > self.config.max_body_size {
            return Err(DbError::BodyTooLarge {
                size,
                max: self.config.max_body_size,
            });
        }
        // Blob references must be well formed (the blobs themselves need not be stored yet).
        crate::blob::blob_refs(body)?;
        Ok(())
    }
}
