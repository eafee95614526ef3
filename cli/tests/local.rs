//! The local commands, run as the real binary: put, get, delete, ls, changes, conflicts and
//! info round-trip through a database file; bad input fails with actionable messages.

mod common;

use common::{ferry, ferry_db, get, put, stdout_of};
use predicates::prelude::*;
use predicates::str::contains;

/// Parses JSON lines.
fn json_lines(text: &str) -> Vec<serde_json::Value> {
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn put_get_ls_changes_delete_info_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("notes.ferry");

    let rev1 = put(
        &db,
        "note1",
        r#"{"title": "hello", "n": 1.5, "tags": ["a"]}"#,
    );
    assert!(rev1.starts_with("1-"), "a first revision: {rev1}");
    put(&db, "note2", r#"{"title": "second"}"#);
    // Bodies are stored as deterministic CBOR: keys come back in its canonical order.
    assert_eq!(
        get(&db, "note1").as_deref(),
        Some(r#"{"n":1.5,"tags":["a"],"title":"hello"}"#)
    );

    // An update without --rev builds on the current revision; a stale --rev is refused.
    let rev2 = put(&db, "note1", r#"{"title": "edited"}"#);
    assert!(rev2.starts_with("2-"), "{rev2}");
    ferry_db("put", &db)
        .args(["note1", "--rev", &rev1])
        .write_stdin("{}")
        .assert()
        .code(1)
        .stderr(contains("conflict"));

    // --meta shows the revision and flags with the body.
    let meta = stdout_of(ferry_db("get", &db).args(["note1", "--meta"]));
    let meta: serde_json::Value = serde_json::from_str(&meta).unwrap();
    assert_eq!(meta["rev"], rev2.as_str());
    assert_eq!(meta["body"]["title"], "edited");
    assert_eq!(meta["deleted"], false);

    // Listed in the order of their last change.
    assert_eq!(stdout_of(&mut ferry_db("ls", &db)), "note2\nnote1");

    let changes = json_lines(&stdout_of(ferry_db("changes", &db).args(["--since", "0"])));
    assert_eq!(changes.len(), 2, "one line per document: {changes:?}");
    assert_eq!(changes[1]["id"], "note1");
    assert_eq!(changes[1]["rev"], rev2.as_str());
    let since = changes[0]["seq"].as_u64().unwrap().to_string();
    let later = json_lines(&stdout_of(
        ferry_db("changes", &db).args(["--since", &since]),
    ));
    assert_eq!(
        later,
        changes[1..].to_vec(),
        "--since skips what came before"
    );

    // Delete: a tombstone revision; gone for get and ls, listed with --deleted.
    let tombstone = stdout_of(ferry_db("delete", &db).arg("note2"));
    assert!(tombstone.starts_with("2-"), "{tombstone}");
    ferry_db("get", &db)
        .arg("note2")
        .assert()
        .code(1)
        .stderr(contains(r#"document "note2" not found"#));
    assert_eq!(stdout_of(&mut ferry_db("ls", &db)), "note1");
    let all = json_lines(&stdout_of(
        ferry_db("ls", &db).args(["--deleted", "--json"]),
    ));
    assert_eq!(all.len(), 2);
    assert_eq!(all[1]["id"], "note2");
    assert_eq!(all[1]["deleted"], true);
    ferry_db("delete", &db)
        .arg("nobody")
        .assert()
        .code(1)
        .stderr(contains("not found"));

    let info: serde_json::Value =
        serde_json::from_str(&stdout_of(&mut ferry_db("info", &db))).unwrap();
    assert_eq!(info["documents"], 2, "tombstones included: {info}");
    assert_eq!(info["last_sequence"], 4, "{info}");
    assert_eq!(info["uuid"].as_str().unwrap().len(), 32, "{info}");
    assert!(info["path"].as_str().unwrap().ends_with("notes.ferry"));
    assert!(info["schema_version"].as_u64().unwrap() >= 1);

    assert_eq!(
        stdout_of(&mut ferry_db("conflicts", &db)),
        "",
        "no conflicts"
    );
}

#[test]
fn bad_input_fails_with_actionable_messages() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("a.ferry");
    for (body, message) in [("{not json", "not JSON"), ("[1, 2]", "must be an object")] {
        ferry_db("put", &db)
            .arg("x")
            .write_stdin(body)
            .assert()
            .code(1)
            .stderr(contains(message));
    }

    // A file that is not a Ferry database is refused, named, and left untouched.
    let foreign = dir.path().join("notes.txt");
    let text = "just some text, long enough to look like a file header....";
    std::fs::write(&foreign, text).unwrap();
    for args in [&["info"][..], &["ls"], &["put", "x"]] {
        ferry_db(args[0], &foreign)
            .args(&args[1..])
            .write_stdin("{}")
            .assert()
            .code(1)
            .stderr(contains("not a Ferry database").and(contains("notes.txt")));
    }
    assert_eq!(std::fs::read_to_string(&foreign).unwrap(), text);

    ferry_db("get", &dir.path().join("missing.ferry"))
        .arg("x")
        .assert()
        .code(1)
        .stderr(contains("no database at"));
    // Usage errors are clap's: exit code 2.
    ferry().args(["get", "x"]).assert().code(2);
}

#[test]
fn every_command_has_help_with_examples() {
    ferry()
        .arg("--help")
        .assert()
        .success()
        .stdout(contains("Exit codes:").and(contains("Examples:")));
    for command in [
        "serve",
        "sync",
        "put",
        "get",
        "delete",
        "ls",
        "changes",
        "conflicts",
        "info",
    ] {
        ferry()
            .args([command, "--help"])
            .assert()
            .success()
            .stdout(contains("Examples:"));
    }
    ferry()
        .args(["sync", "--help"])
        .assert()
        .success()
        .stdout(contains("3    permanent").and(contains("4    transient")));
}
