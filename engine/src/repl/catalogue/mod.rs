//! The replication message catalogue: typed forms of the BLIP messages Ferry and Couchbase Lite
//! exchange, with their properties and bodies exactly as LiteCore writes them.
//!
//! Each type converts to a [`Message`] for a [`Profile`] and parses back from one. Parsing never
//! panics and names what is wrong; the sessions answer a malformed request with an HTTP 400 error
//! reply and treat a malformed reply as a protocol error.

use std::fmt;

use crate::blip::Message;
use crate::rev::RevId;
use crate::store::Sequence;
use crate::value::{Map, Number, Value};

use super::Profile;

mod changes;
#[cfg(test)]
mod tests;

pub use changes::*;

/// Message names (the BLIP `Profile` property).
pub mod names {
    /// Reads a checkpoint the peer keeps for us.
    pub const GET_CHECKPOINT: &str = "getCheckpoint";
    /// Saves a checkpoint at the peer.
    pub const SET_CHECKPOINT: &str = "setCheckpoint";
    /// Asks the peer to send its changes feed.
    pub const SUB_CHANGES: &str = "subChanges";
    /// A batch of the sender's changes feed.
    pub const CHANGES: &str = "changes";
    /// A batch of changes the sender proposes to push.
    pub const PROPOSE_CHANGES: &str = "proposeChanges";
    /// One revision with its body.
    pub const REV: &str = "rev";
    /// A revision the sender cannot send after all.
    pub const NO_REV: &str = "norev";
    /// Asks for a blob's bytes.
    pub const GET_ATTACHMENT: &str = "getAttachment";
    /// Asks for proof that the sender has a blob.
    pub const PROVE_ATTACHMENT: &str = "proveAttachment";
}

/// Why a message does not have the shape its type requires.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CatalogueError {
    /// A required property is absent.
    #[error("{message}: missing property {property:?}")]
    MissingProperty {
        /// The message type.
        message: &'static str,
        /// The property.
        property: &'static str,
    },
    /// A property's value is malformed.
    #[error("{message}: property {property:?} is malformed: {reason}")]
    BadProperty {
        /// The message type.
        message: &'static str,
        /// The property.
        property: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// The body is malformed.
    #[error("{message}: malformed body: {reason}")]
    BadBody {
        /// The message type.
        message: &'static str,
        /// What is wrong.
        reason: String,
    },
}

impl CatalogueError {
    /// A body that is not valid JSON / CBOR.
    pub fn from_value(e: crate::value::ValueError) -> Self {
        CatalogueError::BadBody {
            message: "body",
            reason: e.to_string(),
        }
    }
}

/// A sequence of the peer's changes feed. LiteCore and Ferry send numbers; other servers may send
/// strings. Kept as the text that goes back in `since`: a number in its canonical decimal form is
/// held as the number (no allocation, and compared as one), anything else as its text.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RemoteSeq(SeqRepr);

#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum SeqRepr {
    Number(Sequence),
    Text(Box<str>),
}

impl RemoteSeq {
    /// A numeric sequence.
    pub fn number(seq: Sequence) -> Self {
        RemoteSeq(SeqRepr::Number(seq))
    }

    /// The sequence as a number, if it is one (for a text sequence: if its text parses as one).
    pub fn as_number(&self) -> Option<Sequence> {
        match &self.0 {
            SeqRepr::Number(n) => Some(*n),
            SeqRepr::Text(text) => text.parse().ok(),
        }
    }

    /// From a property value.
    pub fn from_property(text: &str) -> Option<Self> {
        if text.is_empty() || text.contains('\0') {
            return None;
        }
        // Only the canonical form becomes a number, so the text goes back exactly as it came.
        let canonical = text.len() <= 20
            && text.bytes().all(|b| b.is_ascii_digit())
            && (text == "0" || !text.starts_with('0'));
        Some(match text.parse() {
            Ok(n) if canonical => RemoteSeq::number(n),
            _ => RemoteSeq(SeqRepr::Text(text.into())),
        })
    }

