//! The push half of an active session: announce local changes with `proposeChanges`, send the
//! revisions the peer wants, and track which local sequences are done.

use std::collections::BTreeMap;
use std::time::Instant;

use crate::blip::{BlipError, Message, MessageNumber, SendOptions};
use crate::db::{Database, DbError};
use crate::rev::{RevId, RevTree};
use crate::store::{ChangeEntry, Sequence, Store};

use super::session::{ActiveSession, Sent, SentRev};
use super::{ActiveConfig, ActiveEvent, Direction};
use crate::repl::FilterInput;
use crate::repl::SessionError;

/// Acknowledged revisions recorded as remote ancestors in one write during a bulk push.
const RECORD_IN_BULK: usize = 1_000;
/// The same once the feed has reached its end: smaller writes that overlap the last
/// acknowledgements, so that little is left to record when the session finishes (a one-shot
/// push saves its checkpoint only after recording). Recording every 100 during the whole
/// push instead made a 100,000-document push 18% slower.
const RECORD_AT_END: usize = 100;
use crate::repl::catalogue::{self as cat, CheckpointBody, ProposalAnswer, ProposedRow, names};
use crate::repl::checkpoint::PushProgress;
use crate::repl::deltas::{self, DeltaSender};
use crate::repl::feed::{Feed, FeedLimits, FeedRow, FeedStep, RevToSend};

/// Push state.
/// A revision the peer has, with the document's sequence and tree as the feed read them, if it
/// did.
pub(super) type Acknowledged = (RevId, Option<(Sequence, Vec<u8>)>);

#[derive(Debug)]
pub(super) struct Push {
    feed: Feed,
    pub(super) progress: PushProgress,
    completed: u64,
    total: u64,
    /// Revisions the peer now has, to record as remote ancestors (flushed in batches; looked up
    /// here first meanwhile), each with the document's tree as the feed read it, if known.
    pub(super) acknowledged: BTreeMap<String, Acknowledged>,
    /// Rows waiting for the peer to store the tombstone that closed the branch it has (see
    /// [`Push::with_prelude`]), by document, with that tombstone.
    deferred: BTreeMap<String, (RevId, FeedRow)>,
    /// `maxHistory` from the peer's replies.
    peer_max_history: Option<usize>,
    /// The number of the peer in this database's remote ancestors.
    remote_id: u32,
    continuous: bool,
    /// Delta sync of pushed revisions.
    deltas: DeltaSender,
}

impl Push {
    pub(super) fn new(config: &ActiveConfig, start: &CheckpointBody) -> Self {
        let since = start.local.unwrap_or(0);
        let limits = FeedLimits {
            batch: config.changes_batch.max(1),
            max_announcements_in_flight: config.max_changes_in_flight.max(1),
            max_revs_in_flight: config.max_revs_in_flight.max(1),
            max_rev_bytes_in_flight: config.max_rev_bytes_in_flight.max(1),
            max_history: config.max_history,
        };
        let mut feed = Feed::new(
            since,
            config.continuous,
            None,
            config.doc_ids.clone(),
            limits,
        );
        if config.reset_checkpoint {
            feed.announce_known();
        }
        Push {
            feed,
            progress: PushProgress::new(since),
            completed: 0,
            total: 0,
            acknowledged: BTreeMap::new(),
            deferred: BTreeMap::new(),
            peer_max_history: None,
            remote_id: config.remote_id,
            continuous: config.continuous,
            deltas: DeltaSender::new(config.enable_delta_sync),
        }
    }

    pub(super) fn is_caught_up(&self) -> bool {
        self.feed.is_caught_up()
    }

    pub(super) fn counts(&self) -> (u64, u64) {
        (self.completed, self.total)
    }

    pub(super) fn add_stats(&self, stats: &mut crate::repl::WindowStats) {
        self.feed.add_stats(stats);
    }

    pub(super) fn describe(&self) -> String {
        format!(
            "{}; checkpoint local {}",
            self.feed.describe(),
            self.progress.local()
        )
    }

    /// Documents with changes not yet pushed: pending ones, then those not read yet.
    pub(super) fn pending_document_ids<S: Store>(
        &self,
        db: &Database<S>,
        limit: usize,
    ) -> Result<Vec<String>, DbError> {
        let mut out = Vec::new();
        let mut since = self.progress.local();
        let read_up_to = self.feed.since();
        while out.len() < limit {
            let page = db.changes_since(since, 500)?;
            let Some(last) = page.last() else { break };
            since = last.sequence;
            for entry in page {
                if entry.sequence > read_up_to || self.progress.is_pending(entry.sequence) {
                    out.push(entry.doc_id);
                    if out.len() == limit {
                        break;
                    }
                }
            }
        }
        Ok(out)
    }

