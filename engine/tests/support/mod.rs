//! Helpers shared by the engine's integration tests.
#![allow(dead_code, unreachable_pub)]

use std::path::PathBuf;

/// `../shared` beside the repository root. A test that needs it fails with a clear message when
/// it is missing; it never skips silently.
pub fn shared_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared");
    assert!(
        dir.join("vectors").is_dir(),
        "the shared test data is missing: expected {} (the `shared` folder beside the repository \
         root, holding vectors/litecore-3.0). Clone or copy it there and run the tests again.",
        dir.display()
    );
    dir
}

/// A file of `../shared/vectors/litecore-3.0`.
pub fn litecore_vector(name: &str) -> PathBuf {
    let path = shared_dir().join("vectors/litecore-3.0").join(name);
    assert!(path.is_file(), "missing test vector {}", path.display());
    path
}

/// `fuzz/` at the repository root (corpora and saved crash files of the fuzz targets).
pub fn fuzz_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fuzz")
}

/// The files of `fuzz/<sub>` (a corpus or an artifacts folder), sorted; none if it is absent.
pub fn fuzz_files(sub: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(fuzz_dir().join(sub)) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}
