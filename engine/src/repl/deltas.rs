//! Delta sync in both session roles: negotiation, the sender's choice between a delta and the
//! full body, the receiver's reconstruction of a body from a delta, and the full resend when the
//! receiver cannot apply a delta.
//!
//! - **Negotiation.** A side whose configuration enables delta sync writes `deltas: "true"` on
//!   its first reply to `changes` / `proposeChanges` of the connection (as LiteCore does). A
//!   sender sends deltas only if it enables them itself and the peer's reply said so.
//! - **Sending.** When the peer named a known ancestor (the `changes` reply's list, or the
//!   pusher's record of what the peer has) whose body is still kept here, the body goes as
//!   [`delta::diff`] against it with `deltaSrc`, if [`DeltaPolicy`] finds it worthwhile (body
//!   at least 200 bytes, delta at most half of it); otherwise in full. Deletions are always sent
//!   in full and deleted revisions are never bases.
//! - **Receiving.** A `rev` with `deltaSrc` is applied to the stored body of that revision (or
//!   of a received revision still waiting for its transaction); the result must be an object
//!   and is stored as deterministic CBOR.
//! - **Errors.** An unknown base or a body no longer kept, and a delta that does not apply, are
//!   answered `HTTP 422` (LiteCore's answer for its `DeltaBaseUnknown` / `CorruptDelta`). A
//!   sender getting 422 — or LiteCore's own codes 31 / 32 in the `LiteCore` domain — for a
//!   delta sends the same revision again with its full body; the document does not fail. A
//!   delta on a connection where this side did not offer deltas is `HTTP 400`.

use std::collections::{BTreeMap, BTreeSet};

use crate::blip::{BlipError, Message};
use crate::blob::BLOB_TYPE_KEY;
use crate::db::{Database, DbError, RemoteRevision};
use crate::delta::{self, DeltaError, DeltaPolicy};
use crate::rev::RevId;
use crate::store::{Sequence, Store};
use crate::value::Value;

use super::Profile;
use super::catalogue::RevMessage;
use super::feed::{Feed, FeedRow};

/// The HTTP status a receiver answers when it cannot apply a delta (unknown base, base body not
/// kept, corrupt delta): the sender resends the revision in full.
pub(crate) const DELTA_FAILED_STATUS: i64 = 422;

/// LiteCore's `kC4ErrorDeltaBaseUnknown` and `kC4ErrorCorruptDelta` (domain `LiteCore`), which
/// older LiteCore versions answer instead of 422.
const LITECORE_DELTA_CODES: [i64; 2] = [31, 32];

/// The remote ID a listener records exchanged revisions under when its host gives the peer no
/// `remote_id` and delta sync is enabled: the last revision exchanged with any such peer keeps
/// its body as a delta base (as LiteCore's `kRevKeepBody`).
pub(crate) const ANY_PEER_REMOTE_ID: u32 = u32::MAX;

/// Why a received `rev` body cannot be turned into a stored body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub(crate) enum RevBodyError {
    /// The body is not valid JSON / deterministic CBOR for the profile.
    #[error("bad body for {doc_id:?}: {reason}")]
    BadBody {
        /// The document.
        doc_id: String,
        /// What is wrong.
        reason: String,
    },
    /// A delta arrived but this side did not offer delta sync.
    #[error("a delta arrived but delta sync was not negotiated on this connection")]
    NotNegotiated,
    /// The base revision is unknown here, or its body is no longer kept.
    #[error("cannot apply the delta: no body of base revision {base} of {doc_id:?}")]
    BaseUnknown {
        /// The document.
        doc_id: String,
        /// The `deltaSrc` revision.
        base: RevId,
    },
    /// The delta does not apply to the base, or gives something that is not an object.
    #[error("corrupt delta against {base} of {doc_id:?}: {reason}")]
    Corrupt {
        /// The document.
        doc_id: String,
        /// The `deltaSrc` revision.
        base: RevId,
        /// What is wrong.
        reason: String,
    },
    /// Reading the base failed locally.
    #[error("cannot read the delta base: {message}")]
    Database {
        /// The local error.
        message: String,
        /// Whether it is temporary (the store is busy).
        transient: bool,
    },
}

impl RevBodyError {
    /// The `HTTP` status to answer the `rev` with.
    pub(crate) fn status(&self) -> i64 {
        match self {
            RevBodyError::BadBody { .. } | RevBodyError::NotNegotiated => 400,
            RevBodyError::BaseUnknown { .. } | RevBodyError::Corrupt { .. } => DELTA_FAILED_STATUS,
            RevBodyError::Database {
                transient: true, ..
            } => 503,
            RevBodyError::Database { .. } => 500,
        }
    }

    /// Whether the sender is expected to send the revision again (in full, or later).
    pub(crate) fn is_retried(&self) -> bool {
        matches!(self.status(), DELTA_FAILED_STATUS | 503)
    }
}

