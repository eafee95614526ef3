//! The pull half of an active session: subscribe to the peer's changes, answer `changes` with
//! what we lack, store received `rev`s in batched transactions, and track which of the peer's
//! sequences are done.

use std::collections::VecDeque;
use std::time::Instant;

use crate::blip::{Connection, Message, MessageNumber, SendError, SendOptions};
use crate::db::{Database, DbError, InsertOutcome, RemoteRevision};
use crate::rev::RevId;
use crate::store::Store;

use super::session::{ActiveSession, Sent};
use super::{ActiveEvent, Direction};
use crate::repl::blobs::{BlobFetcher, Settled};
use crate::repl::catalogue::{
    self as cat, ChangeAnswer, CheckpointBody, NoRev, RemoteSeq, RevMessage, SubChanges,
};
use crate::repl::checkpoint::PullProgress;
use crate::repl::deltas::DeltaReceiver;
use crate::repl::{FilterInput, SessionError};

/// A received revision waiting to be stored with others in one transaction.
#[derive(Debug)]
pub(super) struct PendingInsert {
    request: MessageNumber,
    revision: RemoteRevision,
    seq: Option<RemoteSeq>,
}

/// Pull state.
#[derive(Debug)]
pub(super) struct Pull {
    pub(super) progress: PullProgress,
    /// The peer said it is caught up (an empty `changes`).
    caught_up: bool,
    pending: Vec<PendingInsert>,
    insert_deadline: Option<Instant>,
    /// Revisions our answers asked for that have not arrived (as `rev` or `norev`) yet. When
    /// none is awaited, received revisions are stored at once instead of waiting
    /// `insert_delay` for company that is not coming.
    awaited: usize,
    /// `changes` requests not answered yet because too many pulled changes are unfinished.
    held: VecDeque<(MessageNumber, Vec<cat::ChangeRow>)>,
    completed: u64,
    total: u64,
    /// Delta sync of pulled revisions.
    deltas: DeltaReceiver,
    /// Blobs fetched for pulled revisions, and the revisions waiting for them.
    pub(super) blobs: BlobFetcher<PendingInsert>,
}

impl Pull {
    fn new(start: &CheckpointBody, enable_delta_sync: bool, profile: crate::repl::Profile) -> Self {
        Pull {
            progress: PullProgress::new(start.remote.clone()),
            caught_up: false,
            pending: Vec::new(),
            insert_deadline: None,
            awaited: 0,
            held: VecDeque::new(),
            completed: 0,
            total: 0,
            deltas: DeltaReceiver::new(enable_delta_sync),
            blobs: BlobFetcher::new(profile),
        }
    }

    pub(super) fn insert_deadline(&self) -> Option<Instant> {
        self.insert_deadline
    }

    pub(super) fn is_caught_up(&self) -> bool {
        self.caught_up
            && self.progress.unfinished() == 0
            && self.pending.is_empty()
            && self.held.is_empty()
            && self.blobs.parked() == 0
    }

    pub(super) fn counts(&self) -> (u64, u64) {
        (self.completed, self.total)
    }

    pub(super) fn add_stats(&self, stats: &mut crate::repl::WindowStats) {
        stats.pending_inserts += self.pending.len() + self.blobs.parked();
        stats.pull_unfinished += self.progress.unfinished();
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "caught up {}, unfinished {}, pending inserts {}, held changes {}, checkpoint {:?}",
            self.caught_up,
            self.progress.unfinished(),
            self.pending.len(),
            self.held.len(),
            self.progress.checkpoint()
        )
    }

    fn finish(&mut self, seq: Option<&RemoteSeq>) {
        if let Some(seq) = seq {
            self.progress.complete(seq);
        }
        self.completed += 1;
    }

    /// Refuses a pulled `rev`: the peer gets the error, the document is reported failed, and
    /// its sequence counts as done unless the failure is transient (the peer sends it again).
    fn refuse(
        &mut self,
        conn: &mut Connection,
        events: &mut VecDeque<ActiveEvent>,
        refused: Refused,
    ) -> Result<(), SendError> {
        conn.send_error(refused.request, "HTTP", refused.status, &refused.error)?;
        if !refused.transient {
            self.finish(refused.seq.as_ref());
        }
        events.push_back(ActiveEvent::DocumentFailed {
            doc_id: refused.doc_id,
            rev: refused.rev,
            direction: Direction::Pull,
            error: refused.error,
            transient: refused.transient,
        });
        Ok(())
    }
}

