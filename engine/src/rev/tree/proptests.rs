//! Property tests of the revision tree, over trees from the deterministic generator.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::testgen::{Rng, Universe, build, check_invariants, random_tree};
use super::{RevTree, RevTreeError};
use crate::rev::RevId;

/// `(revision, parent, has body, leaf)` for every node, as a set.
fn shape(t: &RevTree) -> BTreeSet<(RevId, Option<RevId>, bool, bool)> {
    t.iter()
        .map(|n| {
            (
                n.rev_id().clone(),
                n.parent_id().cloned(),
                n.has_body(),
                n.is_leaf(),
            )
        })
        .collect()
}

fn leaves(t: &RevTree) -> Vec<(RevId, bool)> {
    t.leaves()
        .iter()
        .map(|n| (n.rev_id().clone(), n.is_deleted()))
        .collect()
}

/// Number of revisions on the path from `rev` to its root, `rev` included.
fn chain_len(t: &RevTree, rev: &RevId) -> usize {
    std::iter::successors(t.get(rev), |n| n.parent()).count()
}

/// Distance from each revision to its nearest leaf descendant.
fn leaf_distances(t: &RevTree) -> BTreeMap<RevId, u64> {
    let mut dist = BTreeMap::new();
    for leaf in t.leaves() {
        for (d, n) in std::iter::successors(Some(leaf), |n| n.parent()).enumerate() {
            let e = dist.entry(n.rev_id().clone()).or_insert(u64::MAX);
            *e = (*e).min(d as u64);
        }
    }
    dist
}

