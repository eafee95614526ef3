//! `ferry serve` and `ferry sync` as real processes on 127.0.0.1: TLS with a password and a
//! pinned fingerprint parsed from `serve`'s output; push, pull, continuous; the exit codes and
//! messages of a wrong password, a wrong fingerprint, an unreachable listener and a port in use.

mod common;

use std::path::{Path, PathBuf};

use assert_cmd::Command;
use common::{ChildGuard, PASSWORD, Server, USER, fails, ferry, get, put, stdout_of, wait_until};
use predicates::prelude::*;
use predicates::str::contains;

/// A TLS listener with password authentication on a database in a temporary directory.
struct Fixture {
    dir: tempfile::TempDir,
    server: Server,
    /// The fingerprint `serve` printed.
    pin: String,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let server = Server::tls_with_password(dir.path(), &dir.path().join("server.ferry"));
        let pin = server.fingerprint.clone().expect("TLS: a fingerprint");
        Fixture { dir, server, pin }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The arguments of `ferry sync URL --db DB`, as [`USER`] with the password from the
    /// `SYNC_PW` environment variable, pinning the listener's fingerprint.
    fn sync_args(&self, db: &Path) -> Vec<String> {
        let db = db.to_str().unwrap();
        let args = ["sync", &self.server.url, "--db", db, "--user", USER];
        let rest = ["--password-env", "SYNC_PW", "--pin", &self.pin];
        args.iter().chain(&rest).map(|a| a.to_string()).collect()
    }

    /// `ferry sync` with [`Fixture::sync_args`] and the right password.
    fn sync(&self, db: &Path) -> Command {
        let mut ferry = ferry();
        ferry.args(self.sync_args(db)).env("SYNC_PW", PASSWORD);
        ferry
    }
}

/// `ferry sync URL --db DB`, for more arguments.
fn sync_to(url: &str, db: &Path) -> Command {
    let mut ferry = ferry();
    ferry.args(["sync", url, "--db"]).arg(db);
    ferry
}

