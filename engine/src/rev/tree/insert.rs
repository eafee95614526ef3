//! Adding revisions: local edits, children of a leaf, revisions with history from a peer; and
//! the bookkeeping of bodies and remote ancestors.

use super::{Change, RevTree, RevTreeError};
use crate::rev::RevId;

impl RevTree {
    /// Adds `rev` as a child of the leaf `parent`, or as the first revision of an empty tree
    /// when `parent` is `None`. The new revision is marked as having a body
    /// ([`Change::store_body`]); the parent's body is released unless it is a remote ancestor.
    ///
    /// Errors: `parent` is `None` but the tree is not empty ([`RevTreeError::Conflict`]); the
    /// parent is unknown ([`RevTreeError::UnknownParent`]) or not a leaf
    /// ([`RevTreeError::ParentNotLeaf`]); the parent's generation is the largest possible
    /// ([`RevTreeError::GenerationOverflow`]); `rev`'s generation is not the parent's plus one,
    /// or 1 for a first revision ([`RevTreeError::GenerationMismatch`]); `rev` is already in the
    /// tree ([`RevTreeError::Duplicate`]).
    ///
    /// To recreate a deleted document, add a child of its deleted leaf (as LiteCore does).
    pub fn add_child(
        &mut self,
        parent: Option<&RevId>,
        rev: RevId,
        deleted: bool,
    ) -> Result<Change, RevTreeError> {
        let parent_idx = match parent {
            None => {
                if !self.is_empty() {
                    return Err(RevTreeError::Conflict {
                        current: self.current().cloned(),
                    });
                }
                if rev.generation() != 1 {
                    return Err(RevTreeError::GenerationMismatch { rev, expected: 1 });
                }
                None
            }
            Some(p) => {
                let idx = *self
                    .index
                    .get(p)
                    .ok_or_else(|| RevTreeError::UnknownParent(p.clone()))?;
                if self.nodes[idx].children != 0 {
                    return Err(RevTreeError::ParentNotLeaf(p.clone()));
                }
                let expected = p
                    .child_generation()
                    .ok_or_else(|| RevTreeError::GenerationOverflow(p.clone()))?;
                if rev.generation() != expected {
                    return Err(RevTreeError::GenerationMismatch { rev, expected });
                }
                Some(idx)
            }
        };
        if self.contains(&rev) {
            return Err(RevTreeError::Duplicate(rev));
        }
        Ok(self.graft(parent_idx, &[], rev, deleted))
    }

    /// Adds a local edit: `rev` becomes a child of the current revision. `base` is the revision
    /// the edit was made from and must be the current revision; otherwise the edit is stale and
    /// fails with [`RevTreeError::Conflict`] naming the current revision.
    ///
    /// `base` may be `None` for a document with no revision yet, and also when the current
    /// revision is a deletion: writing a "new" document over a tombstone continues the deleted
    /// branch (the new revision is a child of the tombstone), as Couchbase Lite does. Other
    /// errors are those of [`RevTree::add_child`]. In a conflicted document the base is the
    /// winner; to edit a losing branch (say, to resolve a conflict), use
    /// [`RevTree::add_child`] on its leaf.
    pub fn add_local_edit(
        &mut self,
        base: Option<&RevId>,
        rev: RevId,
        deleted: bool,
    ) -> Result<Change, RevTreeError> {
        let current = self.current_node();
        let accepted = match (base, current) {
            (None, None) => true,
            (None, Some(cur)) => cur.is_deleted(),
            (Some(b), Some(cur)) => b == cur.rev_id(),
            (Some(_), None) => false,
        };
        if !accepted {
            return Err(RevTreeError::Conflict {
                current: self.current().cloned(),
            });
        }
        let parent = self.current().cloned();
        self.add_child(parent.as_ref(), rev, deleted)
    }

