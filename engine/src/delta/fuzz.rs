//! The fuzz harness shared by `fuzz/fuzz_targets/delta_apply.rs` and the engine's corpus replay
//! test (`engine/tests/delta_fuzz_corpus.rs`), so the corpus runs on stable Rust in CI.
//!
//! Input: `base JSON`, a NUL byte, `delta JSON`. Without a NUL (or when the base is not JSON),
//! the base is [`default_base`] and the whole input is the delta. When the delta is not JSON,
//! the input is also applied as a text-diff patch to [`DEFAULT_TEXT`].

use crate::value::Value;

use super::{DeltaError, FORMAT_TEXT_DIFF, apply, apply_json, diff};

/// The string a non-JSON input is applied to as a text diff.
pub const DEFAULT_TEXT: &str = "The fog comes in on little cat feet. Zoë's café — naïve, 東京";

/// The base used when the input does not carry one.
#[must_use]
pub fn default_base() -> Value {
    Value::object([
        ("title", Value::from("Document number 7")),
        ("text", Value::from(DEFAULT_TEXT)),
        ("n", Value::from(1)),
        ("tags", Value::array(["a", "b", "c"])),
        (
            "nested",
            Value::object([("x", Value::array([Value::from(1), Value::Null]))]),
        ),
    ])
}

/// What [`fuzz_harness`] saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HarnessReport {
    /// Whether the input carried its own base.
    pub base_from_input: bool,
    /// The result of applying the delta (a [`DeltaError::Decode`] when it is not JSON).
    pub outcome: Result<Value, DeltaError>,
    /// When the delta was not JSON: the result of applying the input as a text diff.
    pub text_outcome: Option<Result<Value, DeltaError>>,
}

/// Applies the input's delta to its base. Panics if an invariant breaks: a successful result
/// that does not survive a JSON round trip, or for which `apply(base, diff(base, result))` is
/// not `result`.
pub fn fuzz_harness(data: &[u8]) -> HarnessReport {
    let split = data.iter().position(|&b| b == 0);
    let (base, delta, base_from_input) =
        match split.and_then(|at| Value::from_json(&data[..at]).ok().map(|base| (base, at))) {
            Some((base, at)) => (base, &data[at + 1..], true),
            None => (default_base(), data, false),
        };
    let outcome = apply_json(&base, delta);
    if let Ok(new) = &outcome {
        check_round_trips(&base, new);
    }
    let text_outcome = matches!(outcome, Err(DeltaError::Decode(_))).then(|| {
        let patch = String::from_utf8_lossy(delta).into_owned();
        let delta = Value::array([
            Value::from(patch),
            Value::from(0),
            Value::from(FORMAT_TEXT_DIFF),
        ]);
        let base = Value::from(DEFAULT_TEXT);
        let result = apply(&base, &delta);
        if let Ok(new) = &result {
            check_round_trips(&base, new);
        }
        result
    });
    HarnessReport {
        base_from_input,
        outcome,
        text_outcome,
    }
}

fn check_round_trips(base: &Value, new: &Value) {
    assert_eq!(
        Value::from_json(&new.to_json()).as_ref(),
        Ok(new),
        "a result does not survive JSON"
    );
    let again = diff(base, new);
    assert_eq!(
        apply(base, &again).as_ref(),
        Ok(new),
        "Ferry's own delta {again} does not reproduce the result"
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn harness_reads_base_and_delta() {
        let report = fuzz_harness(b"{\"a\":1}\0{\"b\":2}");
        assert!(report.base_from_input);
        assert_eq!(
            report.outcome,
            Ok(Value::object([("a", 1), ("b", 2)])),
            "delta applied to the input's base"
        );
        assert_eq!(report.text_outcome, None);
    }

    #[test]
    fn harness_falls_back_to_defaults() {
        let report = fuzz_harness(br#"{"n":2}"#);
        assert!(!report.base_from_input);
        assert_eq!(
            report.outcome.ok().and_then(|v| v.get("n").cloned()),
            Some(Value::from(2))
        );
        let report = fuzz_harness(b"4=1-1+d|");
        assert!(matches!(report.outcome, Err(DeltaError::Decode(_))));
        assert!(matches!(
            report.text_outcome,
            Some(Err(DeltaError::TextDiffLengthMismatch { covered: 5, .. }))
        ));
    }
}
