//! The passive session: what a listener runs for each incoming connection.
//!
//! It serves the peer's pulls (checkpoints, the changes feed and revisions) and accepts its
//! pushes (proposed changes and revisions). It never stores a conflict: a pushed revision that
//! would branch the document is refused with 409, and the active side resolves the conflict and
//! pushes the merge.
//!
//! Every request is answered (unless sent no-reply): a pushed `rev` only once it is durably
//! stored (received revisions share one store transaction, flushed when `insert_batch` are
//! waiting, when every revision our answers asked for has arrived, or `insert_delay` after the
//! first), anything it cannot do with an error reply —
//! HTTP 400 malformed, 403 read-only, 404 unknown checkpoint or blob, 409 conflict, 413 too
//! large, 422 a delta it cannot apply (the peer resends the body in full), BLIP 404 unknown
//! request type. A refused request changes nothing and never ends the
//! session; only BLIP protocol errors, malformed replies to the session's own requests and local
//! database failures while serving the feed do.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant};

use crate::blip::{Connection, Event, Message, MessageNumber, SendOptions};
use crate::db::{Database, InsertOutcome, RemoteRevision};
use crate::store::Store;

use super::blobs::{BlobFetcher, Settled};
use super::catalogue::{self as cat, ChangeAnswer, ChangeRow, RemoteSeq, RevMessage, names};
use super::deltas::{self, DeltaReceiver, DeltaSender};
use super::feed::{Feed, FeedStep, RevToSend};
use super::{Profile, SessionError};
use crate::store::Sequence;

mod requests;

use requests::Refusal;

/// Settings of a [`PassiveSession`].
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PassiveConfig {
    /// BLIP limits and tuning.
    pub blip: crate::blip::Config,
    /// Refuse every push with HTTP 403.
    pub read_only: bool,
    /// Changes per `changes` message unless the peer asks for fewer (default 500).
    pub changes_batch: usize,
    /// `changes` messages awaiting the peer's reply at once (default 4).
    pub max_changes_in_flight: usize,
    /// `rev` messages awaiting the peer's reply at once (default 2,048: above the peer's insert
    /// batch, so that it receives the next batch while it stores one).
    pub max_revs_in_flight: usize,
    /// Body bytes of `rev` messages awaiting replies at once (default 4 MiB).
    pub max_rev_bytes_in_flight: usize,
    /// Received revisions inserted in one store transaction, at most (default 500).
    pub insert_batch: usize,
    /// How long a received revision may wait for more to share its transaction (default 1 ms).
    /// It does not wait when every revision asked for has arrived.
    pub insert_delay: Duration,
    /// Longest `history` we ask peers to send (`maxHistory` in replies; default 20).
    pub max_history: usize,
    /// The number this database uses for the connected peer in its revision trees' remote
    /// ancestors, if the host tracks it. Without one, and with delta sync enabled, exchanged
    /// revisions are recorded under one shared ID so the last one keeps its body as a delta
    /// base.
    pub remote_id: Option<u32>,
    /// Offer and send deltas (`deltas: "true"` in replies; `rev` bodies as deltas when the
    /// peer offers them too). Default `false`, as Couchbase Lite's listener
    /// (`enableDeltaSync`).
    pub enable_delta_sync: bool,
    /// How long to wait for the peer to answer one of our `changes` or `rev` requests before
    /// declaring it unresponsive and ending the session (default 60 s).
    pub request_timeout: Duration,
}

impl Default for PassiveConfig {
    fn default() -> Self {
        PassiveConfig {
            blip: crate::blip::Config::default(),
            read_only: false,
            changes_batch: 500,
            max_changes_in_flight: 4,
            max_revs_in_flight: 2048,
            max_rev_bytes_in_flight: 4 << 20,
            insert_batch: 500,
            insert_delay: Duration::from_millis(1),
            max_history: 20,
            remote_id: None,
            enable_delta_sync: false,
            request_timeout: Duration::from_secs(60),
        }
    }
}