/// The receiving half: what this side offers and how it rebuilds bodies from deltas.
#[derive(Debug, Clone)]
pub(crate) struct DeltaReceiver {
    enabled: bool,
    advertised: bool,
}

impl DeltaReceiver {
    /// A receiver that accepts deltas if `enabled`.
    pub(crate) fn new(enabled: bool) -> Self {
        DeltaReceiver {
            enabled,
            advertised: false,
        }
    }

    /// Whether this reply (to `changes` / `proposeChanges`) says `deltas: "true"`: the first
    /// one of the connection, when enabled.
    pub(crate) fn advertise_now(&mut self) -> bool {
        let now = self.enabled && !self.advertised;
        self.advertised |= now;
        now
    }

    /// Adds `deltas: "true"` to `reply` if [`DeltaReceiver::advertise_now`] says so.
    pub(crate) fn advertise(&mut self, reply: Message) -> Message {
        if self.advertise_now() {
            reply.with_property("deltas", "true")
        } else {
            reply
        }
    }

    /// The body of `rev` as the store keeps it (deterministic CBOR): converted from the wire,
    /// or rebuilt from a delta against its `deltaSrc`, looked up in `db` and then among
    /// `pending` (received revisions not stored yet). A full body is moved out of `rev` (a
    /// `Ferry_1` body is kept as it arrived, without a copy). With it, whether it has a map
    /// with the key `@type` (a blob reference's mark), when checking the body found out.
    pub(crate) fn stored_body<'a, S: Store>(
        &self,
        profile: Profile,
        db: &Database<S>,
        rev: &mut RevMessage,
        pending: impl IntoIterator<Item = &'a RemoteRevision>,
    ) -> Result<(Vec<u8>, Option<bool>), RevBodyError> {
        let Some(base_rev) = &rev.delta_src else {
            if rev.deleted && rev.body.is_empty() {
                return Ok((Value::empty_object().to_cbor(), Some(false)));
            }
            return profile
                .body_from_wire_with_key(std::mem::take(&mut rev.body), Some(BLOB_TYPE_KEY))
                .map_err(|e| RevBodyError::BadBody {
                    doc_id: rev.doc_id.clone(),
                    reason: e.to_string(),
                });
        };
        if !self.enabled {
            return Err(RevBodyError::NotNegotiated);
        }
        let base = match db.get_revision(&rev.doc_id, base_rev) {
            Ok(Some(doc)) => Some(doc.body),
            Ok(None) => None,
            Err(e) => {
                let transient = matches!(&e, DbError::Store(s) if s.is_transient());
                return Err(RevBodyError::Database {
                    message: e.to_string(),
                    transient,
                });
            }
        };
        let base = match base {
            Some(body) => body,
            None => pending
                .into_iter()
                .find(|p| p.doc_id == rev.doc_id && p.history.first() == Some(base_rev))
                .and_then(|p| Value::from_cbor(&p.body).ok())
                .ok_or_else(|| RevBodyError::BaseUnknown {
                    doc_id: rev.doc_id.clone(),
                    base: base_rev.clone(),
                })?,
        };
        let corrupt = |reason: String| RevBodyError::Corrupt {
            doc_id: rev.doc_id.clone(),
            base: base_rev.clone(),
            reason,
        };
        let applied = match profile {
            Profile::CbMobile3 => delta::apply_json(&base, &rev.body),
            Profile::Ferry1 => delta::apply_cbor(&base, &rev.body),
        }
        .map_err(|e: DeltaError| corrupt(e.to_string()))?;
        if applied.as_object().is_none() {
            return Err(corrupt("the result is not an object".into()));
        }
        Ok((applied.to_cbor(), None))
    }
}

/// A revision sent as a delta, awaiting the peer's reply.
#[derive(Debug, Clone)]
struct InFlight {
    /// The known ancestors it was sent with, kept for a full resend.
    known: Vec<RevId>,
}

/// The sending half: whether deltas may be sent, and which sent deltas await replies.
#[derive(Debug, Clone)]
pub(crate) struct DeltaSender {
    enabled: bool,
    peer_accepts: bool,
    policy: DeltaPolicy,
    in_flight: BTreeMap<(String, RevId), InFlight>,
    /// Revisions whose delta the peer refused: their next send is in full.
    full_only: BTreeSet<(String, RevId)>,
    /// Whether acknowledged revisions are collected for [`DeltaSender::record_bases`].
    records_bases: bool,
    /// Revisions the peer acknowledged, to record as its remote ancestors (the passive role).
    acknowledged: Vec<(String, RevId)>,
}

impl DeltaSender {
    /// A sender that sends deltas if `enabled` and the peer accepts them.
    pub(crate) fn new(enabled: bool) -> Self {
        DeltaSender {
            enabled,
            peer_accepts: false,
            policy: DeltaPolicy::default(),
            in_flight: BTreeMap::new(),
            full_only: BTreeSet::new(),
            records_bases: false,
            acknowledged: Vec::new(),
        }
    }

