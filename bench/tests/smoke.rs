//! The benchmark program in its smoke configuration (N = 2,000): every scenario runs to the
//! end, the databases match (the program checks and fails otherwise), and each result is a JSON
//! line. Nothing about time is asserted; bytes on the wire are.

use std::process::Command;

use serde_json::Value;

#[test]
fn smoke_run_completes_every_scenario() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("results.jsonl");
    let output = Command::new(env!("CARGO_BIN_EXE_ferry-bench"))
        .arg("--smoke")
        .arg("--json")
        .arg(&json)
        .arg("--dir")
        .arg(dir.path().join("dbs"))
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "ferry-bench --smoke failed\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let lines: Vec<Value> = std::fs::read_to_string(&json)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |scenario: &str| lines.iter().filter(|l| l["scenario"] == scenario).count();
    for (scenario, expected) in [
        ("raw_sqlite_ceiling", 1),
        ("raw_sqlite_1_update", 1),
        ("initial_push", 2),
        ("initial_pull", 2),
        ("re_sync_1_changed", 2),
        ("continuous_latency", 2),
        ("edit_bytes_delta_on", 2),
        ("edit_bytes_delta_off", 2),
        ("peak_rss_push", 1),
        ("peak_rss_pull", 1),
        ("many_replicators", 1),
        ("engine_alone", 2),
    ] {
        assert_eq!(count(scenario), expected, "{scenario} in\n{stdout}");
    }
    for line in &lines {
        if line["scenario"] == "initial_push" || line["scenario"] == "initial_pull" {
            assert_eq!(line["docs"], 2_000);
        }
        if line["scenario"] == "raw_sqlite_1_update" {
            assert_eq!(
                line["updated"], 20,
                "every 100th of 2,000 documents: {line}"
            );
        }
        // A one-field edit of a 100 KB document: a delta of a few hundred bytes with delta
        // sync on, the whole body without.
        let share = line["share_of_body"].as_f64();
        if line["scenario"] == "edit_bytes_delta_on" {
            assert!(share.unwrap() < 0.01, "{line}");
        }
        if line["scenario"] == "edit_bytes_delta_off" {
            assert!(share.unwrap() > 0.5, "{line}");
        }
    }
    assert!(stdout.contains("goal"), "the goals table is printed");
}
