//! Helper processes for tests that need a peer in a process of its own (a listener to
//! SIGKILL, or one whose memory is measured alone): the test binary re-invoked on one of its
//! own `#[ignore]`d tests, which serves until told to quit or killed.
//!
//! The child prints `FERRY-CHILD-READY <words>` once serving, then answers one line per
//! command line read from its stdin ([`serve_commands`]). The parent ([`ChildProcess`]) reads
//! the child's stdout on a thread of its own, so answers are awaited on any runtime.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::Duration;

use futures_channel::mpsc;
use futures_util::StreamExt;
use futures_util::future::BoxFuture;

use ferry_net::driver::Runtime;

use crate::within;

/// What a child prints once it serves, followed by what the parent needs to know (the test
/// harness may have printed the test's name before it on the same line).
pub const READY: &str = "FERRY-CHILD-READY";

/// How long a child may take to start, or to answer one command.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(120);

/// A child process running one ignored test of the current test binary. Killed on drop, so a
/// failing test leaves no process behind.
#[derive(Debug)]
pub struct ChildProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::UnboundedReceiver<String>,
    ready: Vec<String>,
}

impl ChildProcess {
    /// Starts the current test binary on the ignored test `test` with `env` set, and waits
    /// (at most [`ANSWER_TIMEOUT`]) for its [`READY`] line.
    pub async fn spawn<R: Runtime>(test: &str, env: &[(&str, OsString)]) -> ChildProcess {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args([
                "--exact",
                test,
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::unbounded();
        // Keeps reading to the end: a closed pipe would fail the child's next write.
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = tx.unbounded_send(line);
            }
        });
        let mut process = ChildProcess {
            stdin: child.stdin.take(),
            child,
            lines,
            ready: Vec::new(),
        };
        // The test harness prints its own lines ("running 1 test") around the test's.
        let ready = loop {
            let line = process.next_line::<R>(&format!("{test} to be ready")).await;
            if let Some((_, rest)) = line.split_once(READY) {
                break rest.split_whitespace().map(str::to_owned).collect();
            }
        };
        process.ready = ready;
        process
    }

    /// The words the child printed after [`READY`].
    pub fn ready(&self) -> &[String] {
        &self.ready
    }

    async fn next_line<R: Runtime>(&mut self, what: &str) -> String {
        match within::<R, _>(ANSWER_TIMEOUT, self.lines.next()).await {
            Some(Some(line)) => line,
            Some(None) => panic!("the child process ended while waiting for {what}"),
            None => panic!("no line from the child process in {ANSWER_TIMEOUT:?} for {what}"),
        }
    }

    /// Sends `command` and returns the child's answer (at most [`ANSWER_TIMEOUT`]).
    pub async fn ask<R: Runtime>(&mut self, command: &str) -> String {
        let stdin = self.stdin.as_mut().expect("the child's stdin is open");
        writeln!(stdin, "{command}").unwrap();
        stdin.flush().unwrap();
        self.next_line::<R>(&format!("the answer to {command:?}"))
            .await
    }

    /// Sends `command` and parses the answer `<word> <number>`.
    pub async fn ask_number<R: Runtime>(&mut self, command: &str, word: &str) -> u64 {
        let answer = self.ask::<R>(command).await;
        answer
            .strip_prefix(word)
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("{command:?} answered {answer:?}, not {word} <number>"))
    }

    /// Closes the child's stdin (its signal to quit) and waits for it to exit successfully.
    pub fn wait_success(&mut self) {
        drop(self.stdin.take());
        let status = self.child.wait().unwrap();
        assert!(status.success(), "the child process ended with {status}");
    }

    /// Kills the child with SIGKILL and waits for it to end.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The child's side: prints [`READY`] and `ready`, then for every line read from stdin prints
/// the answer `handle` gives (commands run one at a time, in order), until stdin closes.
pub async fn serve_commands<R: Runtime>(
    ready: &str,
    mut handle: impl FnMut(String) -> BoxFuture<'static, String>,
) {
    let (tx, mut commands) = mpsc::unbounded();
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let Ok(line) = line else { break };
            if tx.unbounded_send(line).is_err() {
                break;
            }
        }
    });
    announce(&format!("{READY} {ready}"));
    while let Some(command) = commands.next().await {
        let answer = handle(command).await;
        announce(&answer);
    }
}

/// Prints one line to stdout and flushes it, for the parent to read.
fn announce(line: &str) {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}").unwrap();
    out.flush().unwrap();
}

/// Environment variables of a child, read in the child: panics with a clear message when the
/// ignored test is run by hand without them.
pub fn env_vars(names: &[&str]) -> BTreeMap<String, String> {
    names
        .iter()
        .map(|name| {
            let value = std::env::var(name).unwrap_or_else(|_| {
                panic!("{name} is not set: this ignored test is a child process of another test")
            });
            (name.to_string(), value)
        })
        .collect()
}

/// This process's resident set size in KiB (Linux `/proc/self/status`; 0 elsewhere).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}
