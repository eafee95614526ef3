//! [`ActiveSession`]: state, the handle/poll API, checkpoints and status.

use std::collections::{BTreeMap, VecDeque};
use std::time::Instant;

use crate::blip::{BlipError, Connection, Event, Message, MessageNumber, SendOptions};
use crate::db::Database;
use crate::store::Store;
use crate::value::Value;

use super::pull::Pull;
use super::push::Push;
use super::{ActiveConfig, ActiveEvent, ActivityLevel, Progress, ReplicationStatus};
use crate::repl::catalogue::{CheckpointBody, GetCheckpoint, RemoteSeq, SetCheckpoint, names};
use crate::repl::checkpoint::checkpoint_id;
use crate::repl::{Profile, SessionError, parse_checkpoint_rev};

/// Where the session is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Created; [`ActiveSession::start`] not called yet.
    New,
    /// Waiting for the peer's copy of the checkpoint.
    ReadingCheckpoint,
    /// Moving documents.
    Running,
    /// Saving the final checkpoint before finishing (one-shot done, or stopping).
    Finishing,
    /// Done (or failed).
    Stopped,
}

/// What one of our requests was, to route its reply.
#[derive(Debug, Clone)]
pub(super) enum Sent {
    GetCheckpoint,
    SetCheckpoint,
    SubChanges,
    Propose,
    Rev(SentRev),
}

/// A pushed `rev` awaiting its reply.
#[derive(Debug, Clone)]
pub(super) struct SentRev {
    pub(super) seq: u64,
    pub(super) doc_id: String,
    pub(super) rev: crate::rev::RevId,
    pub(super) deleted: bool,
    pub(super) bytes: usize,
    /// A tombstone closing a branch (see `FeedRow::closing`).
    pub(super) closing: bool,
    /// The document's tree as the feed read it (see `FeedRow::tree`).
    pub(super) tree: Option<Vec<u8>>,
}

/// The active side of one replication connection. See the crate docs for the polling contract.
pub struct ActiveSession {
    pub(super) config: ActiveConfig,
    pub(super) profile: Profile,
    pub(super) conn: Connection,
    phase: Phase,
    pub(super) checkpoint_id: String,
    /// The MVCC revision of the peer's copy of our checkpoint.
    remote_checkpoint_rev: Option<String>,
    /// The checkpoint as last saved (to skip saving an unchanged one).
    saved: Option<CheckpointBody>,
    /// The checkpoint being saved at the peer, awaiting its reply.
    save_in_flight: Option<CheckpointBody>,
    next_save: Option<Instant>,
    pub(super) push: Option<Push>,
    pub(super) pull: Option<Pull>,
    /// Our requests awaiting replies, with when they were sent.
    pub(super) sent: BTreeMap<MessageNumber, (Sent, Instant)>,
    pub(super) events: VecDeque<ActiveEvent>,
    last_status: Option<(ActivityLevel, Progress)>,
    error: Option<SessionError>,
}

