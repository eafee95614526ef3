//! The outgoing half of replication, shared by both roles: reading the local changes feed in
//! pages, announcing changes in batches (`changes` from a passive peer serving a pull,
//! `proposeChanges` from an active pusher), then sending the wanted revisions — all within
//! bounded windows so memory stays flat however many documents move.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use crate::blip::MessageNumber;
use crate::db::{Database, DbError};
use crate::rev::RevId;
use crate::store::{ChangeEntry, Sequence, Store};

use super::catalogue::{NoRev, RemoteSeq, RevMessage};

/// One change read from the local feed and announced to the peer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FeedRow {
    pub(crate) seq: Sequence,
    pub(crate) doc_id: String,
    pub(crate) rev: RevId,
    pub(crate) deleted: bool,
    pub(crate) body_size: u64,
    /// The revision the peer is believed to have (its remote ancestor), for `proposeChanges`;
    /// for a closing tombstone, its parent.
    pub(crate) server_rev: Option<RevId>,
    /// A tombstone that closed a branch of the document (not its current revision), announced
    /// so peers that still hold the branch live close it too. Not needed by a peer that does
    /// not hold the branch: refusals of it are not failures.
    pub(crate) closing: bool,
    /// The document's encoded revision tree as the feed read it, when it did: the `rev` is
    /// built from it, and what the peer acknowledged is recorded on top of it, instead of
    /// reading the document again each time (see `Database::revision_to_send_from` and
    /// `Database::set_remote_ancestors_from`, which check that it still holds).
    pub(crate) tree: Option<Vec<u8>>,
    /// The body of `tree`'s current revision as the feed read it, when it did: a `rev` of that
    /// revision is sent with it, without reading it again.
    pub(crate) body: Option<Vec<u8>>,
}

/// Body bytes read with each page of the changes feed, at most (bodies beyond it are read
/// when their `rev` is sent).
const FEED_BODY_BUDGET: usize = 1 << 20;

/// Windows of a feed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FeedLimits {
    pub(crate) batch: usize,
    pub(crate) max_announcements_in_flight: usize,
    pub(crate) max_revs_in_flight: usize,
    pub(crate) max_rev_bytes_in_flight: usize,
    pub(crate) max_history: usize,
}

/// What the feed wants sent next.
#[derive(Debug)]
pub(crate) enum FeedStep {
    /// Nothing to send now.
    Idle,
    /// Announce these changes (an empty list: caught up).
    Announce(Vec<FeedRow>),
    /// Send this revision.
    Rev(RevToSend),
    /// A revision the peer asked for is gone (superseded or purged).
    NoRev(NoRev),
}

/// A revision to send, from [`Feed::next_step`].
#[derive(Debug)]
pub(crate) struct RevToSend {
    pub(crate) message: Box<RevMessage>,
    pub(crate) seq: Sequence,
    /// Whether it is a closing tombstone.
    pub(crate) closing: bool,
    /// The ancestors the peer said it has (delta bases).
    pub(crate) known: Vec<RevId>,
    /// The document's tree as the feed read it (see [`FeedRow::tree`]).
    pub(crate) tree: Option<Vec<u8>>,
}

/// A revision the peer wants.
#[derive(Debug)]
struct Wanted {
    row: FeedRow,
    known: Vec<RevId>,
}

/// State of one outgoing feed.
#[derive(Debug)]
pub(crate) struct Feed {
    /// The last local sequence read from the changes feed.
    since: Sequence,
    continuous: bool,
    /// Deletions at or below this sequence are skipped (`activeOnly`): they happened before
    /// the subscription, so the peer cannot have been sent their documents in this session.
    skip_deleted_through: Option<Sequence>,
    /// A one-shot feed stops reading at the first end of the local feed (see
    /// [`Feed::stopping_at_end`]).
    stop_at_end: bool,
    doc_ids: Option<BTreeSet<String>>,
    limits: FeedLimits,
    /// Whether a document whose current revision the peer is known to have is skipped.
    skip_known: bool,
    /// Rows to announce again (with a corrected `server_rev`) before reading further.
    retry: Vec<FeedRow>,
    /// Whether an empty announcement ("caught up") was sent since the feed last had rows.
    caught_up_announced: bool,
    /// Whether the end of the feed was reached at least once.
    reached_end: bool,
    in_flight: BTreeMap<MessageNumber, Vec<FeedRow>>,
    wanted: VecDeque<Wanted>,
    revs_in_flight: usize,
    rev_bytes_in_flight: usize,
    /// Rows still unfinished per sequence (a document's current revision and its closing
    /// tombstones share one): a sequence completes when all are done.
    outstanding: BTreeMap<Sequence, u32>,
    /// Sequences finished (sent and acknowledged, skipped, filtered or superseded) not yet
    /// taken by [`Feed::take_completed`].
    completed: Vec<Sequence>,
}

