//! What replication asks of the database: checkpoints, what a peer lacks, what to send, and
//! which revisions a peer has.

use super::{Database, DbError};
use crate::rev::{RevId, RevTree};
use crate::store::{DocRecord, Sequence, Store, StoreError, WriteBatch, WriteOp};

/// A revision ready to send to a peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutgoingRevision {
    /// The stored body (deterministic CBOR).
    pub body: Vec<u8>,
    /// Ancestors, newest first, up to the first one the peer has (or the limit).
    pub history: Vec<RevId>,
    /// Whether the revision is a deletion.
    pub deleted: bool,
}

/// How this database answers a peer proposing to push a revision.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalCheck {
    /// Send it: it extends what we have.
    Accept,
    /// We already have it.
    AlreadyHave,
    /// It would branch the document: our current revision is not the one the peer built on.
    Conflict {
        /// Our current revision.
        current: RevId,
    },
}

/// A document's latest sequence and encoded revision tree, as read earlier (e.g. with its
/// changes-feed entry); see [`Database::set_remote_ancestors_from`].
pub type SeenTree<'a> = (Sequence, &'a [u8]);

impl<S: Store> Database<S> {
    /// A local checkpoint (the replicator's own record).
    pub fn local_checkpoint(&self, id: &str) -> Result<Option<Vec<u8>>, DbError> {
        Ok(self.store.local_checkpoint(id)?)
    }

    /// Saves a local checkpoint.
    pub fn set_local_checkpoint(&mut self, id: &str, body: &[u8]) -> Result<(), DbError> {
        let mut batch = WriteBatch::new();
        batch.push(WriteOp::SetLocalCheckpoint {
            id: id.to_owned(),
            body: Some(body.to_vec()),
        });
        self.store.apply(batch)?;
        Ok(())
    }

    /// A checkpoint a peer keeps here, with its MVCC generation.
    pub fn peer_checkpoint(&self, id: &str) -> Result<Option<(Vec<u8>, u64)>, DbError> {
        Ok(self.store.peer_checkpoint(id)?)
    }

    /// Saves a peer's checkpoint if `expected` is its current generation; returns the new one.
    /// A mismatch is [`StoreError::CheckpointConflict`] (HTTP 409 on the wire).
    pub fn set_peer_checkpoint(
        &mut self,
        id: &str,
        expected: Option<u64>,
        body: &[u8],
    ) -> Result<u64, DbError> {
        Ok(self.store.set_peer_checkpoint(id, expected, body)?)
    }

    /// `None` if we have `rev` of `doc_id`; otherwise the revisions we have that may be its
    /// ancestors (our leaves of lower generation, the current one first), at most `max`.
    pub fn known_ancestors(
        &self,
        doc_id: &str,
        rev: &RevId,
        max: usize,
    ) -> Result<Option<Vec<RevId>>, DbError> {
        let read = self.revision_tree(doc_id)?;
        Ok(self.known_ancestors_in(doc_id, rev, max, read))
    }

    /// [`Database::known_ancestors`] of each `(doc_id, rev)`, in order, with the documents
    /// read together ([`Store::documents`]).
    pub fn known_ancestors_of(
        &self,
        revs: &[(&str, &RevId)],
        max: usize,
    ) -> Result<Vec<Option<Vec<RevId>>>, DbError> {
        let ids: Vec<&str> = revs.iter().map(|(doc_id, _)| *doc_id).collect();
        let reads = self.revision_trees(&ids)?;
        Ok(revs
            .iter()
            .zip(reads)
            .map(|((doc_id, rev), read)| self.known_ancestors_in(doc_id, rev, max, read))
            .collect())
    }

    fn known_ancestors_in(
        &self,
        doc_id: &str,
        rev: &RevId,
        max: usize,
        read: Option<(DocRecord, RevTree)>,
    ) -> Option<Vec<RevId>> {
        let Some((record, tree)) = read else {
            self.keep_read(doc_id, None);
            return Some(Vec::new());
        };
        if tree.contains(rev) {
            return None;
        }
        let known = tree
            .leaves()
            .into_iter()
            .filter(|leaf| leaf.generation() < rev.generation())
            .map(|leaf| leaf.rev_id().clone())
            .take(max)
            .collect();
        // The revision will be asked for: storing it starts from this read.
        self.keep_read(doc_id, Some((record, tree)));
        Some(known)
    }

