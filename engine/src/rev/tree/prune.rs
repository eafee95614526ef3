//! Reading ancestry, pruning old revisions and purging conflict branches.

use super::{Change, RevTree, RevTreeError};
use crate::rev::RevId;

/// How deep [`RevTree::history`] looks for a revision the peer already has (a history of this
/// many revision IDs stays well under BLIP's 64 KiB property limit).
pub const HISTORY_REACH: usize = 1_000;

impl RevTree {
    /// The ancestors of `rev`, newest first (its parent first), for a `rev` message's
    /// `history`: at most `max` of them, stopping after the first one for which `stop_at`
    /// returns `true` (a revision the peer already has; it is included). A revision the peer
    /// has that lies deeper than `max` (up to [`HISTORY_REACH`] ancestors) is still reached:
    /// without it the peer could not connect `rev` to its tree and would see a conflict where
    /// there is none (a document edited many times between two replications). Empty when
    /// `rev` is unknown or a root.
    pub fn history(&self, rev: &RevId, max: usize, stop_at: impl Fn(&RevId) -> bool) -> Vec<RevId> {
        let mut out = Vec::new();
        let Some(&start) = self.index.get(rev) else {
            return out;
        };
        let mut at = self.nodes[start].parent;
        while let Some(idx) = at {
            if out.len() >= max.max(HISTORY_REACH) {
                break;
            }
            let r = &self.nodes[idx].rev;
            out.push(r.clone());
            if stop_at(r) {
                return out;
            }
            at = self.nodes[idx].parent;
        }
        // No revision the peer has within reach: the usual `max`.
        out.truncate(max);
        out
    }

    /// Removes old revisions and returns them (oldest first; the caller drops their bodies).
    ///
    /// A revision is kept if it is a leaf, or if some leaf descending from it is at most
    /// `max_depth` generations above it — so every leaf keeps `max_depth` ancestors (or all it
    /// had) — or if it is a remote ancestor. The current revision is a leaf, so it stays. A
    /// remote ancestor deeper than that also keeps the revisions between it and the kept
    /// revisions below it, so that it never becomes a leaf itself. Revisions whose parent is
    /// removed become roots. The winner, the leaves, the conflicted flag and the flags of kept
    /// revisions never change. [`DEFAULT_MAX_DEPTH`](super::DEFAULT_MAX_DEPTH) is the usual
    /// depth; `0` keeps only leaves and remote ancestors (and what links those to leaves).
    pub fn prune(&mut self, max_depth: u32) -> Vec<RevId> {
        let n = self.nodes.len();
        // Every revision is at most `n - 1` generations above some leaf, so a tree this small
        // keeps everything (the usual case: a document with a short history).
        if (n as u64) <= u64::from(max_depth) + 1 {
            return Vec::new();
        }
        // Nearest leaf distance from each node, computed children first (reverse topological).
        let mut dist: Vec<u64> = vec![u64::MAX; n];
        for idx in (0..n).rev() {
            if self.nodes[idx].children == 0 {
                dist[idx] = 0;
            }
            if let Some(p) = self.nodes[idx].parent {
                dist[p] = dist[p].min(dist[idx].saturating_add(1));
            }
        }
        // Within reach of a leaf; the current revision is a leaf, so it is kept too.
        let mut keep: Vec<bool> = dist.iter().map(|&d| d <= u64::from(max_depth)).collect();
        for &idx in self.remotes.values() {
            keep[idx] = true;
        }
        // A remote ancestor deeper than that must not lose every child and turn into a false
        // leaf: the revisions between it and kept revisions below it stay too.
        let mut kept_below = vec![false; n];
        for idx in (0..n).rev() {
            if keep[idx] || kept_below[idx] {
                if let Some(p) = self.nodes[idx].parent {
                    kept_below[p] = true;
                }
            }
        }
        let mut remote_above = vec![false; n];
        for &idx in self.remotes.values() {
            remote_above[idx] = true;
        }
        for idx in 0..n {
            if let Some(p) = self.nodes[idx].parent {
                remote_above[idx] |= remote_above[p];
            }
        }
        let remove: Vec<bool> = (0..n)
            .map(|i| !(keep[i] || (kept_below[i] && remote_above[i])))
            .collect();
        if !remove.iter().any(|&r| r) {
            return Vec::new();
        }
        self.remove_nodes(&remove)
    }