/// Something a passive session did, for the host and the application.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum PassiveEvent {
    /// The peer pushed a revision and it is durably stored.
    DocumentReceived {
        /// The document ID.
        doc_id: String,
        /// The revision.
        rev: crate::rev::RevId,
    },
    /// A pushed revision was refused (conflict, bad data, read-only); the peer was told why.
    DocumentRejected {
        /// The document ID.
        doc_id: String,
        /// The revision.
        rev: crate::rev::RevId,
        /// Why.
        reason: String,
    },
    /// The peer acknowledged a revision we sent it.
    DocumentSent {
        /// The document ID.
        doc_id: String,
        /// The revision.
        rev: crate::rev::RevId,
    },
    /// The peer saved its checkpoint here.
    CheckpointSaved {
        /// The checkpoint ID.
        client: String,
    },
}

/// A revision received and waiting to be inserted with others in one transaction.
struct PendingInsert {
    request: MessageNumber,
    /// The peer sent the `rev` no-reply: store it, answer nothing.
    no_reply: bool,
    revision: RemoteRevision,
}

/// The passive side of one replication connection. See the crate docs for the polling contract:
/// after every `handle_*` call, drain [`PassiveSession::poll_frame`],
/// [`PassiveSession::poll_event`] and read [`PassiveSession::poll_timeout`].
pub struct PassiveSession {
    profile: Profile,
    config: PassiveConfig,
    conn: Connection,
    feed: Option<Feed>,
    pending_inserts: Vec<PendingInsert>,
    insert_deadline: Option<Instant>,
    /// Revisions our answers to `changes` / `proposeChanges` asked for that have not arrived
    /// (as `rev` or `norev`) yet. When none is awaited, received revisions are stored at once
    /// instead of waiting `insert_delay` for company that is not coming.
    revs_awaited: usize,
    events: VecDeque<PassiveEvent>,
    failed: Option<SessionError>,
    /// Requests awaiting replies: number → what they were.
    sent: BTreeMap<MessageNumber, Sent>,
    /// When each of `sent` was sent, for the request timeout.
    sent_at: BTreeMap<MessageNumber, Instant>,
    /// The `maxHistory` the puller asked for in its answers to our `changes`.
    peer_max_history: Option<usize>,
    /// Delta sync: what we accept, and what we send.
    delta_in: DeltaReceiver,
    delta_out: DeltaSender,
    /// Blobs fetched for received revisions, and the revisions waiting for them.
    blobs: BlobFetcher<PendingInsert>,
}

enum Sent {
    Changes,
    Rev {
        seq: Sequence,
        doc_id: String,
        rev: crate::rev::RevId,
        bytes: usize,
    },
}

impl std::fmt::Debug for PassiveSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PassiveSession")
            .field("profile", &self.profile)
            .field("pending_inserts", &self.pending_inserts.len())
            .field("awaiting_replies", &self.sent.len())
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

impl PassiveSession {
    /// A session for a connection whose handshake chose `profile`.
    pub fn new(profile: Profile, config: PassiveConfig) -> Self {
        PassiveSession {
            delta_in: DeltaReceiver::new(config.enable_delta_sync),
            delta_out: DeltaSender::new(config.enable_delta_sync).recording_bases(),
            profile,
            conn: Connection::new(config.blip.clone()),
            config,
            feed: None,
            pending_inserts: Vec::new(),
            insert_deadline: None,
            revs_awaited: 0,
            events: VecDeque::new(),
            failed: None,
            sent: BTreeMap::new(),
            sent_at: BTreeMap::new(),
            peer_max_history: None,
            blobs: BlobFetcher::new(profile),
        }
    }

    /// The profile in use.
    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The fatal error that ended the session, if any. Close the WebSocket with
    /// [`SessionError::close_code`].
    pub fn error(&self) -> Option<&SessionError> {
        self.failed.as_ref()
    }