/// Applies `edits` random byte edits to `bytes`: a flipped bit, a replaced, inserted or
/// truncated byte.
fn mutate(rng: &mut Rng, bytes: &mut Vec<u8>, edits: usize) {
    for _ in 0..edits {
        let at = rng.below(bytes.len() + 1);
        match rng.below(4) {
            0 if at < bytes.len() => bytes[at] ^= 1 << rng.below(8),
            1 if at < bytes.len() => bytes[at] = rng.next_u64() as u8,
            2 => bytes.insert(at, rng.next_u64() as u8),
            _ => bytes.truncate(at),
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn outcome_is_independent_of_insertion_order(seed in any::<u64>(), size in 0usize..40) {
        let mut rng = Rng::new(seed);
        let u = Universe::generate(&mut rng, size);
        let hs = u.histories(&mut rng);
        let a = build(&hs);
        let mut shuffled = hs.clone();
        rng.shuffle(&mut shuffled);
        let b = build(&shuffled);
        shuffled.reverse();
        let c = build(&shuffled);
        for t in [&a, &b, &c] {
            check_invariants(t);
        }
        prop_assert_eq!(a.current(), b.current());
        prop_assert_eq!(a.current(), c.current());
        prop_assert_eq!(leaves(&a), leaves(&b));
        prop_assert_eq!(leaves(&a), leaves(&c));
        prop_assert_eq!(a.is_conflicted(), b.is_conflicted());
        prop_assert_eq!(a.is_conflicted(), c.is_conflicted());
        prop_assert_eq!(shape(&a), shape(&b));
        prop_assert_eq!(shape(&a), shape(&c));
        // Inserting everything again changes nothing.
        let mut again = a.clone();
        for (h, deleted) in &hs {
            prop_assert!(!again.insert_with_history(h, *deleted).unwrap().changed);
        }
        prop_assert_eq!(again, a);
    }

    #[test]
    fn pruning_keeps_leaves_current_remotes_and_depth(
        seed in any::<u64>(), size in 0usize..60, depth in 0u32..8,
    ) {
        let mut rng = Rng::new(seed);
        let mut t = random_tree(&mut rng, size);
        let before = t.clone();
        let dist = leaf_distances(&before);
        let remotes: Vec<(u32, RevId)> =
            before.remote_ancestors().map(|(id, r)| (id, r.clone())).collect();
        let removed = t.prune(depth);
        check_invariants(&t);
        prop_assert_eq!(t.current(), before.current());
        prop_assert_eq!(leaves(&t), leaves(&before));
        prop_assert_eq!(t.is_conflicted(), before.is_conflicted());
        let remotes_after: Vec<(u32, RevId)> =
            t.remote_ancestors().map(|(id, r)| (id, r.clone())).collect();
        prop_assert_eq!(remotes_after, remotes.clone());
        prop_assert_eq!(t.len() + removed.len(), before.len());
        for leaf in before.leaves() {
            let want = chain_len(&before, leaf.rev_id()).min(depth as usize + 1);
            prop_assert!(chain_len(&t, leaf.rev_id()) >= want, "leaf {} lost depth", leaf.rev_id());
        }
        for r in &removed {
            prop_assert!(!t.contains(r));
            prop_assert!(dist[r] > u64::from(depth), "{} was within reach of a leaf", r);
            prop_assert!(remotes.iter().all(|(_, x)| x != r));
        }
        // Kept revisions keep their flags.
        for n in t.iter() {
            let old = before.get(n.rev_id()).unwrap();
            prop_assert_eq!((n.is_deleted(), n.has_body()), (old.is_deleted(), old.has_body()));
        }
        prop_assert!(t.clone().prune(depth).is_empty(), "pruning is idempotent");
        prop_assert_eq!(RevTree::decode(&t.encode()).unwrap(), t);
    }

    #[test]
    fn encoding_round_trips(seed in any::<u64>(), size in 0usize..60, prune in proptest::option::of(0u32..5)) {
        let mut rng = Rng::new(seed);
        let mut t = random_tree(&mut rng, size);
        if let Some(depth) = prune {
            let _ = t.prune(depth);
        }
        let bytes = t.encode();
        let back = RevTree::decode(&bytes).unwrap();
        check_invariants(&back);
        prop_assert_eq!(back.encode(), bytes);
        prop_assert_eq!(back, t);
    }

    #[test]
    fn direct_codec_matches_the_generic_one(seed in any::<u64>(), size in 0usize..60, edits in 0usize..4) {
        let mut rng = Rng::new(seed);
        let t = random_tree(&mut rng, size);
        let mut bytes = t.encode();
        prop_assert_eq!(&bytes, &super::codec::encode_generic(&t));
        mutate(&mut rng, &mut bytes, edits);
        prop_assert_eq!(RevTree::decode(&bytes), super::codec::decode_general(&bytes));
    }

    #[test]
    fn decode_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(t) = RevTree::decode(&bytes) {
            check_invariants(&t);
        }
    }

    #[test]
    fn decode_never_panics_on_mutated_encodings(seed in any::<u64>(), size in 0usize..20, edits in 1usize..6) {
        let mut rng = Rng::new(seed);
        let mut bytes = random_tree(&mut rng, size).encode();
        mutate(&mut rng, &mut bytes, edits);
        match RevTree::decode(&bytes) {
            Ok(t) => {
                check_invariants(&t);
                prop_assert_eq!(RevTree::decode(&t.encode()).unwrap(), t);
            }
            Err(RevTreeError::Corrupt(m)) => prop_assert!(!m.is_empty()),
            Err(RevTreeError::UnsupportedVersion(v)) => prop_assert_ne!(v, super::TREE_FORMAT_VERSION),
            Err(e) => prop_assert!(false, "unexpected error {e}"),
        }
    }
}

/// A new revision ID of `generation`, unique within one test run.
fn fresh(rng: &mut Rng, counter: &mut u16, generation: u64) -> RevId {
    *counter += 1;
    let [hi, lo] = counter.to_be_bytes();
    RevId::from_digest(generation, &[rng.next_u64() as u8, hi, lo])
}

/// One random operation on `t`, asserting what its result must be.
fn random_operation(t: &mut RevTree, rng: &mut Rng, counter: &mut u16) {
    let ids: Vec<RevId> = t.iter().map(|n| n.rev_id().clone()).collect();
    let leaves: Vec<RevId> = t.leaves().iter().map(|n| n.rev_id().clone()).collect();
    let op = if ids.is_empty() { 0 } else { rng.below(8) };
    match op {
        0 | 1 => {
            let base = t.current().cloned();
            let generation = base.as_ref().map_or(1, |b| b.generation() + 1);
            let r = fresh(rng, counter, generation);
            let deleted = rng.chance(1, 4);
            let c = t.add_local_edit(base.as_ref(), r.clone(), deleted).unwrap();
            assert_eq!(c.store_body.as_ref(), Some(&r));
            if !deleted {
                assert_eq!(t.current(), Some(&r), "a live edit of the winner wins");
            }
        }
        2 => {
            let leaf = &leaves[rng.below(leaves.len())];
            let r = fresh(rng, counter, leaf.generation() + 1);
            let c = t
                .add_child(Some(leaf), r.clone(), rng.chance(1, 4))
                .unwrap();
            assert_eq!(c.added, vec![r]);
        }
        3 => {
            let at = &ids[rng.below(ids.len())];
            let new_revs: Vec<RevId> = (1..=1 + rng.below(3) as u64)
                .rev()
                .map(|k| fresh(rng, counter, at.generation() + k))
                .collect();
            let mut history = new_revs.clone();
            history.push(at.clone());
            history.extend(t.history(at, rng.below(4), |_| false));
            let c = t.insert_with_history(&history, rng.chance(1, 4)).unwrap();
            assert_eq!(c.added, new_revs.into_iter().rev().collect::<Vec<_>>());
            assert!(c.changed);
        }
        4 => {
            let r = &ids[rng.below(ids.len())];
            let _ = t.set_remote_ancestor(rng.below(3) as u32, r).unwrap();
        }
        5 => {
            let (current, leaves_before) = (t.current().cloned(), leaves.clone());
            let _ = t.prune(rng.below(4) as u32);
            assert_eq!(t.current().cloned(), current);
            let after: Vec<RevId> = t.leaves().iter().map(|n| n.rev_id().clone()).collect();
            assert_eq!(after, leaves_before);
        }
        6 if rng.chance(1, 3) => {
            let leaf = &leaves[rng.below(leaves.len())];
            let c = t.purge_branch(leaf).unwrap();
            assert!(c.removed.contains(leaf) && !t.contains(leaf));
        }
        _ => {
            // A stale base is refused and changes nothing.
            let stale = ids.iter().find(|r| Some(*r) != t.current()).cloned();
            if let Some(stale) = stale {
                let before = t.clone();
                let r = fresh(rng, counter, stale.generation() + 1);
                let e = t.add_local_edit(Some(&stale), r, false).unwrap_err();
                assert_eq!(
                    e,
                    RevTreeError::Conflict {
                        current: before.current().cloned()
                    }
                );
                assert_eq!(*t, before);
            }
        }
    }
}

proptest! {
    #[test]
    fn random_operations_keep_every_invariant(seed in any::<u64>(), steps in 1usize..80) {
        let mut rng = Rng::new(seed);
        let mut counter = 0u16;
        let mut t = RevTree::new();
        for _ in 0..steps {
            random_operation(&mut t, &mut rng, &mut counter);
            check_invariants(&t);
            for n in t.iter() {
                // Without set_has_body, bodies follow the rule: every leaf has one, and
                // inner revisions only as remote ancestors.
                prop_assert!(n.is_leaf() <= n.has_body(), "{:?}", n);
                prop_assert!(n.has_body() <= (n.is_leaf() || n.is_remote_ancestor()), "{:?}", n);
            }
            prop_assert_eq!(&RevTree::decode(&t.encode()).unwrap(), &t);
        }
    }
}

#[test]
fn generator_covers_the_interesting_shapes() {
    let mut conflicted = 0;
    let mut deleted_winner = 0;
    let mut pruned = 0;
    let mut forests = 0;
    let mut with_remotes = 0;
    for seed in 0..64 {
        let mut rng = Rng::new(seed);
        let mut t = random_tree(&mut rng, (seed % 40) as usize);
        check_invariants(&t);
        conflicted += usize::from(t.is_conflicted());
        deleted_winner += usize::from(t.is_deleted());
        forests += usize::from(t.iter().filter(|n| n.parent().is_none()).count() > 1);
        with_remotes += usize::from(t.remote_ancestors().count() > 0);
        pruned += usize::from(!t.prune(3).is_empty());
    }
    assert!(conflicted > 8, "conflicted trees: {conflicted}");
    assert!(
        deleted_winner > 0,
        "trees whose winner is a tombstone: {deleted_winner}"
    );
    assert!(pruned > 32, "trees that prune(3) shrinks: {pruned}");
    assert!(forests > 0, "trees with several roots: {forests}");
    assert!(
        with_remotes > 8,
        "trees with remote ancestors: {with_remotes}"
    );
}
