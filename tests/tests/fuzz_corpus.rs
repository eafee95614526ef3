//! Replays the corpora of the `passive_frames` and `pair_operations` fuzz targets
//! (`fuzz/corpus/<target>/`, the first from LiteCore's recorded replicator streams) and any saved
//! crash files (`fuzz/artifacts/<target>/`) through the shared harnesses
//! (`ferry_tests::fuzz`) on stable Rust, plus deterministic mutations of every corpus file.

use std::path::{Path, PathBuf};

use ferry_tests::fuzz::{pair_operations, passive_frames};
use ferry_tests::rng::Rng;

fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

fn corpus(target: &str, at_least: usize) -> Vec<Vec<u8>> {
    let files = files(&fuzz_dir().join("corpus").join(target));
    assert!(
        files.len() >= at_least,
        "{target}: the seed corpus is missing ({} files)",
        files.len()
    );
    files.iter().map(|p| std::fs::read(p).unwrap()).collect()
}

fn mutate(rng: &mut Rng, data: &[u8]) -> Vec<u8> {
    let mut out = data.to_vec();
    for _ in 0..1 + rng.below(4) {
        match rng.below(3) {
            0 if !out.is_empty() => {
                let i = rng.below(out.len() as u64) as usize;
                out[i] ^= 1 << rng.below(8);
            }
            1 if !out.is_empty() => out.truncate(rng.below(out.len() as u64) as usize),
            _ => {
                let i = rng.below(out.len() as u64 + 1) as usize;
                out.insert(i, rng.below(256) as u8);
            }
        }
    }
    out
}

#[test]
fn passive_sessions_survive_recorded_and_mutated_streams() {
    let mut rng = Rng::new(0x5eed_9a55);
    for data in corpus("passive_frames", 20) {
        passive_frames(&data);
        for _ in 0..16 {
            passive_frames(&mutate(&mut rng, &data));
        }
    }
    for path in files(&fuzz_dir().join("artifacts/passive_frames")) {
        passive_frames(&std::fs::read(path).unwrap());
    }
}

#[test]
fn pairs_converge_under_arbitrary_operations() {
    let mut rng = Rng::new(0x5eed_0975);
    for data in corpus("pair_operations", 20) {
        pair_operations(&data);
        for _ in 0..4 {
            pair_operations(&mutate(&mut rng, &data));
        }
    }
    for path in files(&fuzz_dir().join("artifacts/pair_operations")) {
        pair_operations(&std::fs::read(path).unwrap());
    }
}