    /// Removes the branch ending at `leaf`: the leaf and its ancestors up to (not including)
    /// the nearest one that has another child — typically a losing conflict branch after a
    /// resolution. If the branch is the only one, the tree becomes empty. Remote ancestors on
    /// the branch are forgotten. Fails with [`RevTreeError::NotFound`] or
    /// [`RevTreeError::NotALeaf`].
    pub fn purge_branch(&mut self, leaf: &RevId) -> Result<Change, RevTreeError> {
        let start = *self
            .index
            .get(leaf)
            .ok_or_else(|| RevTreeError::NotFound(leaf.clone()))?;
        if self.nodes[start].children != 0 {
            return Err(RevTreeError::NotALeaf(leaf.clone()));
        }
        let before_current = self.current().cloned();
        let mut remove = vec![false; self.nodes.len()];
        let mut at = Some(start);
        while let Some(idx) = at {
            remove[idx] = true;
            at = self.nodes[idx]
                .parent
                .filter(|&p| self.nodes[p].children == 1);
        }
        let removed = self.remove_nodes(&remove);
        Ok(Change {
            changed: true,
            current_changed: self.current() != before_current.as_ref(),
            removed,
            ..Change::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use crate::rev::RevId;
    use crate::rev::tree::testgen::rev;
    use crate::rev::tree::{RevTree, RevTreeError};

    /// `1-aa … n-aa`, built with a history so inner revisions have no bodies.
    fn chain(n: u64, digest: &str) -> Vec<RevId> {
        (1..=n)
            .rev()
            .map(|g| rev(&format!("{g}-{digest}")))
            .collect()
    }

    #[test]
    fn history_walks_parents_with_limits() {
        let mut t = RevTree::new();
        let _ = t.insert_with_history(&chain(5, "aa"), false).unwrap();
        let all = t.history(&rev("5-aa"), 10, |_| false);
        assert_eq!(
            all,
            vec![rev("4-aa"), rev("3-aa"), rev("2-aa"), rev("1-aa")]
        );
        assert_eq!(
            t.history(&rev("5-aa"), 2, |_| false),
            vec![rev("4-aa"), rev("3-aa")]
        );
        let known = [rev("3-aa")];
        assert_eq!(
            t.history(&rev("5-aa"), 10, |r| known.contains(r)),
            vec![rev("4-aa"), rev("3-aa")]
        );
        assert!(t.history(&rev("1-aa"), 10, |_| false).is_empty());
        assert!(t.history(&rev("9-aa"), 10, |_| false).is_empty());
        assert!(t.history(&rev("5-aa"), 0, |_| false).is_empty());
    }

    #[test]
    fn history_reaches_a_known_revision_beyond_the_limit() {
        // A document edited 60 times since the peer's revision 2: the history must reach it, or
        // the peer sees a conflict (found by the pair_operations fuzz target).
        let mut t = RevTree::new();
        let _ = t.insert_with_history(&chain(62, "aa"), false).unwrap();
        let known = [rev("2-aa")];
        let history = t.history(&rev("62-aa"), 20, |r| known.contains(r));
        assert_eq!(history.len(), 60);
        assert_eq!(history.last(), Some(&rev("2-aa")));
        // Without a known revision in reach, the limit holds.
        assert_eq!(t.history(&rev("62-aa"), 20, |_| false).len(), 20);
        let unknown = [rev("2-bb")];
        assert_eq!(
            t.history(&rev("62-aa"), 20, |r| unknown.contains(r)).len(),
            20
        );
    }

    #[test]
    fn prune_keeps_depth_below_every_leaf() {
        let mut t = RevTree::new();
        let _ = t.insert_with_history(&chain(10, "aa"), false).unwrap();
        // A branch from 6-aa, ending at 7-bb.
        let _ = t
            .insert_with_history(&[rev("7-bb"), rev("6-aa")], false)
            .unwrap();
        let removed = t.prune(2);
        // 10-aa keeps 9, 8; 7-bb keeps 6, 5. So 1..=4 and 7-aa go.
        let mut expected: Vec<_> = chain(4, "aa").into_iter().rev().collect();
        expected.push(rev("7-aa"));
        assert_eq!(removed, expected);
        assert_eq!(t.len(), 6);
        assert!(
            t.get(&rev("5-aa")).unwrap().parent().is_none(),
            "the oldest kept is a root"
        );
        assert!(
            t.get(&rev("8-aa")).unwrap().parent().is_none(),
            "cut off from its branch"
        );
        assert!(!t.get(&rev("6-aa")).unwrap().is_leaf());
        assert_eq!(t.current(), Some(&rev("10-aa")));
        assert!(t.is_conflicted());
        assert!(t.prune(2).is_empty(), "pruning again removes nothing");
    }

    #[test]
    fn prune_keeps_remote_ancestors_and_their_path() {
        let mut t = RevTree::new();
        let _ = t.insert_with_history(&chain(10, "aa"), false).unwrap();
        let _ = t.set_remote_ancestor(3, &rev("2-aa")).unwrap();
        let removed = t.prune(1);
        assert_eq!(removed, vec![rev("1-aa")]);
        assert_eq!(t.remote_ancestor(3), Some(&rev("2-aa")));
        assert!(
            !t.get(&rev("2-aa")).unwrap().is_leaf(),
            "never turns into a false leaf"
        );
        let _ = t.remove_remote_ancestor(3);
        let removed = t.prune(1);
        assert_eq!(removed.len(), 7);
        assert_eq!(t.len(), 2);
        let removed = t.prune(0);
        assert_eq!(removed, vec![rev("9-aa")]);
        assert_eq!(t.current(), Some(&rev("10-aa")));
    }

    #[test]
    fn large_trees_stay_correct() {
        let mut t = RevTree::new();
        let mut base: Option<RevId> = None;
        for g in 1..=20_000u64 {
            let r = RevId::from_digest(g, &g.to_be_bytes());
            let c = t.add_local_edit(base.as_ref(), r.clone(), false).unwrap();
            assert!(c.current_changed);
            base = Some(r);
        }
        let _ = t
            .insert_with_history(&[rev("19990-ff"), rev("19989-ff")], false)
            .unwrap();
        assert_eq!(t.len(), 20_002);
        assert!(t.is_conflicted());
        let bytes = t.encode();
        assert_eq!(RevTree::decode(&bytes).unwrap(), t);
        let removed = t.prune(crate::rev::DEFAULT_MAX_DEPTH);
        assert_eq!(removed.len(), 20_000 - 51);
        assert_eq!(
            t.len(),
            53,
            "51 on the long branch, 2 in a tree whose history shared nothing"
        );
        assert_eq!(t.current(), base.as_ref());
        assert_eq!(t.history(base.as_ref().unwrap(), 100, |_| false).len(), 50);
    }

    #[test]
    fn purge_branch_removes_a_losing_branch() {
        let mut t = RevTree::new();
        let _ = t.insert_with_history(&chain(3, "aa"), false).unwrap();
        let _ = t
            .insert_with_history(&[rev("4-bb"), rev("3-bb"), rev("2-aa")], false)
            .unwrap();
        let _ = t.set_remote_ancestor(1, &rev("3-bb")).unwrap();
        assert_eq!(t.current(), Some(&rev("4-bb")));
        let c = t.purge_branch(&rev("4-bb")).unwrap();
        assert_eq!(c.removed, vec![rev("3-bb"), rev("4-bb")]);
        assert!(c.changed && c.current_changed);
        assert_eq!(t.current(), Some(&rev("3-aa")));
        assert_eq!(
            t.remote_ancestor(1),
            None,
            "a purged remote ancestor is forgotten"
        );
        assert!(!t.is_conflicted());
        assert_eq!(
            t.purge_branch(&rev("2-aa")),
            Err(RevTreeError::NotALeaf(rev("2-aa")))
        );
        assert_eq!(
            t.purge_branch(&rev("4-bb")),
            Err(RevTreeError::NotFound(rev("4-bb")))
        );
        let c = t.purge_branch(&rev("3-aa")).unwrap();
        assert_eq!(c.removed.len(), 3);
        assert!(t.is_empty() && t.current().is_none());
    }
}