    /// From a body value: a non-negative integer or a non-empty string.
    pub fn from_value(value: &Value) -> Option<Self> {
        match value {
            Value::Number(n) => n.as_u64().map(RemoteSeq::number),
            Value::String(s) => RemoteSeq::from_property(s),
            _ => None,
        }
    }

    /// As a body value: a number when numeric, else a string.
    pub fn to_value(&self) -> Value {
        match self.as_number() {
            Some(n) => Value::Number(Number::from(n)),
            None => Value::String(self.to_string()),
        }
    }
}

/// The sequence's text, as it goes back in `since`.
impl fmt::Display for RemoteSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            SeqRepr::Number(n) => write!(f, "{n}"),
            SeqRepr::Text(text) => f.write_str(text),
        }
    }
}

impl fmt::Debug for RemoteSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RemoteSeq({self})")
    }
}

fn prop<'a>(
    msg: &'a Message,
    message: &'static str,
    property: &'static str,
) -> Result<&'a str, CatalogueError> {
    msg.property(property)
        .ok_or(CatalogueError::MissingProperty { message, property })
}

fn bad_prop(
    message: &'static str,
    property: &'static str,
    reason: impl fmt::Display,
) -> CatalogueError {
    CatalogueError::BadProperty {
        message,
        property,
        reason: reason.to_string(),
    }
}

fn bad_body(message: &'static str, reason: impl fmt::Display) -> CatalogueError {
    CatalogueError::BadBody {
        message,
        reason: reason.to_string(),
    }
}

fn rev_prop(
    msg: &Message,
    message: &'static str,
    property: &'static str,
) -> Result<RevId, CatalogueError> {
    RevId::parse(prop(msg, message, property)?).map_err(|e| bad_prop(message, property, e))
}

fn bool_prop(msg: &Message, property: &str) -> bool {
    matches!(msg.property(property), Some("true" | "1"))
}

fn decode_body(
    profile: Profile,
    msg: &Message,
    message: &'static str,
) -> Result<Value, CatalogueError> {
    profile
        .decode_value(&msg.body)
        .map_err(|e| bad_body(message, e))
}

fn rev_value(value: &Value, message: &'static str) -> Result<RevId, CatalogueError> {
    let text = value
        .as_str()
        .ok_or_else(|| bad_body(message, "a revision ID is not a string"))?;
    RevId::parse(text).map_err(|e| bad_body(message, e))
}

fn int(n: u64) -> Value {
    Value::Number(Number::from(n))
}

/// The body of a checkpoint, as LiteCore writes it:
/// `{"time", "local", "localCompleted": [start, length, …], "remote"}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckpointBody {
    /// Seconds since the Unix epoch when it was saved (informational; hosts supply it).
    pub time: Option<i64>,
    /// Highest local sequence below which every change was pushed.
    pub local: Option<Sequence>,
    /// Ranges `[start, start + length)` of local sequences known pushed beyond `local`
    /// (LiteCore's sparse `localCompleted`).
    pub local_completed: Vec<(Sequence, u64)>,
    /// The peer's sequence below which every change was pulled.
    pub remote: Option<RemoteSeq>,
}

impl CheckpointBody {
    /// As a body value.
    pub fn to_value(&self) -> Value {
        let mut map = Map::new();
        if let Some(time) = self.time {
            map.insert("time".into(), Value::Number(Number::from(time)));
        }
        if let Some(local) = self.local {
            map.insert("local".into(), int(local));
        }
        if !self.local_completed.is_empty() {
            let flat = self
                .local_completed
                .iter()
                .flat_map(|&(s, l)| [int(s), int(l)])
                .collect();
            map.insert("localCompleted".into(), Value::Array(flat));
        }
        if let Some(remote) = &self.remote {
            map.insert("remote".into(), remote.to_value());
        }
        Value::Object(map)
    }

