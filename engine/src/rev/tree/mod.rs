//! The per-document revision tree ([`RevTree`]).

mod codec;
mod error;
mod insert;
#[cfg(test)]
mod proptests;
mod prune;
#[cfg(test)]
pub(crate) mod testgen;

use std::collections::BTreeMap;
use std::fmt;

use crate::rev::RevId;

pub use codec::TREE_FORMAT_VERSION;
pub use error::RevTreeError;
pub use prune::HISTORY_REACH;

/// The default depth [`RevTree::prune`] keeps below every leaf.
pub const DEFAULT_MAX_DEPTH: u32 = 50;

/// One revision of the tree, as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Node {
    rev: RevId,
    /// Index of the parent in `RevTree::nodes`, always smaller than this node's index.
    parent: Option<usize>,
    deleted: bool,
    has_body: bool,
    /// Number of children (a leaf has none).
    children: u32,
}

/// The revision tree of one document.
///
/// A `RevTree` holds every revision of one document that this peer knows: its ID, its parent,
/// whether it is a deletion (tombstone) and whether the store keeps its body. Revisions form a
/// forest (a history may stop early, and pruning cuts old revisions), stored as a `Vec` in
/// topological order: a parent always comes before its children.
///
/// The **current** (winning) revision is chosen by a rule every peer applies identically:
/// leaves over non-leaves; a live leaf over a deleted one; then the higher generation; then the
/// byte-wise higher revision ID ([`RevId`]'s `Ord`).
///
/// Bodies: a revision's body is kept while it is a leaf (the current revision and every
/// conflicting branch need theirs) or while it is a **remote ancestor** — the revision a remote
/// peer is known to have, kept as a delta base. Every mutation returns a [`Change`] telling the
/// caller which body to store and which bodies it may drop. A failed mutation changes nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RevTree {
    /// Revisions in topological order.
    nodes: Vec<Node>,
    /// Revision ID to index in `nodes`.
    index: BTreeMap<RevId, usize>,
    /// Remote peer ID to the index of the revision that peer is known to have.
    remotes: BTreeMap<u32, usize>,
    /// Index of the current (winning) revision; `None` only for an empty tree.
    current: Option<usize>,
}

/// What a mutation of a [`RevTree`] did, so that the caller can persist it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
#[must_use = "a Change says which bodies to store and drop"]
pub struct Change {
    /// Whether the tree changed at all; when `false` there is nothing to persist.
    pub changed: bool,
    /// Revisions added to the tree, oldest first. Only the last one (if any) has a body; the
    /// others are ancestors known from a history, without bodies.
    pub added: Vec<RevId>,
    /// The revision whose body the caller must now store (the new revision), if any.
    pub store_body: Option<RevId>,
    /// Whether the current (winning) revision changed.
    pub current_changed: bool,
    /// Whether the mutation raised the number of live leaves above one: a conflict appeared.
    pub conflict_created: bool,
    /// Revisions still in the tree whose bodies are no longer needed: the caller drops them.
    pub drop_bodies: Vec<RevId>,
    /// Revisions removed from the tree: the caller drops their bodies too.
    pub removed: Vec<RevId>,
}

/// A read-only view of one revision of a [`RevTree`].
#[derive(Clone, Copy)]
pub struct RevNode<'a> {
    tree: &'a RevTree,
    idx: usize,
}

impl<'a> RevNode<'a> {
    fn node(&self) -> &'a Node {
        &self.tree.nodes[self.idx]
    }

    /// The revision ID.
    pub fn rev_id(&self) -> &'a RevId {
        &self.node().rev
    }

    /// The generation of the revision.
    pub fn generation(&self) -> u64 {
        self.node().rev.generation()
    }

    /// The parent revision, `None` for a root (the first revision, or the oldest one known).
    pub fn parent(&self) -> Option<RevNode<'a>> {
        self.node().parent.map(|idx| RevNode {
            tree: self.tree,
            idx,
        })
    }

    /// The parent's revision ID.
    pub fn parent_id(&self) -> Option<&'a RevId> {
        self.parent().map(|p| p.rev_id())
    }

    /// Whether the revision is a deletion (tombstone).
    pub fn is_deleted(&self) -> bool {
        self.node().deleted
    }

    /// Whether the store holds this revision's body.
    pub fn has_body(&self) -> bool {
        self.node().has_body
    }

    /// Whether the revision has no child.
    pub fn is_leaf(&self) -> bool {
        self.node().children == 0
    }

    /// Whether this is the current (winning) revision.
    pub fn is_current(&self) -> bool {
        self.tree.current == Some(self.idx)
    }

    /// Whether some remote peer is recorded as having this revision.
    pub fn is_remote_ancestor(&self) -> bool {
        self.tree.is_remote(self.idx)
    }
}

