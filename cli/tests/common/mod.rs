//! Helpers for tests that run the real `ferry` binary: commands, a `ferry serve` child that
//! is killed when the test ends (pass or fail), and bounded polling.
#![allow(dead_code)] // each test file uses its own subset

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command as StdCommand, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use assert_cmd::Command;
use assert_cmd::cargo::CommandCargoExt;

/// How long any wait in these tests may take.
pub(crate) const DEADLINE: Duration = Duration::from_secs(15);

/// The user and password the tests' listeners accept.
pub(crate) const USER: &str = "alice";
pub(crate) const PASSWORD: &str = "correct horse";

/// `ferry` with these arguments, ready for assertions.
pub(crate) fn ferry() -> Command {
    Command::cargo_bin("ferry").expect("the ferry binary is built")
}

/// `ferry COMMAND --db DB`, for more arguments.
pub(crate) fn ferry_db(command: &str, db: &Path) -> Command {
    let mut ferry = ferry();
    ferry.arg(command).arg("--db").arg(db);
    ferry
}

/// Runs a command that must succeed; returns its stdout, trimmed.
pub(crate) fn stdout_of(command: &mut Command) -> String {
    let out = command.assert().success().get_output().stdout.clone();
    String::from_utf8(out).unwrap().trim().to_owned()
}

/// Runs a command that must fail with exit code `code`, saying `message` on stderr.
pub(crate) fn fails(command: &mut Command, code: i32, message: &str) {
    command
        .assert()
        .code(code)
        .stderr(predicates::str::contains(message));
}

/// `ferry put --db DB ID` with `body` on stdin; returns the revision printed.
pub(crate) fn put(db: &Path, id: &str, body: &str) -> String {
    stdout_of(ferry_db("put", db).arg(id).write_stdin(body))
}

/// `ferry get --db DB ID`: the body printed, or `None` if the command failed.
pub(crate) fn get(db: &Path, id: &str) -> Option<String> {
    let out = ferry_db("get", db).arg(id).output().unwrap();
    out.status
        .success()
        .then(|| String::from_utf8(out.stdout).unwrap().trim().to_owned())
}

/// A child process killed (and reaped) when dropped, so a failing test leaves nothing behind.
pub(crate) struct ChildGuard {
    pub(crate) child: Child,
    lines: mpsc::Receiver<String>,
}

impl ChildGuard {
    /// Starts `ferry` with `args` and `envs`, reading its stdout lines in a thread.
    pub(crate) fn spawn(args: &[&str], envs: &[(&str, &str)]) -> ChildGuard {
        let mut command = StdCommand::cargo_bin("ferry").unwrap();
        command
            .args(args)
            .envs(envs.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().expect("start ferry");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        ChildGuard { child, lines }
    }

    /// The next stdout line starting with `prefix` (its rest), waiting at most [`DEADLINE`].
    pub(crate) fn line_starting(&self, prefix: &str) -> String {
        let deadline = Instant::now() + DEADLINE;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(rest) = line.strip_prefix(prefix) {
                        return rest.trim().to_owned();
                    }
                }
                Err(e) => panic!("no line starting with {prefix:?} from ferry: {e}"),
            }
        }
    }

    /// Sends SIGINT (Ctrl-C) and waits (bounded) for the exit; returns the exit code and stderr.
    pub(crate) fn interrupt(mut self) -> (Option<i32>, String) {
        let pid = self.child.id().to_string();
        let sent = StdCommand::new("kill")
            .args(["-INT", &pid])
            .status()
            .unwrap();
        assert!(sent.success(), "kill -INT {pid}");
        let status = wait_until("ferry exits after SIGINT", || {
            self.child.try_wait().unwrap()
        });
        let mut stderr = String::new();
        if let Some(mut err) = self.child.stderr.take() {
            std::io::Read::read_to_string(&mut err, &mut stderr).unwrap();
        }
        (status.code(), stderr)
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A running `ferry serve` on 127.0.0.1 and what it printed.
pub(crate) struct Server {
    pub(crate) process: ChildGuard,
    pub(crate) url: String,
    pub(crate) fingerprint: Option<String>,
}

impl Server {
    /// `ferry serve --db DB --interface 127.0.0.1 EXTRA...`, waiting for its URL (and
    /// fingerprint, with TLS).
    pub(crate) fn start(db: &Path, extra: &[&str], envs: &[(&str, &str)]) -> Server {
        let db = db.to_str().unwrap();
        let mut args = vec!["serve", "--db", db, "--interface", "127.0.0.1"];
        args.extend_from_slice(extra);
        let process = ChildGuard::spawn(&args, envs);
        let url = process.line_starting("url:");
        let fingerprint = url
            .starts_with("wss:")
            .then(|| process.line_starting("fingerprint:"));
        Server {
            process,
            url,
            fingerprint,
        }
    }

    /// A TLS listener with an identity in `dir`, accepting [`USER`] with [`PASSWORD`] given
    /// through an environment variable.
    pub(crate) fn tls_with_password(dir: &Path, db: &Path) -> Server {
        let ids = dir.join("identities");
        Server::start(
            db,
            &[
                "--identity-dir",
                ids.to_str().unwrap(),
                "--user",
                USER,
                "--password-env",
                "SERVE_PASSWORD",
            ],
            &[("SERVE_PASSWORD", PASSWORD)],
        )
    }

    /// The port.
    pub(crate) fn port(&self) -> u16 {
        let authority = self.url.split('/').nth(2).unwrap();
        authority.rsplit(':').next().unwrap().parse().unwrap()
    }
}

/// Polls `check` every 20 ms until it returns `Some`, panicking after [`DEADLINE`].
pub(crate) fn wait_until<T>(what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}