    /// How to answer a peer proposing `rev` of `doc_id`, built on `server_rev` (the revision it
    /// believes we have).
    pub fn check_proposal(
        &self,
        doc_id: &str,
        rev: &RevId,
        server_rev: Option<&RevId>,
    ) -> Result<ProposalCheck, DbError> {
        let read = self.revision_tree(doc_id)?;
        Ok(self.check_proposal_in(doc_id, rev, server_rev, read))
    }

    /// [`Database::check_proposal`] of each `(doc_id, rev, server_rev)`, in order, with the
    /// documents read together ([`Store::documents`]).
    pub fn check_proposals(
        &self,
        proposals: &[(&str, &RevId, Option<&RevId>)],
    ) -> Result<Vec<ProposalCheck>, DbError> {
        let ids: Vec<&str> = proposals.iter().map(|(doc_id, ..)| *doc_id).collect();
        let reads = self.revision_trees(&ids)?;
        Ok(proposals
            .iter()
            .zip(reads)
            .map(|((doc_id, rev, server_rev), read)| {
                self.check_proposal_in(doc_id, rev, *server_rev, read)
            })
            .collect())
    }

    fn check_proposal_in(
        &self,
        doc_id: &str,
        rev: &RevId,
        server_rev: Option<&RevId>,
        read: Option<(DocRecord, RevTree)>,
    ) -> ProposalCheck {
        let Some((record, tree)) = read else {
            self.keep_read(doc_id, None);
            return ProposalCheck::Accept;
        };
        if tree.contains(rev) {
            return ProposalCheck::AlreadyHave;
        }
        if let Some(current) = tree.current() {
            let accept = match server_rev {
                Some(server) => server == current,
                // A new document over our tombstone does not branch live revisions.
                None => tree.is_deleted(),
            };
            if !accept {
                return ProposalCheck::Conflict {
                    current: current.clone(),
                };
            }
        }
        // The revision will be sent: storing it starts from this read.
        self.keep_read(doc_id, Some((record, tree)));
        ProposalCheck::Accept
    }

    /// `rev` of `doc_id` with its body and its history up to the first revision in `known`
    /// (at most `max_history` ancestors), or `None` if its body is no longer kept.
    pub fn revision_to_send(
        &self,
        doc_id: &str,
        rev: &RevId,
        known: &[RevId],
        max_history: usize,
    ) -> Result<Option<OutgoingRevision>, DbError> {
        self.revision_to_send_from(doc_id, rev, known, max_history, None, None)
    }

    /// [`Database::revision_to_send`], taking `rev`'s ancestry from `seen` (an encoded tree of
    /// `doc_id` read earlier, e.g. with its changes-feed entry) when it holds `rev`, instead of
    /// reading the document again. That is sound because a revision's ancestors and deletion
    /// never change. `seen_body`, the body of that tree's current revision read with it, is
    /// sent when `rev` is that revision: the revision is then sent as it was read, like one
    /// sent just before a purge. Otherwise the body is read, so a revision pruned or purged
    /// since is not sent (a history may then list ancestors pruned since, which the peer only
    /// reads as IDs).
    pub fn revision_to_send_from(
        &self,
        doc_id: &str,
        rev: &RevId,
        known: &[RevId],
        max_history: usize,
        seen: Option<&[u8]>,
        seen_body: Option<Vec<u8>>,
    ) -> Result<Option<OutgoingRevision>, DbError> {
        let seen = match seen.map(RevTree::decode) {
            Some(Ok(tree)) if tree.contains(rev) => Some(tree),
            _ => None,
        };
        // The body read with the tree is its current revision's.
        let seen_body = seen_body.filter(|_| seen.as_ref().and_then(RevTree::current) == Some(rev));
        let tree = match seen {
            Some(tree) => tree,
            None => match self.revision_tree(doc_id)? {
                Some((_, tree)) => tree,
                None => return Ok(None),
            },
        };
        let Some(node) = tree.get(rev) else {
            return Ok(None);
        };
        if !node.has_body() {
            return Ok(None);
        }
        let body = match seen_body {
            Some(body) => body,
            None => match self.store.body(doc_id, rev.as_str())? {
                Some(body) => body,
                None => return Ok(None),
            },
        };
        let history = tree.history(rev, max_history, |r| known.contains(r));
        Ok(Some(OutgoingRevision {
            body,
            history,
            deleted: node.is_deleted(),
        }))
    }