    /// If the peer has a revision whose branch a conflict resolution closed here with a
    /// tombstone, the current revision cannot be stored there until that tombstone is: the
    /// row becomes the tombstone's (a *prelude*), and the real row waits in `deferred` until
    /// the peer has it. Peers that resolved a conflict the same way thus converge.
    fn with_prelude<S: Store>(
        &mut self,
        db: &Database<S>,
        row: FeedRow,
    ) -> Result<FeedRow, DbError> {
        if row.closing {
            return self.closing_on_peer_current(db, row);
        }
        let Some(server) = row.server_rev.clone() else {
            return Ok(row);
        };
        if server == row.rev || db.is_ancestor(&row.doc_id, &server, &row.rev)? {
            return Ok(row);
        }
        let Some(tombstone) = db.closing_tombstone(&row.doc_id, &server)? else {
            return Ok(row);
        };
        let prelude = FeedRow {
            rev: tombstone.clone(),
            deleted: true,
            body_size: 0,
            ..row.clone()
        };
        self.deferred.insert(row.doc_id.clone(), (tombstone, row));
        Ok(prelude)
    }

    /// The peer's current revision of `doc_id` is `theirs`, which we have; if our current one
    /// differs, announce ours again (and its closing tombstones) on top of it.
    pub(super) fn requeue_if_behind<S: Store>(
        &mut self,
        db: &Database<S>,
        doc_id: &str,
        theirs: &RevId,
    ) -> Result<(), DbError> {
        let Some(record) = db.store().document(doc_id)? else {
            return Ok(());
        };
        if record.current_rev == *theirs {
            return Ok(());
        }
        let base = FeedRow {
            seq: record.sequence,
            doc_id: doc_id.to_owned(),
            rev: record.current_rev.clone(),
            deleted: record.flags.deleted,
            body_size: record.body_size,
            server_rev: Some(theirs.clone()),
            closing: false,
            tree: None,
            body: None,
        };
        for (rev, parent) in db.closing_tombstones(doc_id)? {
            self.feed.retry(FeedRow {
                rev,
                deleted: true,
                body_size: 0,
                server_rev: Some(parent),
                closing: true,
                ..base.clone()
            });
        }
        self.feed.retry(base);
        Ok(())
    }

    /// Whether the push filter lets `row` replicate (closing tombstones always do). A filter
    /// that panics stops the document, reported as failed.
    fn passes_filter<S: Store>(
        &self,
        db: &Database<S>,
        row: &FeedRow,
        config: &super::ActiveConfig,
        events: &mut std::collections::VecDeque<ActiveEvent>,
    ) -> Result<bool, DbError> {
        let Some(filter) = &config.push_filter else {
            return Ok(true);
        };
        if row.closing {
            return Ok(true);
        }
        let Some(doc) = db.get_revision(&row.doc_id, &row.rev)? else {
            return Ok(true);
        };
        let input = FilterInput {
            doc_id: &row.doc_id,
            rev: &row.rev,
            body: &doc.body,
            deleted: doc.deleted,
        };
        match filter.allows(&input) {
            Some(allowed) => Ok(allowed),
            None => {
                events.push_back(ActiveEvent::DocumentFailed {
                    doc_id: row.doc_id.clone(),
                    rev: row.rev.clone(),
                    direction: Direction::Push,
                    error: "the push filter panicked".into(),
                    transient: false,
                });
                Ok(false)
            }
        }
    }

    /// Notes that the peer's current revision of `doc_id` is `theirs`.
    pub(super) fn note_peer_has(&mut self, doc_id: String, rev: RevId) {
        self.acknowledged.insert(doc_id, (rev, None));
    }

    /// Drops what this session noted the peer has for `doc_id` (a pull stored newer knowledge).
    pub(super) fn forget_acknowledged(&mut self, doc_id: &str) {
        self.acknowledged.remove(doc_id);
    }

    /// A closing tombstone is proposed on top of its parent; but when the peer's current
    /// revision (as last seen) is an older ancestor of the tombstone — the peer never got the
    /// branch's later revisions — propose it on top of that instead, so the peer accepts it
    /// (with its full history) and closes the branch too.
    fn closing_on_peer_current<S: Store>(
        &self,
        db: &Database<S>,
        row: FeedRow,
    ) -> Result<FeedRow, DbError> {
        let peer_has = match self.acknowledged.get(&row.doc_id) {
            Some((rev, _)) => Some(rev.clone()),
            None => db.remote_ancestor(&row.doc_id, self.remote_id)?,
        };
        match peer_has {
            Some(theirs)
                if row.server_rev.as_ref() != Some(&theirs)
                    && db.is_ancestor(&row.doc_id, &theirs, &row.rev)? =>
            {
                Ok(FeedRow {
                    server_rev: Some(theirs),
                    ..row
                })
            }
            _ => Ok(row),
        }
    }