/// A pulled `rev` this side refuses (see `Pull::refuse`).
struct Refused {
    request: MessageNumber,
    seq: Option<RemoteSeq>,
    doc_id: String,
    rev: crate::rev::RevId,
    status: i64,
    error: String,
    transient: bool,
}

impl ActiveSession {
    /// Subscribes to the peer's changes from the checkpoint.
    pub(super) fn start_pull<S: Store>(
        &mut self,
        now: Instant,
        start: &CheckpointBody,
        db: &Database<S>,
    ) -> Result<(), SessionError> {
        let pull = Pull::new(start, self.config.enable_delta_sync, self.profile);
        let request = SubChanges {
            since: start.remote.clone(),
            continuous: self.config.continuous,
            batch: Some(self.config.changes_batch),
            // Tombstones of documents we never had are useless to an empty database.
            active_only: start.remote.is_none() && db.document_count()? == 0,
            doc_ids: self.config.doc_ids.clone(),
        };
        self.pull = Some(pull);
        let msg = request.to_message(self.profile);
        self.request(now, &msg, SendOptions::default(), Sent::SubChanges)?;
        Ok(())
    }

    /// The peer announced changes.
    pub(super) fn pull_changes<S: Store>(
        &mut self,
        _now: Instant,
        number: MessageNumber,
        msg: &Message,
        no_reply: bool,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let rows = cat::decode_changes(self.profile, &msg.body)?;
        let Some(pull) = self.pull.as_mut() else {
            return Ok(());
        };
        if rows.is_empty() {
            pull.caught_up = true;
            if !no_reply {
                self.conn.send_reply(number, &Message::new())?;
            }
            return Ok(());
        }
        if no_reply {
            return Ok(()); // announcements we cannot answer carry nothing we can use
        }
        if !pull.held.is_empty() || pull.progress.unfinished() >= self.config.max_pull_pending {
            pull.held.push_back((number, rows));
            return Ok(());
        }
        self.answer_changes(number, rows, db)
    }

    fn answer_changes<S: Store>(
        &mut self,
        number: MessageNumber,
        rows: Vec<cat::ChangeRow>,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let Some(pull) = self.pull.as_mut() else {
            return Ok(());
        };
        let mut answers = Vec::with_capacity(rows.len());
        pull.total += rows.len() as u64;
        let revs: Vec<(&str, &RevId)> = rows.iter().map(|r| (r.doc_id.as_str(), &r.rev)).collect();
        let known = db.known_ancestors_of(&revs, self.config.max_history)?;
        for (row, known) in rows.into_iter().zip(known) {
            match known {
                None => {
                    pull.progress.announced(row.seq, true);
                    pull.completed += 1;
                    answers.push(ChangeAnswer::Skip);
                    // We have it already; but now we know it is the peer's current revision,
                    // which a push must build on — and if ours differs (the peer still holds
                    // a branch resolved here), push ours again.
                    if let Some(push) = self.push.as_mut() {
                        push.requeue_if_behind(db, &row.doc_id, &row.rev)?;
                        push.note_peer_has(row.doc_id, row.rev);
                    }
                }
                Some(known) => {
                    pull.progress.announced(row.seq, false);
                    pull.awaited += 1;
                    answers.push(ChangeAnswer::Send { known });
                }
            }
        }
        let reply = Message::new()
            .with_property("maxHistory", self.config.max_history.to_string())
            .with_property("blobs", "true")
            .with_body(cat::encode_change_answers(self.profile, &answers));
        let reply = pull.deltas.advertise(reply);
        self.conn.send_reply(number, &reply)?;
        Ok(())
    }