    /// The parent of `rev` in `doc_id`'s tree (`None` for a root or an unknown revision).
    pub fn parent_of(&self, doc_id: &str, rev: &RevId) -> Result<Option<RevId>, DbError> {
        let Some((_, tree)) = self.revision_tree(doc_id)? else {
            return Ok(None);
        };
        Ok(tree.get(rev).and_then(|n| n.parent_id().cloned()))
    }

    /// Whether `ancestor` is `rev` or one of its ancestors in `doc_id`'s revision tree.
    pub fn is_ancestor(
        &self,
        doc_id: &str,
        ancestor: &RevId,
        rev: &RevId,
    ) -> Result<bool, DbError> {
        let Some((_, tree)) = self.revision_tree(doc_id)? else {
            return Ok(false);
        };
        let mut node = tree.get(rev);
        while let Some(n) = node {
            if n.rev_id() == ancestor {
                return Ok(true);
            }
            node = n.parent();
        }
        Ok(false)
    }

    /// Whether `rev` can be stored without a conflict at a peer whose current revision is
    /// `theirs`: `theirs` is an ancestor of `rev`, a tombstone we have (a deleted leaf), or a
    /// branch a conflict resolution closed here with a tombstone (sent first).
    pub fn can_build_on(&self, doc_id: &str, theirs: &RevId, rev: &RevId) -> Result<bool, DbError> {
        if self.is_ancestor(doc_id, theirs, rev)?
            || self.closing_tombstone(doc_id, theirs)?.is_some()
        {
            return Ok(true);
        }
        let Some((_, tree)) = self.revision_tree(doc_id)? else {
            return Ok(false);
        };
        Ok(tree
            .get(theirs)
            .is_some_and(|n| n.is_leaf() && n.is_deleted()))
    }

    /// The tombstones other than the current revision that closed live branches (conflict
    /// resolutions), each with its parent.
    pub fn closing_tombstones(&self, doc_id: &str) -> Result<Vec<(RevId, RevId)>, DbError> {
        let Some((_, tree)) = self.revision_tree(doc_id)? else {
            return Ok(Vec::new());
        };
        Ok(tree
            .leaves()
            .into_iter()
            .filter(|l| l.is_deleted() && !l.is_current())
            .filter_map(|l| {
                let parent = l.parent().filter(|p| !p.is_deleted())?;
                Some((l.rev_id().clone(), parent.rev_id().clone()))
            })
            .collect())
    }