    /// One BLIP frame (one binary WebSocket message) arrived.
    pub fn handle_frame<S: Store>(
        &mut self,
        now: Instant,
        frame: &[u8],
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        self.input(|s| {
            s.conn.handle_frame(frame)?;
            s.process_events(now, db)
        })
    }

    /// The database changed (for example the application wrote, or another session stored
    /// revisions): a continuous feed sends the new changes.
    pub fn handle_database_changed<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        self.input(|s| s.pump(now, db))
    }

    /// The deadline from [`PassiveSession::poll_timeout`] passed.
    pub fn handle_timeout<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        self.input(|s| s.timeout(now, db))
    }

    fn timeout<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        if let Some((number, _)) = self
            .sent_at
            .iter()
            .next() // the oldest (see `poll_timeout`)
            .filter(|(_, at)| now >= **at + self.config.request_timeout)
        {
            let request = match self.sent.get(number) {
                Some(Sent::Rev { .. }) => names::REV,
                _ => names::CHANGES,
            };
            let seconds = self.config.request_timeout.as_secs();
            return Err(SessionError::Timeout { request, seconds });
        }
        if self
            .blobs
            .oldest_request()
            .is_some_and(|at| now >= at + self.config.request_timeout)
        {
            return Err(SessionError::Timeout {
                request: names::GET_ATTACHMENT,
                seconds: self.config.request_timeout.as_secs(),
            });
        }
        match self.insert_deadline {
            Some(deadline) if now >= deadline => self.flush_inserts(now, db),
            _ => Ok(()),
        }
    }

    /// The next frame to send, if any.
    #[must_use]
    pub fn poll_frame(&mut self) -> Option<Vec<u8>> {
        self.conn.poll_frame()
    }

    /// The next event, if any.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<PassiveEvent> {
        self.events.pop_front()
    }

    /// When [`PassiveSession::handle_timeout`] must be called next, if ever.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.failed.is_some() {
            return None;
        }
        // Requests are numbered in the order they are sent and `now` never goes back: the
        // first one awaiting its reply is the oldest.
        let oldest = self
            .sent_at
            .values()
            .next()
            .copied()
            .into_iter()
            .chain(self.blobs.oldest_request())
            .min()
            .map(|at| at + self.config.request_timeout);
        [self.insert_deadline, oldest].into_iter().flatten().min()
    }

    /// Received revisions not yet stored, and requests awaiting the peer's replies: what the
    /// session waits for (a diagnostic snapshot).
    pub fn diagnostics(&self) -> PassiveDiagnostics {
        PassiveDiagnostics {
            pending_inserts: self.pending_inserts.len() + self.blobs.parked(),
            awaiting_replies: self.sent.len(),
            feed: self.feed.as_ref().map(Feed::describe),
            buffered_outgoing: self.conn.buffered_outgoing(),
        }
    }

    /// How full the session's windows are.
    pub fn window_stats(&self) -> super::WindowStats {
        let mut stats = super::WindowStats {
            pending_inserts: self.pending_inserts.len() + self.blobs.parked(),
            outbox_bytes: self.conn.buffered_outgoing(),
            ..Default::default()
        };
        if let Some(feed) = &self.feed {
            feed.add_stats(&mut stats);
        }
        stats
    }

    /// The connection ended: discards the blobs being received (their revisions were not
    /// stored and the peer sends them again). Hosts call it once the session is over.
    pub fn discard_transfers<S: Store>(&mut self, db: &mut Database<S>) {
        self.blobs.abandon(db);
    }

    /// Runs one input unless the session already failed (errors are sticky), and records a
    /// failure.
    fn input(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<(), SessionError>,
    ) -> Result<(), SessionError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = f(self);
        self.fail_on(result)
    }

    fn fail_on(&mut self, result: Result<(), SessionError>) -> Result<(), SessionError> {
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    fn process_events<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let mut blobs_arrived = false;
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
                    let fetched =
                        self.blobs
                            .handle_reply(now, request_number, &reply, &mut self.conn, db);
                    match fetched {
                        Some(settled) => blobs_arrived |= self.settle(settled?)?,
                        None => self.handle_reply(request_number, reply)?,
                    }
                }
            }
        }
        // Revisions whose blobs just arrived are stored now: a compaction between the blobs'
        // commit and the revision's would remove the blobs. A full batch is stored, and so is
        // what arrived once every revision asked for is here: waiting would only add latency.
        let all_arrived = self.revs_awaited == 0 && !self.pending_inserts.is_empty();
        if blobs_arrived || all_arrived || self.pending_inserts.len() >= self.config.insert_batch {
            self.flush_inserts(now, db)?;
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
        let profile = msg.profile().unwrap_or_default().to_owned();
        let outcome = match profile.as_str() {
            names::GET_CHECKPOINT => self.get_checkpoint(number, &msg, db),
            names::SET_CHECKPOINT => self.set_checkpoint(number, &msg, db),
            names::SUB_CHANGES => self.sub_changes(number, &msg, db),
            names::CHANGES | names::PROPOSE_CHANGES if self.config.read_only => {
                Err(Refusal::read_only())
            }
            // LiteCore's "caught up" signal is an empty no-reply `changes` / `proposeChanges`.
            // Nothing is answered, so nothing is computed; above all, the one `deltas: "true"`
            // of the connection must go on a reply that is sent.
            names::CHANGES | names::PROPOSE_CHANGES if no_reply => Ok(()),
            names::CHANGES => self.answer_changes(number, &msg, db),
            names::PROPOSE_CHANGES => self.answer_proposals(number, &msg, db),
            names::REV if self.config.read_only => {
                if let Ok(rev) = RevMessage::from_message(&msg) {
                    self.events.push_back(PassiveEvent::DocumentRejected {
                        doc_id: rev.doc_id,
                        rev: rev.rev,
                        reason: "the listener is read-only".into(),
                    });
                }
                Err(Refusal::read_only())
            }
            names::REV => {
                self.revs_awaited = self.revs_awaited.saturating_sub(1);
                self.receive_rev(now, number, msg, no_reply, db)
            }
            // The pusher could not send a revision it proposed; nothing is stored for it. LiteCore
            // sends it no-reply; a request that wants a reply gets an empty one.
            names::NO_REV => {
                self.revs_awaited = self.revs_awaited.saturating_sub(1);
                match cat::NoRev::from_message(&msg) {
                    Err(e) => Err(e.into()),
                    Ok(_) if no_reply => Ok(()),
                    Ok(_) => self
                        .conn
                        .send_reply(number, &Message::new())
                        .map_err(Refusal::from_send),
                }
            }
            names::GET_ATTACHMENT | names::PROVE_ATTACHMENT => {
                return super::blobs::serve(number, &msg, no_reply, &mut self.conn, db);
            }
            other => Err(Refusal {
                domain: "BLIP",
                code: 404,
                message: format!("no handler for profile {other:?}"),
            }),
        };
        match outcome {
            Ok(()) => Ok(()),
            Err(_) if no_reply => Ok(()),
            Err(refusal) => {
                self.conn
                    .send_error(number, refusal.domain, refusal.code, &refusal.message)?;
                Ok(())
            }
        }
    }

    /// Revisions whose blobs were fetched join the insert batch; those whose blobs failed are
    /// refused. Returns whether any is ready to be stored.
    fn settle(&mut self, settled: Vec<Settled<PendingInsert>>) -> Result<bool, SessionError> {
        let mut ready = false;
        for outcome in settled {
            match outcome {
                Settled::Ready(pending) => {
                    self.pending_inserts.push(pending);
                    ready = true;
                }
                Settled::Failed(pending, failure) => {
                    if !pending.no_reply {
                        self.conn.send_error(
                            pending.request,
                            "HTTP",
                            failure.status,
                            &failure.message,
                        )?;
                    }
                    self.events.push_back(PassiveEvent::DocumentRejected {
                        doc_id: pending.revision.doc_id,
                        rev: pending.revision.history[0].clone(),
                        reason: failure.message,
                    });
                }
            }
        }
        Ok(ready)
    }

    /// Inserts every received revision in one transaction, then replies to each `rev`.
    fn flush_inserts<S: Store>(
        &mut self,
        _now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        self.insert_deadline = None;
        if self.pending_inserts.is_empty() {
            return Ok(());
        }
        // The revisions go to the database as they are; the requests stay here.
        let (revisions, requests): (Vec<RemoteRevision>, Vec<_>) =
            std::mem::take(&mut self.pending_inserts)
                .into_iter()
                .map(|p| (p.revision, (p.request, p.no_reply)))
                .unzip();
        let results = match db.insert_received_revisions(&revisions) {
            Ok(results) => results,
            Err(e) => {
                // The whole transaction failed (disk full, I/O error): refuse every revision so
                // the peer retries them later; nothing was stored.
                let refusal = Refusal::from_db(e);
                for &(request, _) in requests.iter().filter(|(_, no_reply)| !no_reply) {
                    self.conn.send_error(
                        request,
                        refusal.domain,
                        refusal.code,
                        &refusal.message,
                    )?;
                }
                return Ok(());
            }
        };
        for ((revision, (request, no_reply)), result) in
            revisions.into_iter().zip(requests).zip(results)
        {
            let doc_id = revision.doc_id;
            let rev = revision.history[0].clone();
            match result {
                Ok(InsertOutcome::AlreadyKnown | InsertOutcome::Inserted { .. }) => {
                    if !no_reply {
                        self.conn.send_reply(request, &Message::new())?;
                    }
                    self.events
                        .push_back(PassiveEvent::DocumentReceived { doc_id, rev });
                }
                Err(e) => {
                    let refusal = Refusal::from_db(e);
                    if !no_reply {
                        self.conn.send_error(
                            request,
                            refusal.domain,
                            refusal.code,
                            &refusal.message,
                        )?;
                    }
                    self.events.push_back(PassiveEvent::DocumentRejected {
                        doc_id,
                        rev,
                        reason: refusal.message,
                    });
                }
            }
        }
        Ok(())
    }

    fn handle_reply(
        &mut self,
        number: MessageNumber,
        reply: Result<Message, crate::blip::BlipError>,
    ) -> Result<(), SessionError> {
        let Some(feed) = self.feed.as_mut() else {
            return Ok(());
        };
        self.sent_at.remove(&number);
        match self.sent.remove(&number) {
            Some(Sent::Changes) => {
                let rows = feed.take_announced(number);
                // An error answer: the peer wants none of them now. They are dropped; its
                // checkpoint does not pass them, so its next replication asks again.
                let Ok(reply) = reply else { return Ok(()) };
                self.delta_out.peer_replied(&reply);
                // A malformed `maxHistory` is ignored: our own limit applies.
                if let Ok(props) = cat::AnswerProperties::from_message(&reply)
                    && props.max_history.is_some()
                {
                    self.peer_max_history = props.max_history;
                }
                let answers = cat::decode_change_answers(self.profile, &reply.body, rows.len())?;
                for (row, answer) in rows.into_iter().zip(answers) {
                    match answer {
                        ChangeAnswer::Send { known } => feed.want(row, known),
                        ChangeAnswer::Skip => feed.complete(row.seq),
                    }
                }
            }
            Some(Sent::Rev {
                seq,
                doc_id,
                rev,
                bytes,
            }) => {
                if let Some(known) = self.delta_out.replied(&doc_id, &rev, reply.as_ref().err()) {
                    // The peer could not apply our delta: send the full body.
                    deltas::resend_in_full(feed, seq, bytes, doc_id, rev, false, known);
                    return Ok(());
                }
                feed.rev_done(seq, bytes, reply.is_ok());
                if reply.is_ok() {
                    self.events
                        .push_back(PassiveEvent::DocumentSent { doc_id, rev });
                }
            }
            None => {}
        }
        let _ = feed.take_completed();
        Ok(())
    }

    /// Sends what the feed can: `changes` batches and `rev`s, within the windows.
    fn pump<S: Store>(&mut self, now: Instant, db: &mut Database<S>) -> Result<(), SessionError> {
        if let Some(remote_id) = self.delta_remote_id() {
            self.delta_out.record_bases(db, remote_id)?;
        }
        let Some(feed) = self.feed.as_mut() else {
            return Ok(());
        };
        loop {
            match feed.next_step(db, |_| Ok(None))? {
                FeedStep::Idle => return Ok(()),
                FeedStep::Announce(rows) if rows.is_empty() => {
                    // Caught up: an empty, no-reply `changes`, as LiteCore sends it.
                    let msg = cat::changes_message(self.profile, &[]);
                    let options = SendOptions {
                        urgent: true,
                        compressed: false,
                        no_reply: true,
                    };
                    self.conn.send_request(&msg, options)?;
                }
                FeedStep::Announce(rows) => {
                    let wire: Vec<ChangeRow> = rows
                        .iter()
                        .map(|r| ChangeRow {
                            seq: RemoteSeq::number(r.seq),
                            doc_id: r.doc_id.clone(),
                            rev: r.rev.clone(),
                            deleted: r.deleted,
                            body_size: r.body_size,
                        })
                        .collect();
                    let msg = cat::changes_message(self.profile, &wire);
                    let options = SendOptions {
                        urgent: true,
                        compressed: self.profile.compresses(),
                        no_reply: false,
                    };
                    let number = self.conn.send_request(&msg, options)?;
                    feed.announced(number, rows);
                    self.sent.insert(number, Sent::Changes);
                    self.sent_at.insert(number, now);
                }
                FeedStep::Rev(RevToSend {
                    message: mut rev,
                    seq,
                    known,
                    ..
                }) => {
                    // The peer's `maxHistory` caps the history, except that it still reaches a
                    // revision the peer has (see `RevTree::history`).
                    if let Some(max) = self.peer_max_history
                        && !rev.history.last().is_some_and(|r| known.contains(r))
                    {
                        rev.history.truncate(max);
                    }
                    self.delta_out.prepare(self.profile, db, &mut rev, &known)?;
                    let bytes = rev.body.len();
                    let options = SendOptions {
                        urgent: false,
                        compressed: self.profile.compresses(),
                        no_reply: false,
                    };
                    let number = self.conn.send_request(&rev.take_message(), options)?;
                    feed.rev_sent(bytes);
                    self.sent_at.insert(number, now);
                    self.sent.insert(
                        number,
                        Sent::Rev {
                            seq,
                            doc_id: rev.doc_id,
                            rev: rev.rev,
                            bytes,
                        },
                    );
                }
                FeedStep::NoRev(norev) => {
                    let options = SendOptions {
                        urgent: false,
                        compressed: false,
                        no_reply: true,
                    };
                    self.conn.send_request(&norev.to_message(), options)?;
                }
            }
            let _ = feed.take_completed();
        }
    }
}

/// What a passive session waits for (see [`PassiveSession::diagnostics`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassiveDiagnostics {
    /// Received revisions not yet stored.
    pub pending_inserts: usize,
    /// Our requests awaiting the peer's replies.
    pub awaiting_replies: usize,
    /// The state of the changes feed served to the peer, if it subscribed.
    pub feed: Option<String>,
    /// Bytes queued for sending.
    pub buffered_outgoing: usize,
}