    /// Whether `rev` of `doc_id` is a prelude tombstone.
    fn is_prelude(&self, doc_id: &str, rev: &RevId) -> bool {
        self.deferred.get(doc_id).is_some_and(|(t, _)| t == rev)
    }

    /// The peer has the prelude of `doc_id`: announce the deferred row on top of it.
    fn release_deferred(&mut self, doc_id: &str) {
        if let Some((tombstone, row)) = self.deferred.remove(doc_id) {
            self.acknowledged
                .insert(doc_id.to_owned(), (tombstone.clone(), None));
            self.feed.retry(FeedRow {
                server_rev: Some(tombstone),
                ..row
            });
        }
    }

    fn take_completed(&mut self) {
        for seq in self.feed.take_completed() {
            if self.progress.is_pending(seq) {
                self.completed += 1;
            }
            self.progress.complete(seq);
        }
    }
}

impl ActiveSession {
    /// Sends what the push feed can send now.
    pub(super) fn push_pump<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let ActiveSession {
            push,
            conn,
            sent,
            profile,
            config,
            events,
            ..
        } = self;
        let Some(push) = push.as_mut() else {
            return Ok(());
        };
        let profile = *profile;
        let remote_id = config.remote_id;
        loop {
            // What the peer has: acknowledged in this session (not yet recorded), else stored.
            let acknowledged = &push.acknowledged;
            let step = push.feed.next_step(db, |entry: &ChangeEntry| {
                match acknowledged.get(&entry.doc_id) {
                    Some((rev, _)) => Ok(Some(rev.clone())),
                    // The tree the feed read with the entry: no second read of the document.
                    None => Ok(RevTree::decode(&entry.tree)?
                        .remote_ancestor(remote_id)
                        .cloned()),
                }
            })?;
            let step_since = push.feed.since();
            match step {
                FeedStep::Idle => {
                    push.progress.read(step_since, []);
                    push.take_completed();
                    break;
                }
                FeedStep::Announce(rows) if rows.is_empty() => {
                    push.progress.read(step_since, []);
                    push.take_completed();
                    if push.continuous {
                        // Caught up, as LiteCore signals it: an empty no-reply proposeChanges.
                        let msg = Message::request(names::PROPOSE_CHANGES)
                            .with_property("conflictIncludesRev", "true")
                            .with_body(cat::encode_proposed(profile, &[]));
                        let options = SendOptions {
                            urgent: true,
                            compressed: false,
                            no_reply: true,
                        };
                        conn.send_request(&msg, options)?;
                    }
                }
                FeedStep::Announce(rows) => {
                    let mut kept = Vec::with_capacity(rows.len());
                    for row in rows {
                        if push.passes_filter(db, &row, config, events)? {
                            kept.push(push.with_prelude(db, row)?);
                        } else {
                            push.feed.complete(row.seq);
                        }
                    }
                    let rows = kept;
                    if rows.is_empty() {
                        push.progress.read(step_since, []);
                        push.take_completed();
                        continue;
                    }
                    push.progress.read(step_since, rows.iter().map(|r| r.seq));
                    push.take_completed();
                    push.total += rows.len() as u64;
                    let proposed: Vec<ProposedRow> = rows
                        .iter()
                        .map(|r| ProposedRow {
                            doc_id: r.doc_id.clone(),
                            rev: r.rev.clone(),
                            server_rev: r.server_rev.clone(),
                            body_size: r.body_size,
                        })
                        .collect();
                    let msg = Message::request(names::PROPOSE_CHANGES)
                        .with_property("conflictIncludesRev", "true")
                        .with_body(cat::encode_proposed(profile, &proposed));
                    let options = SendOptions {
                        urgent: true,
                        compressed: profile.compresses(),
                        no_reply: false,
                    };
                    let number = conn.send_request(&msg, options)?;
                    sent.insert(number, (Sent::Propose, now));
                    push.feed.announced(number, rows);
                }
                FeedStep::Rev(RevToSend {
                    message: mut rev,
                    seq,
                    closing,
                    known,
                    tree,
                }) => {
                    push.take_completed();
                    rev.no_conflicts = true;
                    // The peer's `maxHistory` caps the history, except that it still reaches a
                    // revision the peer has (see `RevTree::history`).
                    if let Some(max) = push.peer_max_history
                        && !rev.history.last().is_some_and(|r| known.contains(r))
                    {
                        rev.history.truncate(max);
                    }
                    push.deltas.prepare(profile, db, &mut rev, &known)?;
                    let bytes = rev.body.len();
                    let options = SendOptions {
                        urgent: false,
                        compressed: profile.compresses(),
                        no_reply: false,
                    };
                    let number = conn.send_request(&rev.take_message(), options)?;
                    push.feed.rev_sent(bytes);
                    let what = Sent::Rev(SentRev {
                        seq,
                        doc_id: rev.doc_id,
                        rev: rev.rev,
                        deleted: rev.deleted,
                        bytes,
                        closing,
                        tree,
                    });
                    sent.insert(number, (what, now));
                }
                FeedStep::NoRev(_) => {
                    // The revision was superseded since it was announced: its newer revision
                    // has a later sequence and will be pushed in turn.
                    push.take_completed();
                }
            }
        }
        let record_at = if push.feed.reached_end() {
            RECORD_AT_END
        } else {
            RECORD_IN_BULK
        };
        if push.acknowledged.len() >= record_at {
            self.remember_remote_revisions(db)?;
        }
        Ok(())
    }

    /// The peer answered a `proposeChanges`.
    pub(super) fn push_answered<S: Store>(
        &mut self,
        now: Instant,
        number: MessageNumber,
        reply: Result<Message, BlipError>,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let Some(push) = self.push.as_mut() else {
            return Ok(());
        };
        let rows = push.feed.take_announced(number);
        let reply = match reply {
            Ok(reply) => reply,
            Err(error) => {
                return Err(SessionError::Refused {
                    request: names::PROPOSE_CHANGES,
                    error,
                });
            }
        };
        push.deltas.peer_replied(&reply);
        if let Some(max) = reply.property("maxHistory").and_then(|m| m.parse().ok()) {
            push.peer_max_history = Some(max);
        }
        let answers = cat::decode_proposal_answers(self.profile, &reply.body, rows.len())?;
        let pulls = self.config.direction.pulls();
        for (row, answer) in rows.into_iter().zip(answers) {
            if row.closing {
                // A closing tombstone: sent if the peer holds its branch, else not needed.
                match answer {
                    // The full history: a peer that lacks the document entirely accepts it too,
                    // and must not get a branch cut at a parent it does not have.
                    ProposalAnswer::Send => push.feed.want(row, Vec::new()),
                    // The peer's current revision is an older ancestor of the tombstone: it
                    // holds the branch without its later revisions; close it on top of that.
                    ProposalAnswer::Conflict {
                        current: Some(theirs),
                    } if row.server_rev.as_ref() != Some(&theirs)
                        && db.parent_of(&row.doc_id, &row.rev)? == row.server_rev
                        && db.is_ancestor(&row.doc_id, &theirs, &row.rev)? =>
                    {
                        // Once only: the retry is proposed on top of something other than the
                        // tombstone's parent, so it is never retried again.
                        push.feed.retry(FeedRow {
                            server_rev: Some(theirs),
                            ..row
                        });
                    }
                    _ => push.feed.complete(row.seq),
                }
                continue;
            }
            match answer {
                ProposalAnswer::Send => {
                    let known = row.server_rev.iter().cloned().collect();
                    push.feed.want(row, known);
                }
                ProposalAnswer::AlreadyHave if push.is_prelude(&row.doc_id, &row.rev) => {
                    push.release_deferred(&row.doc_id);
                }
                ProposalAnswer::AlreadyHave => {
                    let seen = row.tree.map(|tree| (row.seq, tree));
                    push.acknowledged.insert(row.doc_id, (row.rev, seen));
                    push.feed.complete(row.seq);
                }
                ProposalAnswer::Conflict {
                    current: Some(theirs),
                } if row.server_rev.as_ref() != Some(&theirs)
                    && db.can_build_on(&row.doc_id, &theirs, &row.rev)? =>
                {
                    // Our record of what the peer has was stale. Its current revision is an
                    // ancestor of ours, a tombstone we have, or a branch a resolution closed
                    // here: propose again on top of it (with the closing tombstone first, see
                    // `with_prelude`).
                    push.acknowledged
                        .insert(row.doc_id.clone(), (theirs.clone(), None));
                    push.feed.retry(FeedRow {
                        server_rev: Some(theirs),
                        ..row
                    });
                }
                ProposalAnswer::Conflict { current } => {
                    if push.is_prelude(&row.doc_id, &row.rev) {
                        push.deferred.remove(&row.doc_id);
                    }
                    // The peer has a revision we lack. With a pull running it will arrive, be
                    // resolved here and the resolution pushed under a new sequence.
                    let error = match current {
                        Some(rev) => format!("conflict: the peer's current revision is {rev}"),
                        None => "conflict with the peer's current revision".to_owned(),
                    };
                    self.events.push_back(ActiveEvent::DocumentFailed {
                        doc_id: row.doc_id,
                        rev: row.rev,
                        direction: Direction::Push,
                        error,
                        transient: pulls,
                    });
                    push.feed.complete(row.seq);
                }
                ProposalAnswer::Status(code) => {
                    let transient = code >= 500;
                    self.events.push_back(ActiveEvent::DocumentFailed {
                        doc_id: row.doc_id,
                        rev: row.rev,
                        direction: Direction::Push,
                        error: format!("the peer refused the change with status {code}"),
                        transient,
                    });
                    if !transient {
                        push.feed.complete(row.seq);
                    }
                }
            }
        }
        push.take_completed();
        self.pump(now, db)
    }

    /// The peer answered a pushed `rev`.
    pub(super) fn push_rev_done(&mut self, sent: SentRev, reply: Result<Message, BlipError>) {
        let SentRev {
            seq,
            doc_id,
            rev,
            deleted,
            bytes,
            tree,
            ..
        } = sent;
        let Some(push) = self.push.as_mut() else {
            return;
        };
        if let Some(known) = push.deltas.replied(&doc_id, &rev, reply.as_ref().err()) {
            // The peer could not apply our delta: send the full body.
            deltas::resend_in_full(&mut push.feed, seq, bytes, doc_id, rev, deleted, known);
            return;
        }
        match reply {
            Ok(_) if push.is_prelude(&doc_id, &rev) => {
                // Not the change itself: its sequence stays pending until the deferred row
                // is done.
                push.feed.rev_done(seq, bytes, false);
                push.release_deferred(&doc_id);
            }
            Ok(_) => {
                push.feed.rev_done(seq, bytes, true);
                push.acknowledged
                    .insert(doc_id.clone(), (rev.clone(), tree.map(|tree| (seq, tree))));
                self.events.push_back(ActiveEvent::DocumentReplicated {
                    doc_id,
                    rev,
                    direction: Direction::Push,
                    deleted,
                    conflicted: false,
                });
            }
            Err(error) => {
                if push.is_prelude(&doc_id, &rev) {
                    // The peer moved on meanwhile: the pull will bring its revision, and the
                    // resolution will be pushed under a new sequence.
                    push.deferred.remove(&doc_id);
                }
                // 409: the peer got another revision meanwhile (resolved after the pull);
                // 4xx: refused for good; 5xx: try again in a later session.
                let transient =
                    error.code >= 500 || (error.code == 409 && self.config.direction.pulls());
                let finished = error.code < 500;
                push.feed.rev_done(seq, bytes, finished);
                self.events.push_back(ActiveEvent::DocumentFailed {
                    doc_id,
                    rev,
                    direction: Direction::Push,
                    error: error.to_string(),
                    transient,
                });
            }
        }
        push.take_completed();
    }

    /// The peer answered a closing tombstone: done either way (a peer that refuses it does not
    /// hold the branch it closes).
    pub(super) fn push_closing_done(&mut self, seq: Sequence, bytes: usize) {
        if let Some(push) = self.push.as_mut() {
            push.feed.rev_done(seq, bytes, true);
            push.take_completed();
        }
    }

    /// Records the revisions the peer acknowledged as its remote ancestors (no new sequences):
    /// in batches of [`RECORD_IN_BULK`] while the feed has more to read, of [`RECORD_AT_END`]
    /// once it has reached its end, and the rest when the push is caught up or saves its
    /// checkpoint.
    pub(super) fn remember_remote_revisions<S: Store>(
        &mut self,
        db: &mut Database<S>,
    ) -> Result<(), SessionError> {
        let Some(push) = self.push.as_mut() else {
            return Ok(());
        };
        if push.acknowledged.is_empty() {
            return Ok(());
        }
        let acknowledged = std::mem::take(&mut push.acknowledged);
        let revisions: Vec<_> = acknowledged
            .iter()
            .map(|(doc_id, (rev, seen))| {
                let seen = seen.as_ref().map(|(seq, tree)| (*seq, tree.as_slice()));
                (doc_id.as_str(), rev, seen)
            })
            .collect();
        db.set_remote_ancestors_from(self.config.remote_id, &revisions)?;
        Ok(())
    }
}
