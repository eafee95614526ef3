//! Replays the committed corpora of the decoder fuzz targets (`fuzz/corpus/{json_value,
//! cbor_value,rev_tree,blip_message}/`) and any saved crash files (`fuzz/artifacts/<target>/`)
//! through the shared harnesses (`ferry_engine::fuzz`) on stable Rust, plus deterministic
//! mutations of every corpus file. Files named `err-*` must be refused; the others (taken from
//! LiteCore's recordings, or written by Ferry) must decode.

mod support;

use ferry_engine::fuzz::{blip_message, cbor_value, json_value, rev_tree};
use ferry_engine::rev::{RevId, RevTree};

type Harness = fn(&[u8]) -> bool;

const TARGETS: [(&str, Harness, usize); 4] = [
    ("json_value", json_value, 20),
    ("cbor_value", cbor_value, 20),
    ("rev_tree", rev_tree, 8),
    ("blip_message", blip_message, 20),
];

#[test]
fn seed_corpora_decode_as_named() {
    for (target, harness, at_least) in TARGETS {
        let corpus = support::fuzz_files(&format!("corpus/{target}"));
        assert!(
            corpus.len() >= at_least,
            "{target}: the seed corpus is missing ({} files; `python3 fuzz/gen_decoder_corpus.py` \
             and `cargo test -p ferry-engine --test decoder_fuzz_corpus -- --ignored` write it)",
            corpus.len()
        );
        for path in corpus {
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            let decoded = harness(&std::fs::read(&path).unwrap());
            assert_eq!(decoded, !name.starts_with("err-"), "{target}/{name}");
        }
    }
}

#[test]
fn saved_artifacts_replay_without_panicking() {
    for (target, harness, _) in TARGETS {
        for path in support::fuzz_files(&format!("artifacts/{target}")) {
            let _ = harness(&std::fs::read(&path).unwrap());
        }
    }
}

/// xorshift64: deterministic mutations.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn mutated_corpora_never_panic() {
    let mut state = 0x5eed_dec0_de42_u64;
    for (target, harness, _) in TARGETS {
        let mut decoded = 0;
        for path in support::fuzz_files(&format!("corpus/{target}")) {
            let data = std::fs::read(&path).unwrap();
            for _ in 0..64 {
                let mut mutated = data.clone();
                match next(&mut state) % 4 {
                    0 if !mutated.is_empty() => {
                        let i = (next(&mut state) as usize) % mutated.len();
                        mutated[i] ^= 1 << (next(&mut state) % 8);
                    }
                    1 if !mutated.is_empty() => {
                        let len = (next(&mut state) as usize) % mutated.len();
                        mutated.truncate(len);
                    }
                    2 => {
                        let i = (next(&mut state) as usize) % (mutated.len() + 1);
                        mutated.insert(i, next(&mut state) as u8);
                    }
                    _ => mutated.extend_from_slice(&data),
                }
                decoded += usize::from(harness(&mutated));
            }
        }
        assert!(decoded > 0, "{target}: some mutations still decode");
    }
}

fn rev(generation: u64, tag: &str) -> RevId {
    RevId::parse(&format!("{generation}-{}", tag.repeat(40 / tag.len()))).unwrap()
}

/// Writes `fuzz/corpus/rev_tree/` (Ferry's own encodings of trees of every shape) and a few
/// `err-*` files; run it when the tree encoding changes.
#[test]
#[ignore = "regenerates the rev_tree seed corpus"]
fn write_rev_tree_corpus() {
    let dir = support::fuzz_dir().join("corpus/rev_tree");
    std::fs::create_dir_all(&dir).unwrap();
    let mut trees = Vec::new();
    let mut linear = RevTree::new();
    let mut parent = None;
    for g in 1..=5 {
        let r = rev(g, "a1");
        let _ = linear.add_child(parent.as_ref(), r.clone(), false).unwrap();
        parent = Some(r);
    }
    trees.push(("linear-5", linear.clone()));
    let mut deleted = linear.clone();
    let _ = deleted
        .add_child(parent.as_ref(), rev(6, "d0"), true)
        .unwrap();
    trees.push(("deleted", deleted.clone()));
    let mut conflict = linear.clone();
    let _ = conflict
        .insert_with_history(&[rev(4, "b2"), rev(3, "a1"), rev(2, "a1")], false)
        .unwrap();
    trees.push(("conflict", conflict.clone()));
    let mut remote = conflict.clone();
    let _ = remote.set_remote_ancestor(1, &rev(4, "b2")).unwrap();
    let _ = remote.set_remote_ancestor(7, &rev(5, "a1")).unwrap();
    trees.push(("remote-ancestors", remote));
    let mut closed = conflict.clone();
    let _ = closed
        .add_child(Some(&rev(4, "b2")), rev(5, "c3"), true)
        .unwrap();
    trees.push(("closed-branch", closed));
    let mut roots = RevTree::new();
    let _ = roots.insert_with_history(&[rev(9, "e4")], false).unwrap();
    let _ = roots
        .insert_with_history(&[rev(3, "f5"), rev(2, "f5")], false)
        .unwrap();
    trees.push(("two-roots", roots));
    let mut long = RevTree::new();
    let history: Vec<RevId> = (1..=120).rev().map(|g| rev(g, "77")).collect();
    let _ = long.insert_with_history(&history, false).unwrap();
    let _ = long.prune(50);
    trees.push(("pruned", long));
    trees.push(("one", {
        let mut t = RevTree::new();
        let _ = t.add_child(None, rev(1, "01"), false).unwrap();
        t
    }));
    for (name, tree) in &trees {
        std::fs::write(dir.join(name), tree.encode()).unwrap();
    }
    let good = trees[2].1.encode();
    std::fs::write(dir.join("err-empty"), b"").unwrap();
    std::fs::write(dir.join("err-truncated"), &good[..good.len() / 2]).unwrap();
    std::fs::write(dir.join("err-not-cbor"), b"\xff\xff\xff").unwrap();
}
