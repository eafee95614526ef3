//! A small deterministic generator of revision trees for tests: a seeded SplitMix64 (no global
//! RNG), a "universe" of revisions as every peer together would know them, and the histories a
//! peer would receive from it.

use std::collections::BTreeSet;

use super::RevTree;
use crate::rev::RevId;

/// Parses a revision ID written in a test.
pub(crate) fn rev(s: &str) -> RevId {
    RevId::parse(s).expect("a valid revision ID in a test")
}

/// SplitMix64: tiny, seeded, deterministic.
#[derive(Debug, Clone)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Rng(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n`; `n` must not be 0.
    pub(crate) fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// `true` with probability `num / den`.
    pub(crate) fn chance(&mut self, num: u64, den: u64) -> bool {
        self.next_u64() % den < num
    }

    /// Shuffles in place (Fisher–Yates).
    pub(crate) fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.below(i + 1);
            items.swap(i, j);
        }
    }
}

/// Every revision of a document across all peers: a forest whose roots share one generation.
#[derive(Debug, Clone)]
pub(crate) struct Universe {
    /// `(revision, parent index, deleted)`, parents first.
    pub(crate) revs: Vec<(RevId, Option<usize>, bool)>,
}

impl Universe {
    /// A universe of `1 + extra` revisions or more (one or two roots).
    pub(crate) fn generate(rng: &mut Rng, extra: usize) -> Self {
        let base = 1 + rng.below(3) as u64;
        let mut u = Universe { revs: Vec::new() };
        let roots = 1 + usize::from(rng.chance(1, 4));
        for _ in 0..roots {
            u.push(rng, None, base);
        }
        for _ in 0..extra {
            // Mostly extend the newest revision (depth), sometimes branch anywhere (conflicts).
            let parent = if rng.chance(2, 3) {
                u.revs.len() - 1
            } else {
                rng.below(u.revs.len())
            };
            let generation = u.revs[parent].0.generation() + 1;
            u.push(rng, Some(parent), generation);
        }
        u
    }

    fn push(&mut self, rng: &mut Rng, parent: Option<usize>, generation: u64) {
        // A random prefix exercises the digest tie-break; the counter keeps IDs unique.
        let n = self.revs.len() as u16;
        let digest = [rng.next_u64() as u8, (n >> 8) as u8, n as u8];
        let deleted = rng.chance(1, 5);
        self.revs
            .push((RevId::from_digest(generation, &digest), parent, deleted));
    }

    /// The full history of revision `idx` (itself, then ancestors newest first).
    pub(crate) fn history(&self, idx: usize) -> Vec<RevId> {
        let mut out = Vec::new();
        let mut at = Some(idx);
        while let Some(i) = at {
            out.push(self.revs[i].0.clone());
            at = self.revs[i].1;
        }
        out
    }

    /// Histories a peer receives: every leaf's, plus some inner revisions' (as if seen before
    /// they were edited further), each with the head's deleted flag.
    pub(crate) fn histories(&self, rng: &mut Rng) -> Vec<(Vec<RevId>, bool)> {
        let parents: BTreeSet<usize> = self.revs.iter().filter_map(|r| r.1).collect();
        (0..self.revs.len())
            .filter(|i| !parents.contains(i) || rng.chance(1, 3))
            .map(|i| (self.history(i), self.revs[i].2))
            .collect()
    }
}

/// Inserts histories in order; every insertion must succeed, and each [`super::Change`] must
/// agree with a naive recount of the current revision and of the live leaves.
pub(crate) fn build(histories: &[(Vec<RevId>, bool)]) -> RevTree {
    let live_leaves = |t: &RevTree| t.leaves().iter().filter(|n| !n.is_deleted()).count();
    let mut t = RevTree::new();
    for (h, deleted) in histories {
        let (cur, live) = (t.current().cloned(), live_leaves(&t));
        let c = t
            .insert_with_history(h, *deleted)
            .expect("a generated history inserts");
        let live_after = live_leaves(&t);
        assert_eq!(
            c.current_changed,
            t.current() != cur.as_ref(),
            "current_changed"
        );
        assert_eq!(
            c.conflict_created,
            live_after > live && live_after > 1,
            "conflict_created"
        );
        assert_eq!(c.changed, !c.added.is_empty());
        for r in &c.drop_bodies {
            let n = t.get(r).expect("a dropped body's revision stays");
            assert!(!n.has_body() && !n.is_leaf() && !n.is_remote_ancestor());
        }
    }
    t
}

/// A random tree of roughly `size` revisions, with random remote ancestors and body flags.
pub(crate) fn random_tree(rng: &mut Rng, size: usize) -> RevTree {
    let u = Universe::generate(rng, size);
    let hs = u.histories(rng);
    let mut t = build(&hs);
    let ids: Vec<RevId> = t.iter().map(|n| n.rev_id().clone()).collect();
    for remote in 0..rng.below(4) as u32 {
        let r = &ids[rng.below(ids.len())];
        let _ = t
            .set_remote_ancestor(remote * 3, r)
            .expect("an existing revision");
    }
    for r in &ids {
        if rng.chance(1, 6) {
            let flip = !t.get(r).expect("present").has_body();
            t.set_has_body(r, flip).expect("present");
        }
    }
    t
}

/// Checks, through the public API, every structural invariant of a tree.
pub(crate) fn check_invariants(t: &RevTree) {
    let nodes: Vec<_> = t.iter().collect();
    assert_eq!(nodes.len(), t.len());
    let mut parents = BTreeSet::new();
    for n in &nodes {
        assert_eq!(t.get(n.rev_id()).map(|m| m.rev_id()), Some(n.rev_id()));
        if let Some(p) = n.parent() {
            assert_eq!(p.generation() + 1, n.generation(), "generation of {:?}", n);
            parents.insert(p.rev_id().clone());
        }
    }
    for n in &nodes {
        assert_eq!(
            n.is_leaf(),
            !parents.contains(n.rev_id()),
            "leaf flag of {:?}",
            n
        );
    }
    let winner = nodes
        .iter()
        .filter(|n| n.is_leaf())
        .max_by(|a, b| (!a.is_deleted(), a.rev_id()).cmp(&(!b.is_deleted(), b.rev_id())))
        .map(|n| n.rev_id());
    assert_eq!(t.current(), winner);
    let live = nodes
        .iter()
        .filter(|n| n.is_leaf() && !n.is_deleted())
        .count();
    assert_eq!(t.is_conflicted(), live > 1);
    for (_, r) in t.remote_ancestors() {
        assert!(t.contains(r));
    }
}