    /// The peer sent a revision.
    pub(super) fn pull_rev<S: Store>(
        &mut self,
        now: Instant,
        number: MessageNumber,
        msg: Message,
        db: &Database<S>,
    ) -> Result<(), SessionError> {
        let mut rev = match RevMessage::from_owned(msg) {
            Ok(rev) => rev,
            Err(e) => {
                self.conn.send_error(number, "HTTP", 400, &e.to_string())?;
                return Ok(());
            }
        };
        let Some(pull) = self.pull.as_mut() else {
            return Ok(());
        };
        pull.awaited = pull.awaited.saturating_sub(1);
        let pending = pull.pending.iter().map(|p| &p.revision);
        let (body, has_type_key) =
            match pull.deltas.stored_body(self.profile, db, &mut rev, pending) {
                Ok(body) => body,
                Err(error) => {
                    // A delta we cannot apply is sent again in full (same sequence): not finished.
                    let refused = Refused {
                        request: number,
                        seq: rev.sequence,
                        doc_id: rev.doc_id,
                        rev: rev.rev,
                        status: error.status(),
                        error: error.to_string(),
                        transient: error.is_retried(),
                    };
                    pull.refuse(&mut self.conn, &mut self.events, refused)?;
                    return Ok(());
                }
            };
        if let Some(filter) = &self.config.pull_filter {
            let value = crate::value::Value::from_cbor(&body).unwrap_or_default();
            let input = FilterInput {
                doc_id: &rev.doc_id,
                rev: &rev.rev,
                body: &value,
                deleted: rev.deleted,
            };
            let allowed = filter.allows(&input);
            if allowed != Some(true) {
                // Filtered out: acknowledged, not stored, and handled for the checkpoint.
                self.conn.send_reply(number, &Message::new())?;
                pull.finish(rev.sequence.as_ref());
                if allowed.is_none() {
                    self.events.push_back(ActiveEvent::DocumentFailed {
                        doc_id: rev.doc_id,
                        rev: rev.rev,
                        direction: Direction::Pull,
                        error: "the pull filter panicked".into(),
                        transient: false,
                    });
                }
                return Ok(());
            }
        }
        let missing = match pull.blobs.missing(db, &body, has_type_key) {
            Ok(missing) => missing,
            Err(failure) => {
                let refused = Refused {
                    request: number,
                    seq: rev.sequence,
                    doc_id: rev.doc_id,
                    rev: rev.rev,
                    status: failure.status,
                    transient: failure.is_transient(),
                    error: failure.message,
                };
                pull.refuse(&mut self.conn, &mut self.events, refused)?;
                return Ok(());
            }
        };
        let mut history = Vec::with_capacity(rev.history.len() + 1);
        history.push(rev.rev);
        history.extend(rev.history);
        let doc_id = rev.doc_id;
        let pending = PendingInsert {
            request: number,
            revision: RemoteRevision {
                doc_id: doc_id.clone(),
                history,
                deleted: rev.deleted,
                body,
                allow_conflict: true,
                remote: Some(self.config.remote_id),
            },
            seq: rev.sequence,
        };
        if !missing.is_empty() {
            // Stored (and answered) once its blobs are here.
            pull.blobs
                .park(now, pending, &doc_id, missing, &mut self.conn)?;
            return Ok(());
        }
        pull.pending.push(pending);
        if pull.insert_deadline.is_none() {
            pull.insert_deadline = Some(now + self.config.insert_delay);
        }
        Ok(())
    }

    /// Routes the reply to one of the pull's `getAttachment` requests; `false` if `number` is
    /// not one. Revisions whose blobs all arrived are stored at once (a compaction between the
    /// blobs' commit and the revision's would remove the blobs); those whose blobs failed are
    /// refused and reported.
    pub(super) fn pull_blob_reply<S: Store>(
        &mut self,
        now: Instant,
        number: MessageNumber,
        reply: &Result<Message, crate::blip::BlipError>,
        db: &mut Database<S>,
    ) -> Result<bool, SessionError> {
        let Some(pull) = self.pull.as_mut() else {
            return Ok(false);
        };
        let Some(settled) = pull
            .blobs
            .handle_reply(now, number, reply, &mut self.conn, db)
        else {
            return Ok(false);
        };
        let mut ready = false;
        for outcome in settled? {
            match outcome {
                Settled::Ready(pending) => {
                    pull.pending.push(pending);
                    ready = true;
                }
                Settled::Failed(pending, failure) => {
                    let refused = Refused {
                        request: pending.request,
                        seq: pending.seq,
                        doc_id: pending.revision.doc_id,
                        rev: pending.revision.history[0].clone(),
                        status: failure.status,
                        transient: failure.is_transient(),
                        error: failure.message,
                    };
                    pull.refuse(&mut self.conn, &mut self.events, refused)?;
                }
            }
        }
        if ready {
            self.flush_pulled(now, db)?;
        }
        Ok(true)
    }

