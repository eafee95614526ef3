//! Replays the committed fuzz corpus (`fuzz/corpus/blip_frames/`) and any saved crashes
//! (`fuzz/artifacts/blip_frames/`) through the fuzz harness on stable Rust, plus deterministic
//! mutations of each corpus file.

mod support;

use ferry_engine::blip::fuzz::{fuzz_harness, join_frames, split_frames};

#[test]
fn seed_corpus_replays_cleanly() {
    let corpus = support::fuzz_files("corpus/blip_frames");
    assert!(
        corpus.len() >= 30,
        "the seed corpus is missing ({} files)",
        corpus.len()
    );
    let (mut recorded, mut events) = (0, 0);
    for path in &corpus {
        let data = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let report = fuzz_harness(&data);
        assert_eq!(report.frames, split_frames(&data).len(), "{name}");
        if name.starts_with("err-") {
            let err = report
                .fatal
                .unwrap_or_else(|| panic!("{name}: expected a fatal error"));
            assert_eq!(err.close_code(), 1002, "{name}");
        } else {
            // Prefixes of real LiteCore streams are valid BLIP: no error.
            assert_eq!(report.fatal, None, "{name}");
            recorded += 1;
            events += report.events;
        }
    }
    assert!(
        recorded >= 30 && events >= 30,
        "{recorded} files, {events} events"
    );
}

#[test]
fn saved_artifacts_replay_without_panicking() {
    // Crash files from `cargo fuzz` runs; each becomes a regression test here once fixed.
    for path in support::fuzz_files("artifacts/blip_frames") {
        let _ = fuzz_harness(&std::fs::read(&path).unwrap());
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
fn mutated_corpus_never_panics_and_errors_are_sticky() {
    let mut state = 0x5eed_f00d_u64;
    let mut fatal = 0;
    let mut runs = 0;
    for path in support::fuzz_files("corpus/blip_frames") {
        let data = std::fs::read(&path).unwrap();
        let frames: Vec<Vec<u8>> = split_frames(&data)
            .into_iter()
            .map(<[u8]>::to_vec)
            .collect();
        for _ in 0..48 {
            let mut frames = frames.clone();
            let i = (next(&mut state) as usize) % frames.len().max(1);
            if let Some(f) = frames.get_mut(i) {
                match next(&mut state) % 4 {
                    0 if !f.is_empty() => {
                        let at = (next(&mut state) as usize) % f.len();
                        f[at] ^= 1 << (next(&mut state) % 8);
                    }
                    1 => f.truncate((next(&mut state) as usize) % (f.len() + 1)),
                    2 if !f.is_empty() => {
                        let at = (next(&mut state) as usize) % f.len();
                        f[at] = next(&mut state) as u8;
                    }
                    _ => {
                        let copy = f.clone();
                        frames.insert(i, copy);
                    }
                }
            }
            let report = fuzz_harness(&join_frames(frames.iter().map(Vec::as_slice)));
            fatal += usize::from(report.fatal.is_some());
            runs += 1;
        }
    }
    // Most mutations break a CRC, a varint or the deflate stream: they must be caught.
    assert!(
        fatal * 2 > runs,
        "only {fatal} of {runs} mutated inputs were rejected"
    );
}