impl fmt::Debug for RevNode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RevNode")
            .field("rev", self.rev_id())
            .field("parent", &self.parent_id())
            .field("deleted", &self.is_deleted())
            .field("has_body", &self.has_body())
            .field("leaf", &self.is_leaf())
            .finish()
    }
}

impl RevTree {
    /// An empty tree (a document with no revision yet).
    pub fn new() -> Self {
        Self::default()
    }

    /// The number of revisions in the tree.
    pub fn len(&self) -> usize {
        self.nodes.len()
    }

    /// Whether the tree holds no revision.
    pub fn is_empty(&self) -> bool {
        self.nodes.is_empty()
    }

    /// The current (winning) revision, `None` for an empty tree.
    pub fn current(&self) -> Option<&RevId> {
        self.current.map(|idx| &self.nodes[idx].rev)
    }

    /// The current (winning) revision's node, `None` for an empty tree.
    pub fn current_node(&self) -> Option<RevNode<'_>> {
        self.current.map(|idx| self.view(idx))
    }

    /// Whether the current revision is a deletion (`false` for an empty tree).
    pub fn is_deleted(&self) -> bool {
        self.current_node().is_some_and(|n| n.is_deleted())
    }

    /// The node of a revision, if it is in the tree.
    pub fn get(&self, rev: &RevId) -> Option<RevNode<'_>> {
        self.index.get(rev).map(|&idx| self.view(idx))
    }

    /// Whether the revision is in the tree.
    pub fn contains(&self, rev: &RevId) -> bool {
        self.index.contains_key(rev)
    }

    /// Every revision, parents before children.
    pub fn iter(&self) -> impl Iterator<Item = RevNode<'_>> {
        (0..self.nodes.len()).map(|idx| self.view(idx))
    }

    /// The leaves, best first by the winner rule (the current revision first).
    pub fn leaves(&self) -> Vec<RevNode<'_>> {
        let mut leaves: Vec<usize> = self.leaf_indices().collect();
        leaves.sort_by(|&a, &b| self.winner_key(b).cmp(&self.winner_key(a)));
        leaves.into_iter().map(|idx| self.view(idx)).collect()
    }

    /// The live (not deleted) leaves other than the current revision, best first.
    pub fn live_conflicts(&self) -> Vec<RevNode<'_>> {
        self.leaves()
            .into_iter()
            .filter(|n| !n.is_deleted() && !n.is_current())
            .collect()
    }

    /// Whether the document has more than one live leaf (an unresolved conflict).
    pub fn is_conflicted(&self) -> bool {
        self.live_leaf_count() > 1
    }

    /// The revision remote peer `remote_id` is known to have, if recorded.
    pub fn remote_ancestor(&self, remote_id: u32) -> Option<&RevId> {
        self.remotes
            .get(&remote_id)
            .map(|&idx| &self.nodes[idx].rev)
    }

    /// Every recorded remote ancestor, by remote ID.
    pub fn remote_ancestors(&self) -> impl Iterator<Item = (u32, &RevId)> {
        self.remotes
            .iter()
            .map(|(&id, &idx)| (id, &self.nodes[idx].rev))
    }

    fn view(&self, idx: usize) -> RevNode<'_> {
        RevNode { tree: self, idx }
    }

    fn leaf_indices(&self) -> impl Iterator<Item = usize> + '_ {
        self.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.children == 0)
            .map(|(idx, _)| idx)
    }

    fn live_leaf_count(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.children == 0 && !n.deleted)
            .count()
    }

    /// The winner rule's sort key: leaf, then live, then revision ID (higher wins).
    fn winner_key(&self, idx: usize) -> (bool, bool, &RevId) {
        let n = &self.nodes[idx];
        (n.children == 0, !n.deleted, &n.rev)
    }

    fn is_remote(&self, idx: usize) -> bool {
        self.remotes.values().any(|&r| r == idx)
    }

    /// Recomputes the cached current revision.
    fn update_current(&mut self) {
        self.current =
            (0..self.nodes.len()).max_by(|&a, &b| self.winner_key(a).cmp(&self.winner_key(b)));
    }

    /// Appends a node; its parent (if any) must exist. Does not update `current`.
    fn push_node(&mut self, parent: Option<usize>, rev: RevId, deleted: bool, has_body: bool) {
        let idx = self.nodes.len();
        if let Some(p) = parent {
            self.nodes[p].children += 1;
        }
        self.index.insert(rev.clone(), idx);
        self.nodes.push(Node {
            rev,
            parent,
            deleted,
            has_body,
            children: 0,
        });
    }

    /// Forgets the body of `idx` if it is no longer needed: not a leaf, not a remote ancestor.
    fn release_body(&mut self, idx: usize, drops: &mut Vec<RevId>) {
        let is_remote = self.is_remote(idx);
        let node = &mut self.nodes[idx];
        if node.has_body && node.children > 0 && !is_remote {
            node.has_body = false;
            drops.push(node.rev.clone());
        }
    }

    /// Removes the flagged nodes. Kept nodes whose parent goes become roots; remote ancestors
    /// pointing at removed nodes are forgotten. Returns the removed IDs in tree order.
    fn remove_nodes(&mut self, remove: &[bool]) -> Vec<RevId> {
        let mut removed = Vec::new();
        let mut remap: Vec<Option<usize>> = Vec::with_capacity(self.nodes.len());
        let mut kept = Vec::with_capacity(self.nodes.len());
        for (idx, mut node) in std::mem::take(&mut self.nodes).into_iter().enumerate() {
            if remove[idx] {
                remap.push(None);
                removed.push(node.rev);
                continue;
            }
            node.parent = node.parent.and_then(|p| remap[p]);
            node.children = 0;
            remap.push(Some(kept.len()));
            kept.push(node);
        }
        for idx in 0..kept.len() {
            if let Some(p) = kept[idx].parent {
                kept[p].children += 1;
            }
        }
        self.nodes = kept;
        self.index = self
            .nodes
            .iter()
            .enumerate()
            .map(|(i, n)| (n.rev.clone(), i))
            .collect();
        self.remotes = std::mem::take(&mut self.remotes)
            .into_iter()
            .filter_map(|(id, idx)| remap[idx].map(|new| (id, new)))
            .collect();
        self.update_current();
        removed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rev::tree::testgen::rev;

    #[test]
    fn empty_tree_has_nothing() {
        let t = RevTree::new();
        assert!(t.is_empty());
        assert_eq!(t.len(), 0);
        assert_eq!(t.current(), None);
        assert!(t.current_node().is_none());
        assert!(t.leaves().is_empty());
        assert!(!t.is_conflicted());
        assert!(!t.is_deleted());
        assert_eq!(t, RevTree::default());
    }

    #[test]
    fn winner_prefers_live_leaf_then_generation_then_digest() {
        let mut t = RevTree::new();
        let _ = t.add_child(None, rev("1-aa"), false).unwrap();
        let _ = t.add_child(Some(&rev("1-aa")), rev("2-aa"), false).unwrap();
        let _ = t.add_child(Some(&rev("2-aa")), rev("3-aa"), true).unwrap();
        // A branch from 1-aa: lower generation, but live.
        let _ = t
            .insert_with_history(&[rev("2-bb"), rev("1-aa")], false)
            .unwrap();
        assert_eq!(
            t.current(),
            Some(&rev("2-bb")),
            "a live leaf beats a deleted one"
        );
        assert!(!t.is_conflicted(), "one live leaf only");
        // Another live branch of the same generation, higher digest.
        let _ = t
            .insert_with_history(&[rev("2-cc"), rev("1-aa")], false)
            .unwrap();
        assert_eq!(
            t.current(),
            Some(&rev("2-cc")),
            "byte-wise higher digest wins"
        );
        assert!(t.is_conflicted());
        let conflicts: Vec<_> = t
            .live_conflicts()
            .iter()
            .map(|n| n.rev_id().clone())
            .collect();
        assert_eq!(conflicts, vec![rev("2-bb")]);
        // A higher generation beats a higher digest.
        let _ = t.add_child(Some(&rev("2-bb")), rev("3-00"), false).unwrap();
        assert_eq!(t.current(), Some(&rev("3-00")));
        let leaves: Vec<_> = t.leaves().iter().map(|n| n.rev_id().clone()).collect();
        assert_eq!(
            leaves,
            vec![rev("3-00"), rev("2-cc"), rev("3-aa")],
            "best first"
        );
    }

    #[test]
    fn node_view_reports_flags() {
        let mut t = RevTree::new();
        let _ = t.add_child(None, rev("1-aa"), false).unwrap();
        let _ = t.add_child(Some(&rev("1-aa")), rev("2-bb"), true).unwrap();
        let n = t.get(&rev("2-bb")).unwrap();
        assert_eq!(n.parent_id(), Some(&rev("1-aa")));
        assert_eq!(n.generation(), 2);
        assert!(n.is_deleted() && n.is_leaf() && n.has_body() && n.is_current());
        assert!(!n.is_remote_ancestor());
        let p = n.parent().unwrap();
        assert!(!p.is_leaf() && !p.is_current() && !p.has_body() && p.parent().is_none());
        assert!(t.is_deleted());
        assert!(t.contains(&rev("1-aa")) && !t.contains(&rev("1-bb")));
        assert!(t.get(&rev("9-aa")).is_none());
        let order: Vec<_> = t.iter().map(|n| n.rev_id().clone()).collect();
        assert_eq!(order, vec![rev("1-aa"), rev("2-bb")]);
        assert!(format!("{n:?}").contains("2-bb"));
    }
}