    /// The peer cannot send a revision it announced.
    pub(super) fn pull_norev(&mut self, msg: &Message) -> Result<(), SessionError> {
        let norev = NoRev::from_message(msg)?;
        let Some(pull) = self.pull.as_mut() else {
            return Ok(());
        };
        pull.awaited = pull.awaited.saturating_sub(1);
        pull.finish(norev.sequence.as_ref());
        self.events.push_back(ActiveEvent::DocumentFailed {
            doc_id: norev.doc_id,
            rev: norev.rev,
            direction: Direction::Pull,
            error: norev
                .reason
                .unwrap_or_else(|| "the peer no longer has this revision".into()),
            transient: false,
        });
        Ok(())
    }

    /// Stores every received revision in one transaction, then replies to each `rev`.
    pub(super) fn flush_pulled<S: Store>(
        &mut self,
        _now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let Some(pull) = self.pull.as_mut() else {
            return Ok(());
        };
        pull.insert_deadline = None;
        if pull.pending.is_empty() {
            return Ok(());
        }
        // The revisions go to the database as they are; requests and sequences stay here.
        let (revisions, sent): (Vec<RemoteRevision>, Vec<_>) = std::mem::take(&mut pull.pending)
            .into_iter()
            .map(|p| (p.revision, (p.request, p.seq)))
            .unzip();
        let results = match db.insert_received_revisions(&revisions) {
            Ok(results) => results,
            Err(e) => return Err(SessionError::Database(e)),
        };
        let mut conflicts = Vec::new();
        for ((revision, (request, seq)), result) in revisions.into_iter().zip(sent).zip(results) {
            let doc_id = revision.doc_id;
            let rev = revision.history[0].clone();
            match result {
                Ok(outcome) => {
                    self.conn.send_reply(request, &Message::new())?;
                    pull.finish(seq.as_ref());
                    if let Some(push) = self.push.as_mut() {
                        // The stored record of what the peer has is now newer than any noted
                        // in this session.
                        push.forget_acknowledged(&doc_id);
                    }
                    let conflicted = match outcome {
                        InsertOutcome::Inserted {
                            conflict_with: Some(local),
                            ..
                        } => {
                            conflicts.push((doc_id.clone(), local, rev.clone()));
                            true
                        }
                        InsertOutcome::Inserted { conflicted, .. } => conflicted,
                        _ => false,
                    };
                    self.events.push_back(ActiveEvent::DocumentReplicated {
                        doc_id,
                        rev,
                        direction: Direction::Pull,
                        deleted: revision.deleted,
                        conflicted,
                    });
                }
                Err(e) => {
                    let transient = matches!(&e, DbError::Store(s) if s.is_transient());
                    self.conn.send_error(
                        request,
                        "HTTP",
                        if transient { 503 } else { 400 },
                        &e.to_string(),
                    )?;
                    if !transient {
                        pull.finish(seq.as_ref());
                    }
                    self.events.push_back(ActiveEvent::DocumentFailed {
                        doc_id,
                        rev,
                        direction: Direction::Pull,
                        error: e.to_string(),
                        transient,
                    });
                }
            }
        }
        self.resolve_conflicts(db, conflicts)
    }

    /// Stores full batches and answers held `changes` once there is room.
    pub(super) fn pull_pump<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let Some(pull) = self.pull.as_ref() else {
            return Ok(());
        };
        // A full batch is stored, and so is what arrived once every revision asked for is
        // here: waiting for more would only add latency.
        let all_arrived = pull.awaited == 0 && !pull.pending.is_empty();
        if all_arrived || pull.pending.len() >= self.config.insert_batch {
            self.flush_pulled(now, db)?;
        }
        loop {
            let Some(pull) = self.pull.as_mut() else {
                return Ok(());
            };
            if pull.progress.unfinished() >= self.config.max_pull_pending {
                return Ok(());
            }
            let Some((number, rows)) = pull.held.pop_front() else {
                return Ok(());
            };
            self.answer_changes(number, rows, db)?;
        }
    }
}
