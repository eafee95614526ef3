//! Replays the committed delta fuzz corpus (`fuzz/corpus/delta_apply/`) and any saved crashes
//! (`fuzz/artifacts/delta_apply/`) through the fuzz harness on stable Rust, plus deterministic
//! mutations of each corpus file.
//!
//! Corpus names say what to expect: `ok-*` applies, `err-*` is refused with a named
//! [`DeltaError`] (not a decoding error), `text-raw-*` is a bare text-diff patch that applies to
//! the harness's default string.

mod support;

use ferry_engine::delta::DeltaError;
use ferry_engine::delta::fuzz::fuzz_harness;

#[test]
fn seed_corpus_replays_as_named() {
    let corpus = support::fuzz_files("corpus/delta_apply");
    assert!(
        corpus.len() >= 25,
        "the seed corpus is missing ({} files)",
        corpus.len()
    );
    let (mut ok, mut err, mut text) = (0, 0, 0);
    for path in &corpus {
        let data = std::fs::read(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let report = fuzz_harness(&data);
        if name.starts_with("ok-") {
            assert!(report.outcome.is_ok(), "{name}: {:?}", report.outcome);
            ok += 1;
        } else if name.starts_with("err-text-raw") {
            assert!(
                matches!(report.text_outcome, Some(Err(_))),
                "{name}: {:?}",
                report.text_outcome
            );
            err += 1;
        } else if name.starts_with("err-") {
            match &report.outcome {
                Err(DeltaError::Decode(e)) => panic!("{name}: not even JSON: {e}"),
                Err(_) => err += 1,
                Ok(v) => panic!("{name}: applied, giving {v}"),
            }
        } else if name.starts_with("text-raw-") {
            assert!(
                matches!(report.text_outcome, Some(Ok(_))),
                "{name}: {:?}",
                report.text_outcome
            );
            text += 1;
        } else {
            panic!("{name}: corpus files are named ok-*, err-* or text-raw-*");
        }
    }
    assert!(
        ok >= 10 && err >= 10 && text >= 1,
        "{ok} ok, {err} err, {text} text"
    );
}

#[test]
fn saved_artifacts_replay_without_panicking() {
    // Crash files from `cargo fuzz` runs; each becomes a regression test here once fixed.
    for path in support::fuzz_files("artifacts/delta_apply") {
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
fn mutated_corpus_never_panics() {
    let mut state = 0x000d_e17a_5eed_u64;
    let (mut runs, mut applied) = (0, 0);
    const TOKENS: [&[u8]; 12] = [
        b"[]",
        b"{}",
        b"[0]",
        b"\"1-\"",
        b"\"0\"",
        b",0,2]",
        b",0,0]",
        b"5=",
        b"1+x|",
        b"-",
        b"99999999999",
        b"\"\xc3\xa9\"",
    ];
    for path in support::fuzz_files("corpus/delta_apply") {
        let data = std::fs::read(&path).unwrap();
        for _ in 0..64 {
            let mut d = data.clone();
            for _ in 0..1 + next(&mut state) % 3 {
                let at = (next(&mut state) as usize) % (d.len() + 1);
                match next(&mut state) % 4 {
                    0 if at < d.len() => d[at] ^= 1 << (next(&mut state) % 8),
                    1 => d.truncate(at),
                    2 if at < d.len() => {
                        d.remove(at);
                    }
                    _ => {
                        let token = TOKENS[(next(&mut state) as usize) % TOKENS.len()];
                        d.splice(at..at, token.iter().copied());
                    }
                }
            }
            let report = fuzz_harness(&d);
            applied += usize::from(report.outcome.is_ok());
            runs += 1;
        }
    }
    // The harness checked every successful result round-trips; some mutations must still apply.
    assert!(applied > 0 && applied < runs, "{applied} of {runs} applied");
}