    /// This sender, collecting the revisions the peer acknowledges (when enabled) for
    /// [`DeltaSender::record_bases`]: the passive role, whose host flushes them. (The active
    /// pusher records acknowledged revisions itself.)
    pub(crate) fn recording_bases(mut self) -> Self {
        self.records_bases = self.enabled;
        self
    }

    /// Reads the peer's reply to our `changes` / `proposeChanges`: `deltas: "true"` (on the
    /// first reply of the connection) means it accepts deltas for the rest of it.
    pub(crate) fn peer_replied(&mut self, reply: &Message) {
        if matches!(reply.property("deltas"), Some("true" | "1")) {
            self.peer_accepts = true;
        }
    }

    /// Whether deltas go to this peer.
    pub(crate) fn active(&self) -> bool {
        self.enabled && self.peer_accepts
    }

    /// Replaces `rev.body` (the stored CBOR) by what goes on the wire for `profile`: a delta
    /// against the first of `known` whose body is kept here (setting `rev.delta_src`) when
    /// worthwhile, else the full body.
    pub(crate) fn prepare<S: Store>(
        &mut self,
        profile: Profile,
        db: &Database<S>,
        rev: &mut RevMessage,
        known: &[RevId],
    ) -> Result<(), DbError> {
        let full = profile.body_to_wire(&rev.body)?.into_owned();
        let key = (rev.doc_id.clone(), rev.rev.clone());
        let refused_before = self.full_only.remove(&key);
        if !self.active() || refused_before || rev.deleted || full.len() < self.policy.min_body {
            rev.body = full;
            return Ok(());
        }
        let mut base = None;
        for candidate in known {
            if let Some(doc) = db.get_revision(&rev.doc_id, candidate)?
                && !doc.deleted
            {
                base = Some((candidate.clone(), doc.body));
                break;
            }
        }
        let Some((base_rev, base_body)) = base else {
            rev.body = full;
            return Ok(());
        };
        let current = Value::from_cbor(&rev.body)?;
        match delta::encode_if_worthwhile(&base_body, &current, self.policy, |v| {
            profile.encode_value(v)
        }) {
            Some(encoded) => {
                rev.body = encoded;
                rev.delta_src = Some(base_rev);
                self.in_flight.insert(
                    key,
                    InFlight {
                        known: known.to_vec(),
                    },
                );
            }
            None => rev.body = full,
        }
        Ok(())
    }

    /// The peer answered `rev` of `doc_id`. Returns the known ancestors to resend it with, in
    /// full, when it was a delta the peer could not apply.
    pub(crate) fn replied(
        &mut self,
        doc_id: &str,
        rev: &RevId,
        error: Option<&BlipError>,
    ) -> Option<Vec<RevId>> {
        let key = (doc_id.to_owned(), rev.clone());
        let sent = self.in_flight.remove(&key);
        match error {
            None => {
                if self.records_bases {
                    self.acknowledged.push(key);
                }
                None
            }
            Some(e) if is_delta_failure(e) => {
                let sent = sent?;
                self.full_only.insert(key);
                Some(sent.known)
            }
            Some(_) => None,
        }
    }

    /// Records the revisions the peer acknowledged as its remote ancestors under `remote_id`,
    /// so their bodies stay as delta bases (the passive role; the active pusher records its
    /// own).
    pub(crate) fn record_bases<S: Store>(
        &mut self,
        db: &mut Database<S>,
        remote_id: u32,
    ) -> Result<(), DbError> {
        if self.acknowledged.is_empty() {
            return Ok(());
        }
        let acknowledged = std::mem::take(&mut self.acknowledged);
        db.set_remote_ancestors(remote_id, &acknowledged)
    }
}

/// Whether an error reply to a `rev` means "could not apply the delta".
pub(crate) fn is_delta_failure(e: &BlipError) -> bool {
    (e.domain == "HTTP" && e.code == DELTA_FAILED_STATUS)
        || (e.domain == "LiteCore" && LITECORE_DELTA_CODES.contains(&e.code))
}

/// Puts a revision whose delta was refused back among `feed`'s wanted revisions, to be sent
/// in full: releases its window (`bytes`) without finishing `seq`.
pub(crate) fn resend_in_full(
    feed: &mut Feed,
    seq: Sequence,
    bytes: usize,
    doc_id: String,
    rev: RevId,
    deleted: bool,
    known: Vec<RevId>,
) {
    feed.rev_done(seq, bytes, false);
    let row = FeedRow {
        seq,
        doc_id,
        rev,
        deleted,
        body_size: 0,
        server_rev: known.first().cloned(),
        // Deletions are never sent as deltas, so a closing tombstone is never resent.
        closing: false,
        tree: None,
        body: None,
    };
    feed.want(row, known);
}

#[cfg(test)]
#[path = "deltas_tests.rs"]
mod tests;