impl std::fmt::Debug for ActiveSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ActiveSession")
            .field("phase", &self.phase)
            .field("checkpoint_id", &self.checkpoint_id)
            .field("awaiting_replies", &self.sent.len())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl ActiveSession {
    /// A session for a connection whose handshake chose `profile`, replicating `db`.
    pub fn new<S: Store>(profile: Profile, config: ActiveConfig, db: &Database<S>) -> Self {
        let filters = match &config.doc_ids {
            None => String::new(),
            Some(ids) => {
                let mut ids = ids.clone();
                ids.sort();
                format!("docIDs={}", ids.join("\u{1f}"))
            }
        };
        let checkpoint_id = checkpoint_id(
            &db.uuid(),
            &config.remote.bytes(),
            config.direction.name(),
            &filters,
        );
        ActiveSession {
            conn: Connection::new(config.blip.clone()),
            config,
            profile,
            phase: Phase::New,
            checkpoint_id,
            remote_checkpoint_rev: None,
            saved: None,
            save_in_flight: None,
            next_save: None,
            push: None,
            pull: None,
            sent: BTreeMap::new(),
            events: VecDeque::new(),
            last_status: None,
            error: None,
        }
    }

    /// The checkpoint ID this session uses.
    pub fn checkpoint_id(&self) -> &str {
        &self.checkpoint_id
    }

    /// Starts replicating: asks the peer for its copy of the checkpoint.
    pub fn start(&mut self, now: Instant) -> Result<(), SessionError> {
        if self.phase != Phase::New {
            return Ok(());
        }
        self.phase = Phase::ReadingCheckpoint;
        let msg = GetCheckpoint {
            client: self.checkpoint_id.clone(),
        }
        .to_message();
        let result = self
            .request(now, &msg, SendOptions::default(), Sent::GetCheckpoint)
            .map(drop);
        self.after(now, result)
    }

    /// One BLIP frame arrived.
    pub fn handle_frame<S: Store>(
        &mut self,
        now: Instant,
        frame: &[u8],
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        self.input(now, |s| {
            s.conn.handle_frame(frame)?;
            s.process(now, db)
        })
    }

    /// The local database changed: a continuous push sends the new changes.
    pub fn handle_database_changed<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        self.input(now, |s| s.pump(now, db))
    }

    /// The deadline from [`ActiveSession::poll_timeout`] passed.
    pub fn handle_timeout<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        self.input(now, |s| s.timeout(now, db))
    }

    /// The connection closed (by the peer or the network) with `reason`.
    pub fn handle_closed(&mut self, now: Instant, reason: &str) {
        if self.phase != Phase::Stopped {
            self.error = Some(SessionError::Closed(reason.to_owned()));
            self.phase = Phase::Stopped;
        }
        self.emit_status(now);
    }

    /// The connection ended: discards the blobs being pulled (their revisions were not stored
    /// and come again in the next session). Hosts call it once the session is over.
    pub fn discard_transfers<S: Store>(&mut self, db: &mut Database<S>) {
        if let Some(pull) = self.pull.as_mut() {
            pull.blobs.abandon(db);
        }
    }

    /// Stops: saves the checkpoint, then finishes. Drain `poll_frame` and keep feeding frames
    /// until the status is [`ActivityLevel::Stopped`], then close the connection.
    pub fn stop<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        match self.phase {
            Phase::Running => {
                self.phase = Phase::Finishing;
                let result = self.save_checkpoint(now, db, true);
                self.after(now, result)
            }
            Phase::New | Phase::ReadingCheckpoint => {
                self.phase = Phase::Stopped;
                self.after(now, Ok(()))
            }
            Phase::Finishing | Phase::Stopped => Ok(()),
        }
    }

    /// The next frame to send.
    #[must_use]
    pub fn poll_frame(&mut self) -> Option<Vec<u8>> {
        self.conn.poll_frame()
    }

    /// The next event.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<ActiveEvent> {
        self.events.pop_front()
    }

    /// When [`ActiveSession::handle_timeout`] must be called next.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Stopped {
            return None;
        }
        // Requests are numbered in the order they are sent and `now` never goes back, so the
        // first one awaiting its reply is the oldest: no scan of up to thousands in flight on
        // every poll.
        let oldest_request = self
            .sent
            .values()
            .next()
            .map(|(_, at)| *at)
            .into_iter()
            .chain(self.pull.as_ref().and_then(|p| p.blobs.oldest_request()))
            .map(|at| at + self.config.request_timeout)
            .min();
        let inserts = self.pull.as_ref().and_then(Pull::insert_deadline);
        // Periodic saves happen only while running (see `timeout`): once finishing, a
        // passed `next_save` would be a deadline that never moves on.
        let save = self.next_save.filter(|_| self.phase == Phase::Running);
        [oldest_request, inserts, save].into_iter().flatten().min()
    }

    /// The current status.
    pub fn status(&self) -> ReplicationStatus {
        ReplicationStatus {
            activity: self.activity(),
            progress: self.progress(),
            error: self.error.clone(),
        }
    }

    /// Whether the session is over (finished, stopped or failed).
    pub fn is_stopped(&self) -> bool {
        self.phase == Phase::Stopped
    }

    /// Documents with local changes not yet pushed, in sequence order (at most `limit`).
    pub fn pending_document_ids<S: Store>(
        &self,
        db: &Database<S>,
        limit: usize,
    ) -> Result<Vec<String>, SessionError> {
        match &self.push {
            Some(push) => Ok(push.pending_document_ids(db, limit)?),
            None => Ok(Vec::new()),
        }
    }

    /// How full the session's windows are.
    pub fn window_stats(&self) -> crate::repl::WindowStats {
        let mut stats = crate::repl::WindowStats {
            outbox_bytes: self.conn.buffered_outgoing(),
            ..Default::default()
        };
        if let Some(push) = &self.push {
            push.add_stats(&mut stats);
        }
        if let Some(pull) = &self.pull {
            pull.add_stats(&mut stats);
        }
        stats
    }

    /// A one-line-per-item description of what the session waits for.
    pub fn diagnostics(&self) -> Vec<String> {
        let mut out = vec![format!(
            "phase {:?}, checkpoint {}",
            self.phase, self.checkpoint_id
        )];
        for (number, (sent, at)) in &self.sent {
            out.push(format!("request #{number} {sent:?} sent at {at:?}"));
        }
        if let Some(push) = &self.push {
            out.push(format!("push: {}", push.describe()));
        }
        if let Some(pull) = &self.pull {
            out.push(format!("pull: {}", pull.describe()));
        }
        out
    }

    // ---- internals ----

    pub(super) fn request(
        &mut self,
        now: Instant,
        msg: &Message,
        options: SendOptions,
        what: Sent,
    ) -> Result<MessageNumber, SessionError> {
        let number = self.conn.send_request(msg, options)?;
        if !options.no_reply {
            self.sent.insert(number, (what, now));
        }
        Ok(number)
    }

    /// Runs one input unless the session already failed (errors are sticky), then records its
    /// outcome and status.
    fn input(
        &mut self,
        now: Instant,
        f: impl FnOnce(&mut Self) -> Result<(), SessionError>,
    ) -> Result<(), SessionError> {
        if let Some(e) = &self.error {
            return Err(e.clone());
        }
        let result = f(self);
        self.after(now, result)
    }

    fn after(
        &mut self,
        now: Instant,
        result: Result<(), SessionError>,
    ) -> Result<(), SessionError> {
        if let Err(e) = &result {
            self.error = Some(e.clone());
            self.phase = Phase::Stopped;
        }
        self.emit_status(now);
        result
    }

    fn process<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        while let Some(event) = self.conn.poll_event() {
            match event {
                Event::RequestReceived {
                    number,
                    message,
                    no_reply,
                } => {
                    self.handle_request(now, number, message, no_reply, db)?;
                }
                Event::ReplyReceived {
                    request_number,
                    reply,
                } => {
                    self.handle_reply(now, request_number, reply, db)?;
                }
            }
        }
        self.pump(now, db)
    }

    fn handle_request<S: Store>(
        &mut self,
        now: Instant,
        number: MessageNumber,
        msg: Message,
        no_reply: bool,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let pulling = self.pull.is_some();
        if pulling && msg.profile() == Some(names::REV) {
            return self.pull_rev(now, number, msg, db);
        }
        let msg = &msg;
        match msg.profile() {
            Some(names::CHANGES) if pulling => self.pull_changes(now, number, msg, no_reply, db),
            Some(names::NO_REV) if pulling => self.pull_norev(msg),
            Some(names::GET_ATTACHMENT | names::PROVE_ATTACHMENT) => {
                crate::repl::blobs::serve(number, msg, no_reply, &mut self.conn, db)
            }
            other => {
                if !no_reply {
                    let what = other.unwrap_or("");
                    self.conn.send_error(
                        number,
                        "BLIP",
                        404,
                        &format!("no handler for {what:?}"),
                    )?;
                }
                Ok(())
            }
        }
    }

    fn handle_reply<S: Store>(
        &mut self,
        now: Instant,
        number: MessageNumber,
        reply: Result<Message, BlipError>,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        if self.pull_blob_reply(now, number, &reply, db)? {
            return Ok(());
        }
        let Some((sent, _)) = self.sent.remove(&number) else {
            return Ok(());
        };
        match sent {
            Sent::GetCheckpoint if self.phase == Phase::ReadingCheckpoint => {
                self.checkpoint_read(now, reply, db)
            }
            Sent::GetCheckpoint => {
                // A refresh after a 409: adopt the peer's revision and save again.
                self.remote_checkpoint_rev = reply
                    .ok()
                    .and_then(|m| m.property("rev").map(str::to_owned));
                let finishing = self.phase == Phase::Finishing;
                self.save_checkpoint(now, db, finishing)
            }
            Sent::SetCheckpoint => self.checkpoint_saved(now, reply, db),
            Sent::SubChanges => match reply {
                Ok(_) => Ok(()),
                Err(error) => Err(SessionError::Refused {
                    request: names::SUB_CHANGES,
                    error,
                }),
            },
            Sent::Propose => self.push_answered(now, number, reply, db),
            Sent::Rev(sent) => {
                if sent.closing {
                    self.push_closing_done(sent.seq, sent.bytes);
                } else {
                    self.push_rev_done(sent, reply);
                }
                Ok(())
            }
        }
    }

    /// The peer's copy of the checkpoint arrived (or a 404): decide where to resume, then start.
    fn checkpoint_read<S: Store>(
        &mut self,
        now: Instant,
        reply: Result<Message, BlipError>,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let remote = match reply {
            Ok(msg) => {
                self.remote_checkpoint_rev = msg.property("rev").map(str::to_owned);
                let value = self.profile.decode_value(&msg.body).map_err(|e| {
                    SessionError::Malformed(crate::repl::catalogue::CatalogueError::BadBody {
                        message: "checkpoint",
                        reason: e.to_string(),
                    })
                })?;
                Some(CheckpointBody::from_value(&value)?)
            }
            Err(e) if e.domain == "HTTP" && e.code == 404 => None,
            Err(error) => {
                return Err(SessionError::Refused {
                    request: names::GET_CHECKPOINT,
                    error,
                });
            }
        };
        let local = match db.local_checkpoint(&self.checkpoint_id)? {
            Some(bytes) => Value::from_cbor(&bytes)
                .ok()
                .and_then(|v| CheckpointBody::from_value(&v).ok()),
            None => None,
        };
        let start = if self.config.reset_checkpoint {
            CheckpointBody::default()
        } else {
            resume_point(local.as_ref(), remote.as_ref())
        };
        self.saved = Some(start.clone());
        self.phase = Phase::Running;
        self.next_save = Some(now + self.config.checkpoint_interval);
        if self.config.direction.pulls() {
            // Conflicts only come from pulls; settle any left by an earlier session first so
            // the push sends their resolutions.
            self.resolve_existing_conflicts(db)?;
        }
        if self.config.direction.pushes() {
            self.push = Some(Push::new(&self.config, &start));
        }
        if self.config.direction.pulls() {
            self.start_pull(now, &start, db)?;
        }
        Ok(())
    }

    fn timeout<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        if let Some((sent, _)) = self
            .sent
            .values()
            .next() // the oldest (see `poll_timeout`)
            .filter(|(_, at)| now >= *at + self.config.request_timeout)
        {
            let request = match sent {
                Sent::GetCheckpoint => names::GET_CHECKPOINT,
                Sent::SetCheckpoint => names::SET_CHECKPOINT,
                Sent::SubChanges => names::SUB_CHANGES,
                Sent::Propose => names::PROPOSE_CHANGES,
                Sent::Rev(_) => names::REV,
            };
            return Err(SessionError::Timeout {
                request,
                seconds: self.config.request_timeout.as_secs(),
            });
        }
        if self
            .pull
            .as_ref()
            .and_then(|p| p.blobs.oldest_request())
            .is_some_and(|at| now >= at + self.config.request_timeout)
        {
            return Err(SessionError::Timeout {
                request: names::GET_ATTACHMENT,
                seconds: self.config.request_timeout.as_secs(),
            });
        }
        if self
            .pull
            .as_ref()
            .and_then(Pull::insert_deadline)
            .is_some_and(|d| now >= d)
        {
            self.flush_pulled(now, db)?;
        }
        if self.next_save.is_some_and(|d| now >= d) && self.phase == Phase::Running {
            self.next_save = Some(now + self.config.checkpoint_interval);
            self.save_checkpoint(now, db, false)?;
        }
        self.pump(now, db)
    }

    /// Sends what can be sent, and finishes a one-shot session that is caught up.
    pub(super) fn pump<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        if self.phase != Phase::Running {
            return Ok(());
        }
        self.push_pump(now, db)?;
        self.pull_pump(now, db)?;
        if self.caught_up() {
            if self.config.continuous {
                // Idle: a good moment to record what the peer acknowledged.
                self.remember_remote_revisions(db)?;
            } else {
                self.phase = Phase::Finishing;
                self.save_checkpoint(now, db, true)?;
            }
        }
        Ok(())
    }

    fn caught_up(&self) -> bool {
        self.push.as_ref().is_none_or(Push::is_caught_up)
            && self.pull.as_ref().is_none_or(Pull::is_caught_up)
    }

    /// The checkpoint as it stands.
    fn current_checkpoint(&self) -> CheckpointBody {
        let mut body = self.saved.clone().unwrap_or_default();
        body.time = None;
        if let Some(push) = &self.push {
            body.local = Some(push.progress.local());
            let ranges = push.progress.completed_ranges();
            body.local_completed = if ranges.len() > 1 { ranges } else { Vec::new() };
        }
        if let Some(pull) = &self.pull {
            body.remote = pull.progress.checkpoint().cloned();
        }
        body
    }

    /// Saves the checkpoint at the peer (and, on its reply, locally). `finishing`: the session
    /// stops once it is saved.
    fn save_checkpoint<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
        finishing: bool,
    ) -> Result<(), SessionError> {
        self.remember_remote_revisions(db)?;
        let body = self.current_checkpoint();
        if self.save_in_flight.is_some() {
            return Ok(()); // its reply triggers the next save when finishing
        }
        if self.saved.as_ref() == Some(&body) {
            if finishing {
                self.phase = Phase::Stopped;
            }
            return Ok(());
        }
        let msg = SetCheckpoint {
            client: self.checkpoint_id.clone(),
            rev: self.remote_checkpoint_rev.clone(),
            body,
        }
        .to_message(self.profile);
        self.request(now, &msg, SendOptions::default(), Sent::SetCheckpoint)?;
        self.save_in_flight = Some(self.current_checkpoint());
        Ok(())
    }

    fn checkpoint_saved<S: Store>(
        &mut self,
        now: Instant,
        reply: Result<Message, BlipError>,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let sent = self.save_in_flight.take().unwrap_or_default();
        match reply {
            Ok(msg) => {
                let rev = msg
                    .property("rev")
                    .filter(|r| parse_checkpoint_rev(r).is_some());
                self.remote_checkpoint_rev = rev.map(str::to_owned);
                db.set_local_checkpoint(&self.checkpoint_id, &sent.to_value().to_cbor())?;
                self.saved = Some(sent);
                self.events.push_back(ActiveEvent::CheckpointSaved);
            }
            Err(e) if e.domain == "HTTP" && e.code == 409 => {
                // Someone else saved it meanwhile: learn its revision and save again.
                self.remote_checkpoint_rev = None;
                let msg = GetCheckpoint {
                    client: self.checkpoint_id.clone(),
                }
                .to_message();
                self.request(now, &msg, SendOptions::default(), Sent::GetCheckpoint)?;
                return Ok(());
            }
            Err(error) => {
                return Err(SessionError::Refused {
                    request: names::SET_CHECKPOINT,
                    error,
                });
            }
        }
        if self.phase == Phase::Finishing {
            self.save_checkpoint(now, db, true)?;
        }
        Ok(())
    }

    fn activity(&self) -> ActivityLevel {
        match self.phase {
            Phase::New | Phase::ReadingCheckpoint => ActivityLevel::Connecting,
            Phase::Stopped => ActivityLevel::Stopped,
            Phase::Finishing => ActivityLevel::Busy,
            Phase::Running if self.caught_up() => ActivityLevel::Idle,
            Phase::Running => ActivityLevel::Busy,
        }
    }

    fn progress(&self) -> Progress {
        let mut p = Progress::default();
        for (completed, total) in [
            self.push.as_ref().map(Push::counts),
            self.pull.as_ref().map(Pull::counts),
        ]
        .into_iter()
        .flatten()
        {
            p.completed += completed;
            p.total += total;
        }
        p
    }

    fn emit_status(&mut self, _now: Instant) {
        let now_status = (self.activity(), self.progress());
        if self.last_status.as_ref() != Some(&now_status) {
            self.last_status = Some(now_status);
            self.events
                .push_back(ActiveEvent::StatusChanged(self.status()));
        }
    }
}

/// Where to resume given our copy of the checkpoint and the peer's: the common part of both.
fn resume_point(local: Option<&CheckpointBody>, remote: Option<&CheckpointBody>) -> CheckpointBody {
    match (local, remote) {
        (Some(l), Some(r)) if l == r => l.clone(),
        (Some(l), Some(r)) => CheckpointBody {
            time: None,
            local: match (l.local, r.local) {
                (Some(a), Some(b)) => Some(a.min(b)),
                _ => None,
            },
            local_completed: Vec::new(),
            remote: match (&l.remote, &r.remote) {
                (Some(a), Some(b)) if a == b => Some(a.clone()),
                (Some(a), Some(b)) => match (a.as_number(), b.as_number()) {
                    (Some(x), Some(y)) => Some(RemoteSeq::number(x.min(y))),
                    _ => None,
                },
                _ => None,
            },
        },
        // Only one copy: the peer lost its copy (or we lost ours); start over, which is safe —
        // what either side already has is skipped, not sent again.
        _ => CheckpointBody::default(),
    }
}