    /// From a body value; unknown keys are ignored.
    pub fn from_value(value: &Value) -> Result<Self, CatalogueError> {
        const M: &str = "checkpoint";
        let map = value
            .as_object()
            .ok_or_else(|| bad_body(M, "not an object"))?;
        let number = |key: &str| -> Result<Option<u64>, CatalogueError> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v
                    .as_u64()
                    .map(Some)
                    .ok_or_else(|| bad_body(M, format!("{key} is not a sequence"))),
            }
        };
        let mut local_completed = Vec::new();
        if let Some(v) = map.get("localCompleted") {
            let items = v
                .as_array()
                .ok_or_else(|| bad_body(M, "localCompleted is not an array"))?;
            if items.len() % 2 != 0 {
                return Err(bad_body(M, "localCompleted has an odd length"));
            }
            for pair in items.chunks(2) {
                match (pair[0].as_u64(), pair[1].as_u64()) {
                    (Some(start), Some(len)) => local_completed.push((start, len)),
                    _ => return Err(bad_body(M, "localCompleted holds a non-sequence")),
                }
            }
        }
        let remote = match map.get("remote") {
            None | Some(Value::Null) => None,
            Some(v) => Some(
                RemoteSeq::from_value(v).ok_or_else(|| bad_body(M, "remote is not a sequence"))?,
            ),
        };
        Ok(CheckpointBody {
            time: map.get("time").and_then(Value::as_i64),
            local: number("local")?,
            local_completed,
            remote,
        })
    }
}

/// `getCheckpoint{client}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GetCheckpoint {
    /// The checkpoint ID.
    pub client: String,
}

impl GetCheckpoint {
    /// As a BLIP request.
    pub fn to_message(&self) -> Message {
        Message::request(names::GET_CHECKPOINT).with_property("client", self.client.clone())
    }

    /// From a BLIP request.
    pub fn from_message(msg: &Message) -> Result<Self, CatalogueError> {
        Ok(GetCheckpoint {
            client: prop(msg, names::GET_CHECKPOINT, "client")?.to_owned(),
        })
    }
}

/// `setCheckpoint{client, rev}` with a checkpoint body. `rev` is the MVCC revision of the copy
/// being replaced (`""` the first time); the reply carries the new one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetCheckpoint {
    /// The checkpoint ID.
    pub client: String,
    /// The MVCC revision being replaced, `None` the first time.
    pub rev: Option<String>,
    /// The checkpoint.
    pub body: CheckpointBody,
}

impl SetCheckpoint {
    /// As a BLIP request.
    pub fn to_message(&self, profile: Profile) -> Message {
        Message::request(names::SET_CHECKPOINT)
            .with_property("client", self.client.clone())
            .with_property("rev", self.rev.clone().unwrap_or_default())
            .with_body(profile.encode_value(&self.body.to_value()))
    }

    /// From a BLIP request.
    pub fn from_message(msg: &Message, profile: Profile) -> Result<Self, CatalogueError> {
        const M: &str = names::SET_CHECKPOINT;
        let client = prop(msg, M, "client")?.to_owned();
        let rev = msg
            .property("rev")
            .filter(|r| !r.is_empty())
            .map(str::to_owned);
        let body = CheckpointBody::from_value(&decode_body(profile, msg, M)?)?;
        Ok(SetCheckpoint { client, rev, body })
    }
}

/// `subChanges`: asks the peer for its changes feed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubChanges {
    /// Start after this sequence of the peer's feed.
    pub since: Option<RemoteSeq>,
    /// Keep sending live changes after catching up.
    pub continuous: bool,
    /// Preferred number of changes per `changes` message.
    pub batch: Option<usize>,
    /// Skip deleted documents (a first pull into an empty database).
    pub active_only: bool,
    /// Only these documents.
    pub doc_ids: Option<Vec<String>>,
}