    /// The tip of `rev`'s branch: the best leaf (live before deleted, then the higher revision)
    /// that is `rev` or descends from it; `None` if `rev` is unknown.
    pub fn branch_tip(&self, doc_id: &str, rev: &RevId) -> Result<Option<RevId>, DbError> {
        let Some((_, tree)) = self.revision_tree(doc_id)? else {
            return Ok(None);
        };
        let descends = |leaf: &crate::rev::RevNode<'_>| {
            let mut node = Some(*leaf);
            while let Some(n) = node {
                if n.rev_id() == rev {
                    return true;
                }
                node = n.parent();
            }
            false
        };
        // `leaves()` lists the best leaf first.
        Ok(tree
            .leaves()
            .into_iter()
            .find(|l| descends(l))
            .map(|l| l.rev_id().clone()))
    }

    /// A deleted leaf descending from `rev` (the tombstone that closed its branch when a
    /// conflict was resolved), if any.
    pub fn closing_tombstone(&self, doc_id: &str, rev: &RevId) -> Result<Option<RevId>, DbError> {
        let Some((_, tree)) = self.revision_tree(doc_id)? else {
            return Ok(None);
        };
        for leaf in tree
            .leaves()
            .into_iter()
            .filter(|l| l.is_deleted() && l.rev_id() != rev)
        {
            let mut node = leaf.parent();
            while let Some(n) = node {
                if n.rev_id() == rev {
                    return Ok(Some(leaf.rev_id().clone()));
                }
                node = n.parent();
            }
        }
        Ok(None)
    }

    /// The revision of `doc_id` that peer `remote_id` is known to have.
    pub fn remote_ancestor(&self, doc_id: &str, remote_id: u32) -> Result<Option<RevId>, DbError> {
        let Some((_, tree)) = self.revision_tree(doc_id)? else {
            return Ok(None);
        };
        Ok(tree.remote_ancestor(remote_id).cloned())
    }

    /// Records that peer `remote_id` has each `(doc ID, revision)`, in one transaction, without
    /// giving the documents new sequences. Documents or revisions that no longer exist are
    /// skipped.
    pub fn set_remote_ancestors(
        &mut self,
        remote_id: u32,
        revisions: &[(String, RevId)],
    ) -> Result<(), DbError> {
        let revisions: Vec<_> = revisions
            .iter()
            .map(|(doc_id, rev)| (doc_id.as_str(), rev, None))
            .collect();
        self.set_remote_ancestors_from(remote_id, &revisions)
    }

    /// [`Database::set_remote_ancestors`], each revision with the document's sequence and
    /// encoded tree as read earlier (e.g. with its changes-feed entry), if known: a tree that
    /// holds the revision is updated without reading the document again, the write guarded by
    /// that exact tree and sequence ([`WriteOp::UpdateTree`]'s `expected_tree` and
    /// `expected_sequence`). If any document changed since, the batch is planned again from
    /// what is stored.
    pub fn set_remote_ancestors_from(
        &mut self,
        remote_id: u32,
        revisions: &[(&str, &RevId, Option<SeenTree<'_>>)],
    ) -> Result<(), DbError> {
        for attempt in 0..super::write::MAX_ATTEMPTS {
            let mut batch = WriteBatch::new();
            // The last revision listed for a document is the one the peer has now.
            let mut latest: std::collections::BTreeMap<&str, _> = Default::default();
            for &(doc_id, rev, seen) in revisions {
                latest.insert(doc_id, (rev, seen));
            }
            for (doc_id, (rev, seen)) in latest {
                // Trees read earlier are trusted on the first attempt only.
                let seen = seen
                    .filter(|_| attempt == 0)
                    .and_then(|(sequence, bytes)| {
                        Some((RevTree::decode(bytes).ok()?, bytes, sequence))
                    })
                    .filter(|(tree, _, _)| tree.contains(rev));
                // The guard: the tree and sequence seen, or those of the document read now.
                let (mut tree, expected_tree, expected_sequence) = match seen {
                    Some((tree, bytes, seen_at)) => (tree, bytes.to_vec(), seen_at),
                    None => match self.store.document(doc_id)? {
                        Some(record) => {
                            (RevTree::decode(&record.tree)?, record.tree, record.sequence)
                        }
                        None => continue,
                    },
                };
                if !tree.contains(rev) || tree.remote_ancestor(remote_id) == Some(rev) {
                    continue;
                }
                let change = tree.set_remote_ancestor(remote_id, rev)?;
                let mut drop_bodies = change.drop_bodies;
                drop_bodies.extend(change.removed);
                batch.push(WriteOp::UpdateTree {
                    doc_id: doc_id.to_owned(),
                    tree: tree.encode(),
                    drop_bodies,
                    expected_tree: Some(expected_tree),
                    expected_sequence: Some(expected_sequence),
                });
            }
            if batch.is_empty() {
                return Ok(());
            }
            match self.store.apply(batch) {
                Ok(_) => return Ok(()),
                Err(StoreError::DocumentChanged { .. }) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(StoreError::DocumentChanged {
            doc_id: String::new(),
        }
        .into())
    }
}
