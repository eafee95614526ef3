//! The passive session's answers to the peer's requests.

use std::time::Instant;

use crate::blip::{Message, MessageNumber};
use crate::db::{Database, DbError, ProposalCheck, RemoteRevision};
use crate::rev::RevId;
use crate::store::Store;
use crate::value::Value;

use super::super::catalogue::{
    self as cat, AnswerProperties, ChangeAnswer, GetCheckpoint, ProposalAnswer, RevMessage,
    SetCheckpoint, SubChanges,
};
use super::super::deltas;
use super::super::feed::{Feed, FeedLimits};
use super::super::{checkpoint_rev, parse_checkpoint_rev};
use super::{PassiveEvent, PassiveSession, PendingInsert};

impl PassiveSession {
    pub(super) fn get_checkpoint<S: Store>(
        &mut self,
        number: MessageNumber,
        msg: &Message,
        db: &mut Database<S>,
    ) -> Result<(), Refusal> {
        let req = GetCheckpoint::from_message(msg)?;
        match db.peer_checkpoint(&req.client).map_err(Refusal::from_db)? {
            None => Err(Refusal {
                domain: "HTTP",
                code: 404,
                message: "no checkpoint".into(),
            }),
            Some((stored, generation)) => {
                let body = Value::from_cbor(&stored).map_err(|e| Refusal {
                    domain: "HTTP",
                    code: 500,
                    message: format!("stored checkpoint is unreadable: {e}"),
                })?;
                let reply = Message::new()
                    .with_property("rev", checkpoint_rev(generation))
                    .with_body(self.profile.encode_value(&body));
                self.conn
                    .send_reply(number, &reply)
                    .map_err(Refusal::from_send)
            }
        }
    }

    pub(super) fn set_checkpoint<S: Store>(
        &mut self,
        number: MessageNumber,
        msg: &Message,
        db: &mut Database<S>,
    ) -> Result<(), Refusal> {
        // Validate the shape, but keep the body as the peer wrote it (unknown keys included).
        let req = SetCheckpoint::from_message(msg, self.profile)?;
        let body = self
            .profile
            .decode_value(&msg.body)
            .map_err(cat::CatalogueError::from_value)?;
        let expected = match req.rev.as_deref() {
            None => None,
            Some(text) => Some(parse_checkpoint_rev(text).ok_or_else(|| Refusal {
                domain: "HTTP",
                code: 400,
                message: format!("bad checkpoint rev {text:?}"),
            })?),
        };
        let generation = db
            .set_peer_checkpoint(&req.client, expected, &body.to_cbor())
            .map_err(Refusal::from_db)?;
        self.events
            .push_back(PassiveEvent::CheckpointSaved { client: req.client });
        let reply = Message::new().with_property("rev", checkpoint_rev(generation));
        self.conn
            .send_reply(number, &reply)
            .map_err(Refusal::from_send)
    }

    pub(super) fn sub_changes<S: Store>(
        &mut self,
        number: MessageNumber,
        msg: &Message,
        db: &Database<S>,
    ) -> Result<(), Refusal> {
        let req = SubChanges::from_message(msg, self.profile)?;
        if self.feed.is_some() {
            // One feed per connection: a second subscription would orphan the answers the
            // peer owes to the first one.
            return Err(Refusal {
                domain: "HTTP",
                code: 409,
                message: "subChanges was already received on this connection".into(),
            });
        }
        let last = db.last_sequence().map_err(Refusal::from_db)?;
        let since = match &req.since {
            None => 0,
            // Beyond our last sequence: the checkpoint was not made against this database's
            // history (it was replaced or restored). Serve the whole feed: the peer answers
            // `0` to what it has, and nothing is skipped.
            Some(seq) if seq.as_number().is_some_and(|n| n > last) => 0,
            Some(seq) => seq.as_number().ok_or_else(|| Refusal {
                domain: "HTTP",
                code: 400,
                message: format!(
                    "since {:?} is not a sequence of this database",
                    seq.to_string()
                ),
            })?,
        };
        let limits = FeedLimits {
            batch: req
                .batch
                .unwrap_or(self.config.changes_batch)
                .clamp(1, self.config.changes_batch.max(1)),
            max_announcements_in_flight: self.config.max_changes_in_flight.max(1),
            max_revs_in_flight: self.config.max_revs_in_flight.max(1),
            max_rev_bytes_in_flight: self.config.max_rev_bytes_in_flight.max(1),
            max_history: self.config.max_history,
        };
        self.feed = Some(
            Feed::new(
                since,
                req.continuous,
                req.active_only.then_some(last),
                req.doc_ids,
                limits,
            )
            .stopping_at_end(),
        );
        self.conn
            .send_reply(number, &Message::new())
            .map_err(Refusal::from_send)
    }