impl SubChanges {
    /// As a BLIP request. Properties as LiteCore 3.0 sends them.
    pub fn to_message(&self, profile: Profile) -> Message {
        let mut msg = Message::request(names::SUB_CHANGES);
        if let Some(since) = &self.since {
            msg = msg.with_property("since", since.to_string());
        }
        if self.continuous {
            msg = msg.with_property("continuous", "true");
        }
        if let Some(batch) = self.batch {
            msg = msg.with_property("batch", batch.to_string());
        }
        msg = msg.with_property("versioning", "rev-trees");
        if self.active_only {
            msg = msg.with_property("activeOnly", "true");
        }
        if let Some(ids) = &self.doc_ids {
            let list = Value::Array(ids.iter().cloned().map(Value::String).collect());
            let mut body = Map::new();
            body.insert("docIDs".into(), list);
            msg = msg.with_body(profile.encode_value(&Value::Object(body)));
        }
        msg
    }

    /// From a BLIP request.
    pub fn from_message(msg: &Message, profile: Profile) -> Result<Self, CatalogueError> {
        const M: &str = names::SUB_CHANGES;
        let since = match msg.property("since") {
            None | Some("") => None,
            Some(s) => {
                Some(RemoteSeq::from_property(s).ok_or_else(|| bad_prop(M, "since", "empty"))?)
            }
        };
        let batch = match msg.property("batch") {
            None => None,
            Some(b) => Some(b.parse::<usize>().map_err(|e| bad_prop(M, "batch", e))?),
        };
        if let Some(v) = msg.property("versioning") {
            if v != "rev-trees" {
                return Err(bad_prop(
                    M,
                    "versioning",
                    format!("{v:?} is not supported (rev-trees only)"),
                ));
            }
        }
        let body = decode_body(profile, msg, M)?;
        let doc_ids = match body.get("docIDs") {
            None => None,
            Some(list) => {
                let items = list
                    .as_array()
                    .ok_or_else(|| bad_body(M, "docIDs is not an array"))?;
                let ids = items
                    .iter()
                    .map(|v| {
                        v.as_str()
                            .map(str::to_owned)
                            .ok_or_else(|| bad_body(M, "a docID is not a string"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Some(ids)
            }
        };
        Ok(SubChanges {
            since,
            continuous: bool_prop(msg, "continuous"),
            batch,
            active_only: bool_prop(msg, "activeOnly"),
            doc_ids,
        })
    }
}

/// A `rev` message: one revision with its history and body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RevMessage {
    /// The document ID.
    pub doc_id: String,
    /// The revision.
    pub rev: RevId,
    /// Its ancestors, newest first (the `history` property).
    pub history: Vec<RevId>,
    /// Whether it is a deletion.
    pub deleted: bool,
    /// The sender's sequence for it (pull) or the pusher's local sequence (push).
    pub sequence: Option<RemoteSeq>,
    /// The revision the body is a delta against, if it is a delta.
    pub delta_src: Option<RevId>,
    /// Set by an active pusher: the receiver must not create a conflict.
    pub no_conflicts: bool,
    /// The body as on the wire (JSON or CBOR per profile; a delta when `delta_src` is set).
    pub body: Vec<u8>,
}

impl RevMessage {
    /// As a BLIP request. Property order as LiteCore writes it.
    pub fn to_message(&self) -> Message {
        self.message_without_body().with_body(self.body.clone())
    }

    /// [`RevMessage::to_message`], moving the body into the message instead of copying it
    /// (`self.body` is left empty).
    pub fn take_message(&mut self) -> Message {
        self.message_without_body()
            .with_body(std::mem::take(&mut self.body))
    }

    fn message_without_body(&self) -> Message {
        let mut msg = Message::request(names::REV)
            .with_property("id", &self.doc_id)
            .with_property("rev", self.rev.as_str());
        if let Some(seq) = &self.sequence {
            msg = msg.with_property_display("sequence", seq);
        }
        if self.no_conflicts {
            msg = msg.with_property("noconflicts", "1");
        }
        if self.deleted {
            msg = msg.with_property("deleted", "1");
        }
        if !self.history.is_empty() {
            let list: Vec<&str> = self.history.iter().map(RevId::as_str).collect();
            msg = msg.with_property("history", list.join(","));
        }
        if let Some(src) = &self.delta_src {
            msg = msg.with_property("deltaSrc", src.as_str());
        }
        msg
    }

    /// From a BLIP request.
    pub fn from_message(msg: &Message) -> Result<Self, CatalogueError> {
        let rev = Self::from_properties(msg)?;
        Ok(RevMessage {
            body: msg.body.clone(),
            ..rev
        })
    }

    /// [`RevMessage::from_message`], keeping the message's body instead of copying it.
    pub fn from_owned(msg: Message) -> Result<Self, CatalogueError> {
        let rev = Self::from_properties(&msg)?;
        Ok(RevMessage {
            body: msg.body,
            ..rev
        })
    }

    /// Everything but the body.
    fn from_properties(msg: &Message) -> Result<Self, CatalogueError> {
        const M: &str = names::REV;
        let doc_id = prop(msg, M, "id")?;
        if doc_id.is_empty() {
            return Err(bad_prop(M, "id", "empty"));
        }
        let rev = rev_prop(msg, M, "rev")?;
        let history = match msg.property("history") {
            None | Some("") => Vec::new(),
            // Spaces around entries and empty entries (a trailing comma) are tolerated.
            Some(list) => list
                .split(',')
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(|r| RevId::parse(r).map_err(|e| bad_prop(M, "history", e)))
                .collect::<Result<_, _>>()?,
        };
        let delta_src = match msg.property("deltaSrc") {
            None | Some("") => None,
            Some(_) => Some(rev_prop(msg, M, "deltaSrc")?),
        };
        Ok(RevMessage {
            doc_id: doc_id.to_owned(),
            rev,
            history,
            deleted: bool_prop(msg, "deleted"),
            sequence: msg.property("sequence").and_then(RemoteSeq::from_property),
            delta_src,
            no_conflicts: bool_prop(msg, "noconflicts"),
            body: Vec::new(),
        })
    }
}

/// A `norev` message: the sender cannot send a revision it announced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoRev {
    /// The document ID.
    pub doc_id: String,
    /// The revision.
    pub rev: RevId,
    /// The sender's sequence for it.
    pub sequence: Option<RemoteSeq>,
    /// An HTTP-style status (404 gone, 403 forbidden, …).
    pub error: Option<u16>,
    /// A human-readable reason.
    pub reason: Option<String>,
}

impl NoRev {
    /// As a BLIP request (sent no-reply).
    pub fn to_message(&self) -> Message {
        let mut msg = Message::request(names::NO_REV)
            .with_property("id", &self.doc_id)
            .with_property("rev", self.rev.as_str());
        if let Some(seq) = &self.sequence {
            msg = msg.with_property_display("sequence", seq);
        }
        if let Some(code) = self.error {
            msg = msg.with_property("error", code.to_string());
        }
        if let Some(reason) = &self.reason {
            msg = msg.with_property("reason", reason.replace('\0', " "));
        }
        msg
    }

    /// From a BLIP request.
    pub fn from_message(msg: &Message) -> Result<Self, CatalogueError> {
        const M: &str = names::NO_REV;
        Ok(NoRev {
            doc_id: prop(msg, M, "id")?.to_owned(),
            rev: rev_prop(msg, M, "rev")?,
            sequence: msg.property("sequence").and_then(RemoteSeq::from_property),
            error: msg.property("error").and_then(|e| e.parse().ok()),
            reason: msg.property("reason").map(str::to_owned),
        })
    }
}
