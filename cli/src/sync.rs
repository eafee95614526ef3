//! `ferry sync`: a replicator between a local database and a listener, with a progress bar (one
//! shot) or a status line (continuous), and a summary.

use std::io::Write;
use std::time::{Duration, Instant};

use ferry_net::identity::certificates_from_pem_file;
use ferry_tokio::{
    ActivityLevel, DocumentEvent, Fingerprint, Replicator, ReplicatorAuthenticator,
    ReplicatorConfig, ReplicatorStatus, ReplicatorType,
};
use futures_util::StreamExt;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde_json::json;

use crate::args::SyncArgs;
use crate::db::{Access, open};
use crate::error::CliError;
use crate::secret;
use crate::signals::Shutdown;

/// How often the progress bar or status line is redrawn.
const REDRAW: Duration = Duration::from_millis(100);

/// What moved, counted from the replicator's document events.
#[derive(Debug, Default)]
struct Tally {
    pushed: u64,
    pulled: u64,
    failed: u64,
    conflicts_resolved: u64,
    /// The first document failure: its ID and why.
    first_failure: Option<String>,
}

impl Tally {
    fn count(&mut self, event: &DocumentEvent) {
        match event {
            DocumentEvent::DocumentReplicated { direction, .. } => match direction {
                ReplicatorType::Pull => self.pulled += 1,
                _ => self.pushed += 1,
            },
            DocumentEvent::DocumentFailed { doc_id, error, .. } => {
                self.failed += 1;
                self.first_failure
                    .get_or_insert_with(|| format!("{doc_id:?}: {error}"));
            }
            DocumentEvent::ConflictResolved { .. } => self.conflicts_resolved += 1,
            _ => {}
        }
    }

    fn line(&self) -> String {
        format!(
            "pushed {}, pulled {}, conflicts resolved {}, failed {}",
            self.pushed, self.pulled, self.conflicts_resolved, self.failed
        )
    }
}

/// The replicator's settings from the options.
fn replicator_config(
    args: &SyncArgs,
    db: ferry_tokio::Database,
) -> Result<ReplicatorConfig, CliError> {
    let direction = match (args.push, args.pull) {
        (true, false) => ReplicatorType::Push,
        (false, true) => ReplicatorType::Pull,
        _ => ReplicatorType::PushAndPull,
    };
    let mut config = ReplicatorConfig::new(db, args.url.clone())
        .replicator_type(direction)
        .continuous(args.continuous)
        .accept_only_self_signed_server_certificate(args.self_signed_only);
    if let Some(user) = &args.user {
        let password = secret::password(user, &args.password)?;
        config = config.authenticator(ReplicatorAuthenticator::basic(user.clone(), password));
    }
    if let Some(pin) = &args.pin {
        let pin: Fingerprint = pin
            .parse()
            .map_err(|e| CliError::Invalid(format!("--pin: {e}")))?;
        config = config.pinned_server_fingerprint(pin);
    }
    if let Some(ca) = &args.ca {
        let roots = certificates_from_pem_file(ca)
            .map_err(|e| CliError::Invalid(format!("--ca {}: {e}", ca.display())))?;
        config = config.trusted_root_certificates(roots);
    }
    if !args.doc_ids.is_empty() {
        config = config.document_ids(args.doc_ids.clone());
    }
    if let Some(attempts) = args.max_attempts {
        config = config.max_attempts(attempts);
    }
    Ok(config)
}

/// The progress bar (one shot) or status line (continuous), on stderr when it is a terminal.
fn progress_display(continuous: bool) -> ProgressBar {
    let target = ProgressDrawTarget::stderr();
    let (bar, template) = if continuous {
        (
            ProgressBar::with_draw_target(None, target),
            "{spinner} {msg}",
        )
    } else {
        (
            ProgressBar::with_draw_target(Some(0), target),
            "{bar:30} {pos}/{len} changes, {elapsed} — {msg}",
        )
    };
    bar.with_style(
        ProgressStyle::with_template(template).unwrap_or_else(|_| ProgressStyle::default_bar()),
    )
}