    pub(super) fn answer_changes<S: Store>(
        &mut self,
        number: MessageNumber,
        msg: &Message,
        db: &mut Database<S>,
    ) -> Result<(), Refusal> {
        let rows = cat::decode_changes(self.profile, &msg.body)?;
        let revs: Vec<(&str, &RevId)> = rows.iter().map(|r| (r.doc_id.as_str(), &r.rev)).collect();
        let answers: Vec<ChangeAnswer> = db
            .known_ancestors_of(&revs, self.config.max_history)
            .map_err(Refusal::from_db)?
            .into_iter()
            .map(|known| match known {
                None => ChangeAnswer::Skip,
                Some(known) => ChangeAnswer::Send { known },
            })
            .collect();
        self.revs_awaited += answers
            .iter()
            .filter(|a| matches!(a, ChangeAnswer::Send { .. }))
            .count();
        let reply = self
            .replication_reply()
            .with_body(cat::encode_change_answers(self.profile, &answers));
        self.conn
            .send_reply(number, &reply)
            .map_err(Refusal::from_send)
    }

    pub(super) fn answer_proposals<S: Store>(
        &mut self,
        number: MessageNumber,
        msg: &Message,
        db: &mut Database<S>,
    ) -> Result<(), Refusal> {
        let rows = cat::decode_proposed(self.profile, &msg.body)?;
        // Refused per document, before the pusher sends a body we would refuse.
        let valid: Vec<bool> = rows
            .iter()
            .map(|row| db.validate_doc_id(&row.doc_id).is_ok())
            .collect();
        let proposals: Vec<(&str, &RevId, Option<&RevId>)> = rows
            .iter()
            .zip(&valid)
            .filter(|(_, valid)| **valid)
            .map(|(row, _)| (row.doc_id.as_str(), &row.rev, row.server_rev.as_ref()))
            .collect();
        let mut checks = db
            .check_proposals(&proposals)
            .map_err(Refusal::from_db)?
            .into_iter();
        let answers: Vec<ProposalAnswer> = valid
            .iter()
            .map(|valid| match valid.then(|| checks.next()).flatten() {
                None => ProposalAnswer::Status(400),
                Some(ProposalCheck::Accept) => ProposalAnswer::Send,
                Some(ProposalCheck::AlreadyHave) => ProposalAnswer::AlreadyHave,
                Some(ProposalCheck::Conflict { current }) => ProposalAnswer::Conflict {
                    current: Some(current),
                },
            })
            .collect();
        self.revs_awaited += answers
            .iter()
            .filter(|a| matches!(a, ProposalAnswer::Send))
            .count();
        let reply = self
            .replication_reply()
            .with_body(cat::encode_proposal_answers(self.profile, &answers));
        self.conn
            .send_reply(number, &reply)
            .map_err(Refusal::from_send)
    }

    /// The properties LiteCore puts on `changes` / `proposeChanges` replies.
    ///
    /// Ferry writes `maxHistory`, and `deltas: "true"` on the first reply of the connection
    /// when delta sync is enabled, and `blobs: "true"` (it fetches the blobs of the revisions it
    /// receives), in LiteCore's order.
    pub(super) fn replication_reply(&mut self) -> Message {
        AnswerProperties {
            max_history: Some(self.config.max_history),
            blobs: true,
            deltas: self.delta_in.advertise_now(),
        }
        .apply(Message::new())
    }

