//! The parent's handle on a listener process (see `child.rs` for its side of the protocol).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_tokio::Fingerprint;
use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};

use crate::Failure;

/// How long any one answer from the listener process may take.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(900);

/// A listener process serving one SQLite database.
pub(crate) struct Peer {
    child: Child,
    stdin: ChildStdin,
    answers: UnboundedReceiver<String>,
    /// `SEEN` lines, with the instant the reader thread read them.
    pub(crate) seen: UnboundedReceiver<(Instant, String)>,
    /// The port it serves.
    pub(crate) port: u16,
    /// Its certificate's SHA-256 fingerprint (replicators pin it).
    pub(crate) fingerprint: Fingerprint,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts this binary again with `args` (a hidden helper command) and waits for it to end.
pub(crate) fn run_helper(args: &[String]) -> Result<String, Failure> {
    let output = Command::new(std::env::current_exe()?)
        .args(args)
        .stderr(Stdio::inherit())
        .output()?;
    if !output.status.success() {
        return Err(format!("helper {:?} failed: {}", args.first(), output.status).into());
    }
    Ok(String::from_utf8(output.stdout)?)
}

impl Peer {
    /// Starts a listener process serving `db`; with `delta`, delta sync is enabled.
    pub(crate) async fn start(db: &Path, delta: bool) -> Result<Peer, Failure> {
        let mut command = Command::new(std::env::current_exe()?);
        command.arg("__listener").arg(db);
        if delta {
            command.arg("--delta");
        }
        let mut child = command
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let stdin = child.stdin.take().ok_or("no stdin")?;
        let stdout = child.stdout.take().ok_or("no stdout")?;
        let (answer_tx, mut answers) = unbounded_channel();
        let (seen_tx, seen) = unbounded_channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let now = Instant::now();
                if let Some(id) = line.strip_prefix("SEEN ") {
                    let _ = seen_tx.send((now, id.to_owned()));
                } else if answer_tx.send(line).is_err() {
                    break;
                }
            }
        });
        let ready = tokio::time::timeout(ANSWER_TIMEOUT, answers.recv())
            .await
            .map_err(|_| "the listener process did not start")?
            .ok_or("the listener process ended before it was ready")?;
        let mut words = ready.split_whitespace();
        if words.next() != Some("READY") {
            return Err(format!("unexpected first line from the listener: {ready:?}").into());
        }
        let port = words.next().ok_or("READY without a port")?.parse()?;
        let fingerprint = words
            .next()
            .ok_or("READY without a fingerprint")?
            .parse()
            .map_err(|e| format!("bad fingerprint: {e:?}"))?;
        Ok(Peer {
            child,
            stdin,
            answers,
            seen,
            port,
            fingerprint,
        })
    }

    /// Sends one command and returns its answer.
    pub(crate) async fn ask(&mut self, command: &str) -> Result<String, Failure> {
        writeln!(self.stdin, "{command}")?;
        self.stdin.flush()?;
        let answer = tokio::time::timeout(ANSWER_TIMEOUT, self.answers.recv())
            .await
            .map_err(|_| format!("no answer to {command:?}"))?
            .ok_or("the listener process ended")?;
        if answer.starts_with("ERR") {
            return Err(format!("{command:?}: {answer}").into());
        }
        Ok(answer)
    }

    /// The number of documents it holds.
    pub(crate) async fn count(&mut self) -> Result<u64, Failure> {
        let answer = self.ask("count").await?;
        Ok(answer.trim_start_matches("COUNT ").parse()?)
    }

    /// Restarts its peak RSS from its current RSS.
    pub(crate) async fn reset_peak_rss(&mut self) -> Result<(), Failure> {
        self.ask("rss-reset").await.map(drop)
    }

    /// Its peak RSS in KiB.
    pub(crate) async fn peak_rss_kib(&mut self) -> Result<u64, Failure> {
        let answer = self.ask("rss").await?;
        Ok(answer.trim_start_matches("RSS ").parse()?)
    }

    /// Stops the listener, closes its database and waits for the process to end.
    pub(crate) async fn quit(mut self) -> Result<(), Failure> {
        let answer = self.ask("quit").await?;
        if answer != "BYE" {
            return Err(format!("unexpected answer to quit: {answer:?}").into());
        }
        let status = self.child.wait()?;
        if !status.success() {
            return Err(format!("the listener process ended with {status}").into());
        }
        Ok(())
    }
}