fn activity(status: &ReplicatorStatus) -> &'static str {
    match status.activity {
        ActivityLevel::Stopped => "stopped",
        ActivityLevel::Offline => "offline, retrying",
        ActivityLevel::Connecting => "connecting",
        ActivityLevel::Idle => "idle",
        ActivityLevel::Busy => "busy",
    }
}

/// How the replicator's run ended.
enum Outcome {
    /// It stopped by itself (one shot finished, or an error).
    Stopped(ReplicatorStatus),
    /// Ctrl-C or SIGTERM.
    Interrupted,
}

/// `ferry sync`.
pub(crate) async fn sync(args: SyncArgs, out: &mut impl Write) -> Result<(), CliError> {
    let db = open(&args.db, "local", Access::Create)?;
    let config = replicator_config(&args, db)?;
    let replicator = Replicator::new(config).map_err(|e| {
        let hint = match e {
            ferry_tokio::Error::Tls(ferry_net::TlsError::NoTrustedRoots) => {
                ": a wss:// URL needs --pin FINGERPRINT, --self-signed-only or --ca FILE"
            }
            _ => "",
        };
        CliError::Usage(format!("{e}{hint}"))
    })?;
    let mut shutdown = Shutdown::listen();
    let mut events = replicator.document_events();
    let mut statuses = replicator.status_changes();
    let display = progress_display(args.continuous);
    let mut tally = Tally::default();
    let started = Instant::now();
    replicator.start(args.reset)?;

    let mut redraw = tokio::time::interval(REDRAW);
    let outcome = loop {
        tokio::select! {
            () = shutdown.wait() => break Outcome::Interrupted,
            Some(event) = events.next() => tally.count(&event),
            Some(_) = statuses.next() => {}
            _ = redraw.tick() => {}
        }
        let status = replicator.status();
        if status.activity == ActivityLevel::Stopped && status.attempts > 0 {
            break Outcome::Stopped(status);
        }
        if !args.continuous {
            display.set_length(status.progress.total);
            display.set_position(status.progress.completed);
        }
        let error = match &status.error {
            Some(error) => format!(" (last error: {error})"),
            None => String::new(),
        };
        display.set_message(format!("{}{error}; {}", activity(&status), tally.line()));
        display.tick();
    };
    display.finish_and_clear();
    if matches!(outcome, Outcome::Interrupted) {
        replicator.stop().await?;
    }
    // Events already sent before the stop are counted.
    while let Some(event) = events.try_recv() {
        tally.count(&event);
    }
    let status = replicator.status();
    if args.json || status.error.is_none() || tally.pushed + tally.pulled > 0 {
        summary(&args, &tally, started.elapsed(), &status, out)?;
    }
    match outcome {
        Outcome::Stopped(ReplicatorStatus {
            error: Some(error),
            attempts,
            ..
        }) => Err(CliError::Replication { error, attempts }),
        Outcome::Interrupted if !args.continuous => Err(CliError::Interrupted),
        Outcome::Stopped(_) if tally.failed > 0 => Err(CliError::DocumentsFailed {
            count: tally.failed,
            first: tally.first_failure.unwrap_or_default(),
        }),
        _ => Ok(()),
    }
}

/// The summary: on stderr, or as JSON on stdout with `--json`.
fn summary(
    args: &SyncArgs,
    tally: &Tally,
    elapsed: Duration,
    status: &ReplicatorStatus,
    out: &mut impl Write,
) -> Result<(), CliError> {
    let secs = elapsed.as_secs_f64();
    let documents = tally.pushed + tally.pulled;
    let rate = if secs > 0.0 {
        documents as f64 / secs
    } else {
        0.0
    };
    if args.json {
        let summary = json!({
            "pushed": tally.pushed,
            "pulled": tally.pulled,
            "documents": documents,
            "conflicts_resolved": tally.conflicts_resolved,
            "failed": tally.failed,
            "seconds": secs,
            "documents_per_second": rate,
            "attempts": status.attempts,
            "error": status.error.as_ref().map(ToString::to_string),
        });
        writeln!(out, "{summary}")?;
    } else {
        eprintln!(
            "ferry: {documents} document(s) in {secs:.2} s ({rate:.0} documents/s): {}",
            tally.line()
        );
    }
    Ok(())
}