impl Feed {
    pub(crate) fn new(
        since: Sequence,
        continuous: bool,
        skip_deleted_through: Option<Sequence>,
        doc_ids: Option<Vec<String>>,
        limits: FeedLimits,
    ) -> Self {
        Feed {
            since,
            continuous,
            skip_deleted_through,
            stop_at_end: false,
            doc_ids: doc_ids.map(|ids| ids.into_iter().collect()),
            limits,
            skip_known: true,
            retry: Vec::new(),
            caught_up_announced: false,
            reached_end: false,
            in_flight: BTreeMap::new(),
            wanted: VecDeque::new(),
            revs_in_flight: 0,
            rev_bytes_in_flight: 0,
            outstanding: BTreeMap::new(),
            completed: Vec::new(),
        }
    }

    /// Announce even documents whose current revision the peer is known to have (after a
    /// checkpoint reset: the peer decides).
    pub(crate) fn announce_known(&mut self) {
        self.skip_known = false;
    }

    /// Announces `row` again in the next batch.
    pub(crate) fn retry(&mut self, row: FeedRow) {
        self.retry.push(row);
    }

    /// This feed, which, unless continuous, reads the local feed only up to its first end:
    /// changes made later wait for the next replication, as with LiteCore's one-shot
    /// replications. (The passive side serving a one-shot pull uses it; without it a feed
    /// keeps reading whatever is written while it runs.)
    pub(crate) fn stopping_at_end(mut self) -> Self {
        self.stop_at_end = true;
        self
    }

    /// A one-line description for diagnostics.
    pub(crate) fn describe(&self) -> String {
        format!(
            "since {} continuous {} announcements in flight {} wanted {} revs in flight {} ({} bytes){}",
            self.since,
            self.continuous,
            self.in_flight.len(),
            self.wanted.len(),
            self.revs_in_flight,
            self.rev_bytes_in_flight,
            if self.reached_end { " reached end" } else { "" }
        )
    }

    /// Whether everything read was announced and answered and every wanted revision was sent
    /// and acknowledged, and the end of the local feed was reached.
    pub(crate) fn is_caught_up(&self) -> bool {
        self.reached_end
            && self.in_flight.is_empty()
            && self.wanted.is_empty()
            && self.revs_in_flight == 0
    }

    /// Whether the end of the local feed was reached at least once: what is left to send was
    /// all read.
    pub(crate) fn reached_end(&self) -> bool {
        self.reached_end
    }

    /// Adds this feed's windows to `stats`.
    pub(crate) fn add_stats(&self, stats: &mut super::WindowStats) {
        stats.announcements_in_flight += self.in_flight.len();
        stats.revs_in_flight += self.revs_in_flight;
        stats.rev_bytes_in_flight += self.rev_bytes_in_flight;
    }

    /// The last local sequence read.
    pub(crate) fn since(&self) -> Sequence {
        self.since
    }