    /// Inserts a revision received with its history: `history[0]` is the new revision, then its
    /// ancestors newest first (a `rev` message's `rev` and `history`). The generations must be
    /// consecutive ([`RevTreeError::NotAChain`]); an empty history is
    /// [`RevTreeError::EmptyHistory`].
    ///
    /// The revision is grafted onto the newest ancestor the tree knows; ancestors it does not
    /// know are added without bodies. When no listed revision is known, the oldest one becomes
    /// a new root (a history may stop early). When `history[0]` is already in the tree nothing
    /// happens and the returned [`Change::changed`] is `false`. Grafting onto a revision that
    /// is not a leaf creates a branch; [`Change::conflict_created`] says whether that made a
    /// conflict.
    pub fn insert_with_history(
        &mut self,
        history: &[RevId],
        deleted: bool,
    ) -> Result<Change, RevTreeError> {
        let newest = history.first().ok_or(RevTreeError::EmptyHistory)?;
        for (index, pair) in history.windows(2).enumerate() {
            let expected = pair[0].generation() - 1;
            if pair[1].generation() != expected {
                return Err(RevTreeError::NotAChain {
                    index: index + 1,
                    rev: pair[1].clone(),
                    expected,
                });
            }
        }
        if self.contains(newest) {
            return Ok(Change::default());
        }
        let known = history
            .iter()
            .position(|r| self.contains(r))
            .unwrap_or(history.len());
        let parent = history.get(known).and_then(|r| self.index.get(r).copied());
        // history[1..known] are new ancestors without bodies, oldest first after reversal.
        let mut ancestors: Vec<RevId> = history[1..known].to_vec();
        ancestors.reverse();
        Ok(self.graft(parent, &ancestors, newest.clone(), deleted))
    }

    /// Appends `ancestors` (oldest first, body-less) then `rev` (with a body) under `parent`.
    /// Every check has been made by the caller.
    fn graft(
        &mut self,
        parent: Option<usize>,
        ancestors: &[RevId],
        rev: RevId,
        deleted: bool,
    ) -> Change {
        let before_current = self.current;
        // Live leaves exist iff the current revision is live (live leaves win).
        let had_live_leaf = before_current.is_some_and(|c| !self.nodes[c].deleted);
        let parent_was_live_leaf =
            parent.is_some_and(|p| self.nodes[p].children == 0 && !self.nodes[p].deleted);
        let mut change = Change {
            changed: true,
            ..Change::default()
        };
        let mut at = parent;
        for anc in ancestors {
            self.push_node(at, anc.clone(), false, false);
            change.added.push(anc.clone());
            at = Some(self.nodes.len() - 1);
        }
        self.push_node(at, rev.clone(), deleted, true);
        let new = self.nodes.len() - 1;
        change.added.push(rev.clone());
        change.store_body = Some(rev);
        if let Some(p) = parent {
            self.release_body(p, &mut change.drop_bodies);
        }
        // Only the parent stopped being a leaf and only `new` became one. If the parent was not
        // the winner, the winner is the better of the old winner and `new`. If it was, `new`
        // (one generation higher) beats every other leaf — unless it deletes a live winner,
        // when another live leaf may take over.
        self.current = match before_current {
            Some(c) if Some(c) != parent => Some(if self.winner_key(new) > self.winner_key(c) {
                new
            } else {
                c
            }),
            Some(c) if deleted && !self.nodes[c].deleted => {
                self.update_current();
                self.current
            }
            _ => Some(new),
        };
        change.current_changed = self.current != before_current;
        // The live-leaf count grows iff a live leaf appears without replacing a live leaf.
        change.conflict_created = !deleted && !parent_was_live_leaf && had_live_leaf;
        change
    }

    /// Records that remote peer `remote_id` has revision `rev` (its body is kept as a delta
    /// base). The previously recorded revision's body is released (listed in
    /// [`Change::drop_bodies`]) unless it is a leaf or another peer's remote ancestor. The tree
    /// does not know bodies it never had: whether `rev`'s body is available as a delta base is
    /// [`RevNode::has_body`](super::RevNode::has_body).
    /// Fails with [`RevTreeError::NotFound`] if `rev` is not in the tree.
    pub fn set_remote_ancestor(
        &mut self,
        remote_id: u32,
        rev: &RevId,
    ) -> Result<Change, RevTreeError> {
        let idx = *self
            .index
            .get(rev)
            .ok_or_else(|| RevTreeError::NotFound(rev.clone()))?;
        let previous = self.remotes.insert(remote_id, idx);
        Ok(self.after_remote_moved(previous, idx))
    }