#[test]
fn push_then_pull_over_tls_with_password_and_pinned_fingerprint() {
    let f = Fixture::new();
    let (a, b) = (f.path("a.ferry"), f.path("b.ferry"));
    assert!(
        f.pin.starts_with("sha256/") && f.pin.len() == 7 + 64,
        "{}",
        f.pin
    );
    let url = &f.server.url;
    assert!(
        url.starts_with("wss://127.0.0.1:") && url.ends_with("/server"),
        "{url}"
    );

    // Push from a, the password from a file.
    put(&a, "doc1", r#"{"from": "a"}"#);
    put(&a, "doc2", r#"{"from": "a", "n": 2}"#);
    let password_file = f.path("password");
    std::fs::write(&password_file, format!("{PASSWORD}\n")).unwrap();
    sync_to(url, &a)
        .args(["--push", "--user", USER, "--password-file"])
        .arg(&password_file)
        .args(["--pin", &f.pin])
        .assert()
        .success()
        .stderr(contains("pushed 2"));

    // Pull into b, the password from the environment; the summary as JSON.
    let summary = stdout_of(f.sync(&b).args(["--pull", "--json"]));
    let summary: serde_json::Value = serde_json::from_str(&summary).unwrap();
    assert_eq!(summary["pulled"], 2, "{summary}");
    assert_eq!(summary["pushed"], 0, "{summary}");
    assert_eq!(summary["error"], serde_json::Value::Null, "{summary}");
    assert_eq!(get(&b, "doc2").as_deref(), Some(r#"{"from":"a","n":2}"#));

    // Both directions (the default), only the documents named.
    put(&b, "doc3", r#"{"from": "b"}"#);
    put(&b, "skipped", r#"{"from": "b"}"#);
    f.sync(&b).args(["--doc-id", "doc3"]).assert().success();
    f.sync(&a).arg("--pull").assert().success();
    assert_eq!(get(&a, "doc3").as_deref(), Some(r#"{"from":"b"}"#));
    assert_eq!(get(&a, "skipped"), None, "--doc-id limits the push");

    // Ctrl-C stops the listener cleanly.
    let (code, stderr) = f.server.process.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("stopped"), "{stderr}");
}

#[test]
fn continuous_sync_pulls_what_another_peer_pushes() {
    let f = Fixture::new();
    let (a, b) = (f.path("a.ferry"), f.path("b.ferry"));
    let mut args = f.sync_args(&a);
    args.push("--continuous".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let continuous = ChildGuard::spawn(&args, &[("SYNC_PW", PASSWORD)]);

    // b pushes a document to the listener; the continuous replicator of a pulls it.
    put(&b, "live", r#"{"seen": true}"#);
    f.sync(&b).arg("--push").assert().success();
    let body = wait_until("the document reaches a", || get(&a, "live"));
    assert_eq!(body, r#"{"seen":true}"#);

    let (code, stderr) = continuous.interrupt();
    assert_eq!(
        code,
        Some(0),
        "Ctrl-C ends a continuous sync normally: {stderr}"
    );
    assert!(stderr.contains("pulled 1"), "the summary: {stderr}");
}

#[test]
fn wrong_password_and_wrong_fingerprint_are_permanent_failures() {
    let f = Fixture::new();
    let db = f.path("a.ferry");

    f.sync(&db)
        .env("SYNC_PW", "not the password")
        .assert()
        .code(3)
        .stderr(contains("401").and(contains("wrong user name or password")));

    let wrong = format!("sha256/{}", "ab".repeat(32));
    let mut args = f.sync_args(&db);
    *args.last_mut().unwrap() = wrong.clone();
    ferry()
        .args(args)
        .env("SYNC_PW", PASSWORD)
        .assert()
        .code(3)
        .stderr(
            contains(f.pin.as_str())
                .and(contains(wrong.as_str()))
                .and(contains("pinned")),
        );

    // No password source for --user: a usage error.
    let mut no_password = sync_to(&f.server.url, &db);
    fails(
        no_password.args(["--user", USER, "--pin", &f.pin]),
        2,
        "--password-file",
    );
}

#[test]
fn unreachable_listener_gives_up_and_a_used_port_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server.ferry"), &["--no-tls"], &[]);
    assert!(server.fingerprint.is_none() && server.url.starts_with("ws://"));
    let port = server.port().to_string();

    // A second listener on the same port: a local error naming the port.
    ferry()
        .args(["serve", "--db"])
        .arg(dir.path().join("other.ferry"))
        .args(["--no-tls", "--interface", "127.0.0.1", "--port", &port])
        .assert()
        .code(1)
        .stderr(contains(format!("port {port} is already in use")));

    // Nothing listens any more once it stopped: a transient failure, given up.
    let url = server.url.clone();
    let (code, _) = server.process.interrupt();
    assert_eq!(code, Some(0));
    let mut once = sync_to(&url, &dir.path().join("a.ferry"));
    fails(once.args(["--max-attempts", "1"]), 4, "connection refused");
}

#[test]
fn a_read_only_listener_serves_pulls_and_refuses_pushes() {
    let dir = tempfile::tempdir().unwrap();
    let server_db = dir.path().join("server.ferry");
    put(&server_db, "shared", r#"{"v": 1}"#);
    let server = Server::start(&server_db, &["--no-tls", "--read-only"], &[]);
    let db = dir.path().join("a.ferry");
    sync_to(&server.url, &db).arg("--pull").assert().success();
    assert_eq!(get(&db, "shared").as_deref(), Some(r#"{"v":1}"#));
    put(&db, "mine", "{}");
    fails(sync_to(&server.url, &db).arg("--push"), 3, "read-only");
    assert_eq!(get(&server_db, "mine"), None);
}

#[test]
fn serve_stops_cleanly_on_ctrl_c_right_after_printing_its_url() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(&dir.path().join("server.ferry"), &["--no-tls"], &[]);
    // Interrupted the moment its URL is out: the signal is handled, not fatal.
    let (code, stderr) = server.process.interrupt();
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stderr.contains("ferry: stopped"), "{stderr}");
}