    /// Decides what to send next. `remote_ancestor` gives, for a changes-feed entry, the
    /// revision the peer is believed to have (active pushes put it in `proposeChanges`).
    pub(crate) fn next_step<S: Store, F>(
        &mut self,
        db: &Database<S>,
        remote_ancestor: F,
    ) -> Result<FeedStep, DbError>
    where
        F: Fn(&ChangeEntry) -> Result<Option<RevId>, DbError>,
    {
        // Revisions first: they drain the pipeline that announcements fill.
        if self.revs_in_flight < self.limits.max_revs_in_flight
            && self.rev_bytes_in_flight < self.limits.max_rev_bytes_in_flight
            && let Some(want) = self.wanted.pop_front()
        {
            let row = want.row;
            let seq = row.seq;
            let closing = row.closing;
            let tree = row.tree;
            match db.revision_to_send_from(
                &row.doc_id,
                &row.rev,
                &want.known,
                self.limits.max_history,
                tree.as_deref(),
                row.body,
            )? {
                Some(out) => {
                    let message = RevMessage {
                        doc_id: row.doc_id,
                        rev: row.rev,
                        history: out.history,
                        deleted: out.deleted,
                        sequence: Some(RemoteSeq::number(seq)),
                        delta_src: None,
                        no_conflicts: false,
                        body: out.body,
                    };
                    return Ok(FeedStep::Rev(RevToSend {
                        message: Box::new(message),
                        seq,
                        closing,
                        known: want.known,
                        tree,
                    }));
                }
                None => {
                    self.finish(seq);
                    let norev = NoRev {
                        doc_id: row.doc_id,
                        rev: row.rev,
                        sequence: Some(RemoteSeq::number(seq)),
                        error: Some(404),
                        reason: Some("the revision was superseded or purged".into()),
                    };
                    return Ok(FeedStep::NoRev(norev));
                }
            }
        }
        // A one-shot feed stopping at the end reads the local feed up to its end once.
        if self.stop_at_end && self.reached_end && !self.continuous {
            if !self.caught_up_announced && self.in_flight.is_empty() {
                self.caught_up_announced = true;
                return Ok(FeedStep::Announce(Vec::new()));
            }
            return Ok(FeedStep::Idle);
        }
        // Then announcements, while the pipeline has room.
        let room = self.limits.batch * (self.limits.max_announcements_in_flight + 1);
        while self.in_flight.len() < self.limits.max_announcements_in_flight
            && self.wanted.len() + self.revs_in_flight < room
        {
            if !self.retry.is_empty() {
                self.caught_up_announced = false;
                return Ok(FeedStep::Announce(std::mem::take(&mut self.retry)));
            }
            let page = db.changes_with_bodies(self.since, self.limits.batch, FEED_BODY_BUDGET)?;
            let Some(last) = page.last() else {
                self.reached_end = true;
                if !self.caught_up_announced && self.in_flight.is_empty() {
                    self.caught_up_announced = true;
                    return Ok(FeedStep::Announce(Vec::new()));
                }
                return Ok(FeedStep::Idle);
            };
            self.since = last.sequence;
            let mut rows = Vec::with_capacity(page.len());
            for entry in page {
                let filtered_out = (entry.flags.deleted
                    && self
                        .skip_deleted_through
                        .is_some_and(|mark| entry.sequence <= mark))
                    || self
                        .doc_ids
                        .as_ref()
                        .is_some_and(|ids| !ids.contains(&entry.doc_id));
                if filtered_out {
                    self.completed.push(entry.sequence);
                    continue;
                }
                let closing_rows: Vec<FeedRow> = if entry.flags.closed_branches {
                    db.closing_tombstones(&entry.doc_id)?
                        .into_iter()
                        .map(|(rev, parent)| FeedRow {
                            tree: None,
                            body: None,
                            seq: entry.sequence,
                            doc_id: entry.doc_id.clone(),
                            rev,
                            deleted: true,
                            body_size: 0,
                            server_rev: Some(parent),
                            closing: true,
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let server_rev = remote_ancestor(&entry)?;
                if self.skip_known && server_rev.as_ref() == Some(&entry.current_rev) {
                    if closing_rows.is_empty() {
                        self.completed.push(entry.sequence);
                    } else {
                        self.outstanding
                            .insert(entry.sequence, closing_rows.len() as u32);
                    }
                    rows.extend(closing_rows);
                    continue;
                }
                if !closing_rows.is_empty() {
                    self.outstanding
                        .insert(entry.sequence, closing_rows.len() as u32 + 1);
                }
                rows.push(FeedRow {
                    seq: entry.sequence,
                    doc_id: entry.doc_id,
                    rev: entry.current_rev,
                    deleted: entry.flags.deleted,
                    body_size: entry.body_size,
                    server_rev,
                    closing: false,
                    tree: Some(entry.tree),
                    body: entry.body,
                });
                rows.extend(closing_rows);
            }
            if !rows.is_empty() {
                self.caught_up_announced = false;
                return Ok(FeedStep::Announce(rows));
            }
        }
        Ok(FeedStep::Idle)
    }

    /// An announcement was sent as request `number` (not for the empty one).
    pub(crate) fn announced(&mut self, number: MessageNumber, rows: Vec<FeedRow>) {
        self.in_flight.insert(number, rows);
    }

    /// Takes the rows of announcement `number` when its answer (or error) arrives.
    pub(crate) fn take_announced(&mut self, number: MessageNumber) -> Vec<FeedRow> {
        self.in_flight.remove(&number).unwrap_or_default()
    }

    /// The peer wants `row`; `known` are ancestors it has.
    pub(crate) fn want(&mut self, row: FeedRow, known: Vec<RevId>) {
        self.wanted.push_back(Wanted { row, known });
    }

    /// `seq` needs no more work.
    pub(crate) fn complete(&mut self, seq: Sequence) {
        self.finish(seq);
    }

    /// A revision of `bytes` body bytes was sent.
    pub(crate) fn rev_sent(&mut self, bytes: usize) {
        self.revs_in_flight += 1;
        self.rev_bytes_in_flight += bytes;
    }

    /// The peer acknowledged (or refused) a revision of `bytes` bytes.
    pub(crate) fn rev_done(&mut self, seq: Sequence, bytes: usize, ok: bool) {
        self.revs_in_flight = self.revs_in_flight.saturating_sub(1);
        self.rev_bytes_in_flight = self.rev_bytes_in_flight.saturating_sub(bytes);
        if ok {
            self.finish(seq);
        }
    }

    /// One row of `seq` is done; the sequence completes with its last row.
    fn finish(&mut self, seq: Sequence) {
        match self.outstanding.get_mut(&seq) {
            Some(n) if *n > 1 => *n -= 1,
            Some(_) => {
                self.outstanding.remove(&seq);
                self.completed.push(seq);
            }
            None => self.completed.push(seq),
        }
    }

    /// Sequences finished since the last call.
    pub(crate) fn take_completed(&mut self) -> Vec<Sequence> {
        std::mem::take(&mut self.completed)
    }
}