    /// Forgets which revision remote peer `remote_id` has, releasing that revision's body if
    /// nothing else needs it.
    pub fn remove_remote_ancestor(&mut self, remote_id: u32) -> Change {
        let previous = self.remotes.remove(&remote_id);
        match previous {
            Some(p) => {
                let mut change = Change {
                    changed: true,
                    ..Change::default()
                };
                self.release_body(p, &mut change.drop_bodies);
                change
            }
            None => Change::default(),
        }
    }

    fn after_remote_moved(&mut self, previous: Option<usize>, now: usize) -> Change {
        match previous {
            Some(p) if p == now => Change::default(),
            Some(p) => {
                let mut change = Change {
                    changed: true,
                    ..Change::default()
                };
                self.release_body(p, &mut change.drop_bodies);
                change
            }
            None => Change {
                changed: true,
                ..Change::default()
            },
        }
    }

    /// Records whether the store holds the body of `rev` (for example after the caller dropped
    /// it, or stored a body received later). Fails with [`RevTreeError::NotFound`].
    pub fn set_has_body(&mut self, rev: &RevId, has_body: bool) -> Result<(), RevTreeError> {
        let idx = *self
            .index
            .get(rev)
            .ok_or_else(|| RevTreeError::NotFound(rev.clone()))?;
        self.nodes[idx].has_body = has_body;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rev::tree::testgen::rev;

    fn chain(n: u64) -> RevTree {
        let mut t = RevTree::new();
        let mut parent: Option<RevId> = None;
        for g in 1..=n {
            let r = rev(&format!("{g}-aa"));
            let _ = t.add_child(parent.as_ref(), r.clone(), false).unwrap();
            parent = Some(r);
        }
        t
    }

    #[test]
    fn add_child_creates_and_extends() {
        let mut t = RevTree::new();
        let c = t.add_child(None, rev("1-aa"), false).unwrap();
        assert!(c.changed && c.current_changed && !c.conflict_created);
        assert_eq!(c.added, vec![rev("1-aa")]);
        assert_eq!(c.store_body, Some(rev("1-aa")));
        assert!(c.drop_bodies.is_empty());
        let c = t.add_child(Some(&rev("1-aa")), rev("2-bb"), false).unwrap();
        assert_eq!(
            c.drop_bodies,
            vec![rev("1-aa")],
            "the old leaf's body is no longer needed"
        );
        assert!(!t.get(&rev("1-aa")).unwrap().has_body());
        assert_eq!(t.current(), Some(&rev("2-bb")));
        assert_eq!(t.len(), 2);
    }

    #[test]
    fn add_child_errors() {
        let mut t = chain(2);
        let before = t.clone();
        assert_eq!(
            t.add_child(None, rev("1-bb"), false),
            Err(RevTreeError::Conflict {
                current: Some(rev("2-aa"))
            })
        );
        assert_eq!(
            t.add_child(Some(&rev("5-aa")), rev("6-aa"), false),
            Err(RevTreeError::UnknownParent(rev("5-aa")))
        );
        assert_eq!(
            t.add_child(Some(&rev("1-aa")), rev("2-bb"), false),
            Err(RevTreeError::ParentNotLeaf(rev("1-aa")))
        );
        assert_eq!(
            t.add_child(Some(&rev("2-aa")), rev("4-bb"), false),
            Err(RevTreeError::GenerationMismatch {
                rev: rev("4-bb"),
                expected: 3
            })
        );
        assert_eq!(
            t.add_child(Some(&rev("2-aa")), rev("2-aa"), false),
            Err(RevTreeError::GenerationMismatch {
                rev: rev("2-aa"),
                expected: 3
            })
        );
        assert_eq!(before, t, "failed mutations change nothing");
        let mut e = RevTree::new();
        assert_eq!(
            e.add_child(None, rev("2-aa"), false),
            Err(RevTreeError::GenerationMismatch {
                rev: rev("2-aa"),
                expected: 1
            })
        );
        let max = rev("18446744073709551615-aa");
        let _ = e
            .insert_with_history(std::slice::from_ref(&max), false)
            .unwrap();
        assert_eq!(
            e.add_child(Some(&max), rev("1-bb"), false),
            Err(RevTreeError::GenerationOverflow(max))
        );
    }

    #[test]
    fn add_child_rejects_duplicates() {
        let mut t = chain(1);
        let _ = t
            .insert_with_history(&[rev("2-bb"), rev("1-bb")], false)
            .unwrap();
        assert_eq!(
            t.add_child(Some(&rev("1-aa")), rev("2-bb"), false),
            Err(RevTreeError::Duplicate(rev("2-bb")))
        );
    }

    #[test]
    fn local_edit_needs_the_current_base() {
        let mut t = RevTree::new();
        assert_eq!(
            t.add_local_edit(Some(&rev("1-aa")), rev("2-aa"), false),
            Err(RevTreeError::Conflict { current: None })
        );
        let _ = t.add_local_edit(None, rev("1-aa"), false).unwrap();
        assert_eq!(
            t.add_local_edit(None, rev("1-bb"), false),
            Err(RevTreeError::Conflict {
                current: Some(rev("1-aa"))
            }),
            "a live document needs its base"
        );
        let _ = t
            .add_local_edit(Some(&rev("1-aa")), rev("2-aa"), false)
            .unwrap();
        assert_eq!(
            t.add_local_edit(Some(&rev("1-aa")), rev("2-bb"), false),
            Err(RevTreeError::Conflict {
                current: Some(rev("2-aa"))
            }),
            "a stale base is a conflict"
        );
        let c = t
            .add_local_edit(Some(&rev("2-aa")), rev("3-aa"), true)
            .unwrap();
        assert!(c.current_changed && t.is_deleted());
        // Recreating over the tombstone continues its branch.
        let c = t.add_local_edit(None, rev("4-aa"), false).unwrap();
        assert_eq!(t.get(&rev("4-aa")).unwrap().parent_id(), Some(&rev("3-aa")));
        assert_eq!(c.drop_bodies, vec![rev("3-aa")]);
        assert!(!t.is_deleted());
    }

    #[test]
    fn insert_with_history_grafts_and_reports() {
        let mut t = chain(2);
        // Extends the current leaf through unknown ancestors.
        let c = t
            .insert_with_history(&[rev("4-aa"), rev("3-aa"), rev("2-aa")], false)
            .unwrap();
        assert_eq!(c.added, vec![rev("3-aa"), rev("4-aa")]);
        assert_eq!(c.store_body, Some(rev("4-aa")));
        assert_eq!(c.drop_bodies, vec![rev("2-aa")]);
        assert!(c.current_changed && !c.conflict_created);
        assert!(
            !t.get(&rev("3-aa")).unwrap().has_body(),
            "ancestors come without bodies"
        );
        // A branch from an inner revision is a conflict.
        let c = t
            .insert_with_history(&[rev("3-bb"), rev("2-aa"), rev("1-aa")], false)
            .unwrap();
        assert!(c.changed && c.conflict_created && !c.current_changed);
        assert!(c.drop_bodies.is_empty());
        assert!(t.is_conflicted());
        // Present already: a no-op.
        let c = t
            .insert_with_history(&[rev("3-bb"), rev("2-aa")], false)
            .unwrap();
        assert!(!c.changed && c.added.is_empty() && c.store_body.is_none());
        // A history that stops early with nothing known starts a new root.
        let c = t
            .insert_with_history(&[rev("9-cc"), rev("8-cc")], true)
            .unwrap();
        assert!(
            c.changed && !c.conflict_created,
            "a deleted leaf is no conflict"
        );
        assert!(t.get(&rev("8-cc")).unwrap().parent().is_none());
        // Ending a conflict branch with a tombstone resolves the conflict.
        let c = t
            .insert_with_history(&[rev("4-bb"), rev("3-bb")], true)
            .unwrap();
        assert!(!c.conflict_created && !t.is_conflicted());
        assert_eq!(t.current(), Some(&rev("4-aa")));
    }

    #[test]
    fn insert_with_history_errors() {
        let mut t = chain(1);
        assert_eq!(
            t.insert_with_history(&[], false),
            Err(RevTreeError::EmptyHistory)
        );
        assert_eq!(
            t.insert_with_history(&[rev("3-aa"), rev("1-aa")], false),
            Err(RevTreeError::NotAChain {
                index: 1,
                rev: rev("1-aa"),
                expected: 2
            })
        );
        assert_eq!(
            t.insert_with_history(&[rev("3-aa"), rev("2-aa"), rev("2-bb")], false),
            Err(RevTreeError::NotAChain {
                index: 2,
                rev: rev("2-bb"),
                expected: 1
            })
        );
        assert_eq!(
            t.insert_with_history(&[rev("1-bb"), rev("1-aa")], false),
            Err(RevTreeError::NotAChain {
                index: 1,
                rev: rev("1-aa"),
                expected: 0
            })
        );
        assert_eq!(t, chain(1));
    }

    #[test]
    fn remote_ancestor_keeps_its_body_until_moved() {
        let mut t = chain(1);
        let c = t.set_remote_ancestor(7, &rev("1-aa")).unwrap();
        assert!(c.changed && c.drop_bodies.is_empty());
        assert_eq!(t.remote_ancestor(7), Some(&rev("1-aa")));
        let c = t.add_child(Some(&rev("1-aa")), rev("2-aa"), false).unwrap();
        assert!(
            c.drop_bodies.is_empty(),
            "a remote ancestor keeps its body as a delta base"
        );
        assert!(t.get(&rev("1-aa")).unwrap().has_body());
        assert!(t.get(&rev("1-aa")).unwrap().is_remote_ancestor());
        let c = t.set_remote_ancestor(7, &rev("1-aa")).unwrap();
        assert!(
            !c.changed,
            "setting the same revision again changes nothing"
        );
        // Another peer on the same revision keeps it alive when the first moves on.
        let _ = t.set_remote_ancestor(8, &rev("1-aa")).unwrap();
        let c = t.set_remote_ancestor(7, &rev("2-aa")).unwrap();
        assert!(c.changed && c.drop_bodies.is_empty());
        let c = t.set_remote_ancestor(8, &rev("2-aa")).unwrap();
        assert_eq!(c.drop_bodies, vec![rev("1-aa")]);
        assert!(!t.get(&rev("1-aa")).unwrap().has_body());
        let all: Vec<_> = t
            .remote_ancestors()
            .map(|(id, r)| (id, r.clone()))
            .collect();
        assert_eq!(all, vec![(7, rev("2-aa")), (8, rev("2-aa"))]);
        assert_eq!(
            t.set_remote_ancestor(1, &rev("5-aa")),
            Err(RevTreeError::NotFound(rev("5-aa")))
        );
        assert_eq!(t.remote_ancestor(1), None);
    }

    #[test]
    fn removing_a_remote_ancestor_releases_its_body() {
        let mut t = chain(1);
        let _ = t.set_remote_ancestor(1, &rev("1-aa")).unwrap();
        let _ = t.add_child(Some(&rev("1-aa")), rev("2-aa"), false).unwrap();
        let c = t.remove_remote_ancestor(1);
        assert!(c.changed);
        assert_eq!(c.drop_bodies, vec![rev("1-aa")]);
        assert!(!t.remove_remote_ancestor(1).changed);
        // A leaf keeps its body even when no longer a remote ancestor.
        let _ = t.set_remote_ancestor(2, &rev("2-aa")).unwrap();
        let c = t.remove_remote_ancestor(2);
        assert!(c.changed && c.drop_bodies.is_empty());
    }

    #[test]
    fn set_has_body_records_the_store_state() {
        let mut t = chain(2);
        t.set_has_body(&rev("1-aa"), true).unwrap();
        assert!(t.get(&rev("1-aa")).unwrap().has_body());
        t.set_has_body(&rev("2-aa"), false).unwrap();
        assert!(!t.get(&rev("2-aa")).unwrap().has_body());
        assert_eq!(
            t.set_has_body(&rev("3-aa"), true),
            Err(RevTreeError::NotFound(rev("3-aa")))
        );
    }
}