    /// The remote ID exchanged revisions are recorded under (to keep delta bases), if any.
    pub(super) fn delta_remote_id(&self) -> Option<u32> {
        match self.config.remote_id {
            Some(id) => Some(id),
            None if self.config.enable_delta_sync => Some(deltas::ANY_PEER_REMOTE_ID),
            None => None,
        }
    }

    pub(super) fn receive_rev<S: Store>(
        &mut self,
        now: Instant,
        number: MessageNumber,
        msg: Message,
        no_reply: bool,
        db: &Database<S>,
    ) -> Result<(), Refusal> {
        let mut rev = RevMessage::from_owned(msg)?;
        let pending = self.pending_inserts.iter().map(|p| &p.revision);
        let (body, has_type_key) = self
            .delta_in
            .stored_body(self.profile, db, &mut rev, pending)
            .map_err(|e| Refusal {
                domain: "HTTP",
                code: e.status(),
                message: e.to_string(),
            })?;
        let missing = match self.blobs.missing(db, &body, has_type_key) {
            Ok(missing) => missing,
            Err(failure) => {
                self.events.push_back(PassiveEvent::DocumentRejected {
                    doc_id: rev.doc_id,
                    rev: rev.rev,
                    reason: failure.message.clone(),
                });
                return Err(Refusal {
                    domain: "HTTP",
                    code: failure.status,
                    message: failure.message,
                });
            }
        };
        let mut history = Vec::with_capacity(rev.history.len() + 1);
        history.push(rev.rev);
        history.extend(rev.history);
        let doc_id = rev.doc_id;
        let pending = PendingInsert {
            request: number,
            no_reply,
            revision: RemoteRevision {
                doc_id: doc_id.clone(),
                history,
                deleted: rev.deleted,
                body,
                allow_conflict: false,
                remote: self.delta_remote_id(),
            },
        };
        if !missing.is_empty() {
            // Stored (and answered) once its blobs are here.
            return self
                .blobs
                .park(now, pending, &doc_id, missing, &mut self.conn)
                .map_err(Refusal::from_send);
        }
        self.pending_inserts.push(pending);
        if self.insert_deadline.is_none() {
            self.insert_deadline = Some(now + self.config.insert_delay);
        }
        Ok(())
    }
}

/// An error answer to one request.
pub(super) struct Refusal {
    pub(super) domain: &'static str,
    pub(super) code: i64,
    pub(super) message: String,
}

impl Refusal {
    pub(super) fn read_only() -> Self {
        Refusal {
            domain: "HTTP",
            code: 403,
            message: "the listener is read-only: pushes are refused".into(),
        }
    }

    pub(super) fn from_db(e: DbError) -> Self {
        let code = match &e {
            DbError::Conflict { .. } => 409,
            DbError::BodyTooLarge { .. }
            | DbError::Blob(crate::blob::BlobError::TooLarge { .. }) => 413,
            DbError::InvalidDocId { .. }
            | DbError::BodyNotAnObject { .. }
            | DbError::ReservedProperty(_)
            | DbError::RevTree(_)
            | DbError::Value(_)
            | DbError::Blob(_) => 400,
            DbError::NotFound(_) => 404,
            DbError::Store(crate::store::StoreError::CheckpointConflict { .. }) => 409,
            DbError::Store(s) if s.is_transient() => 503,
            _ => 500,
        };
        Refusal {
            domain: "HTTP",
            code,
            message: e.to_string(),
        }
    }

    pub(super) fn from_send(e: crate::blip::SendError) -> Self {
        Refusal {
            domain: "BLIP",
            code: 500,
            message: e.to_string(),
        }
    }
}

impl From<cat::CatalogueError> for Refusal {
    fn from(e: cat::CatalogueError) -> Self {
        Refusal {
            domain: "HTTP",
            code: 400,
            message: e.to_string(),
        }
    }
}
