//! The bodies of `changes` and `proposeChanges` messages, their replies' bodies and properties.

use crate::blip::Message;
use crate::rev::RevId;
use crate::value::{Map, Value};

use super::{CatalogueError, Profile, RemoteSeq, bad_body, int, names, rev_value};

/// One row of a `changes` message: `[seq, docID, revID, deleted?, bodySize?]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeRow {
    /// The sender's sequence.
    pub seq: RemoteSeq,
    /// The document ID.
    pub doc_id: String,
    /// The current revision.
    pub rev: RevId,
    /// Whether it is a deletion.
    pub deleted: bool,
    /// Size of the body in bytes (a hint).
    pub body_size: u64,
}

/// One row of a `proposeChanges` message: `[docID, revID, serverRevID?, bodySize?]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProposedRow {
    /// The document ID.
    pub doc_id: String,
    /// The revision to push.
    pub rev: RevId,
    /// The revision the pusher believes the receiver has (its remote ancestor), if any.
    pub server_rev: Option<RevId>,
    /// Size of the body in bytes (a hint).
    pub body_size: u64,
}

/// Encodes `changes` rows (body of a `changes` message).
pub fn encode_changes(profile: Profile, rows: &[ChangeRow]) -> Vec<u8> {
    let list = rows
        .iter()
        .map(|r| {
            Value::Array(vec![
                r.seq.to_value(),
                Value::String(r.doc_id.clone()),
                Value::String(r.rev.as_str().to_owned()),
                int(u64::from(r.deleted)),
                int(r.body_size),
            ])
        })
        .collect();
    profile.encode_value(&Value::Array(list))
}

/// Decodes the body of a `changes` message. An empty body or `[]` means "caught up".
pub fn decode_changes(profile: Profile, body: &[u8]) -> Result<Vec<ChangeRow>, CatalogueError> {
    const M: &str = names::CHANGES;
    decode_rows(profile, body, M, 3, |items| {
        let seq = RemoteSeq::from_value(&items[0]).ok_or_else(|| bad_body(M, "bad sequence"))?;
        let doc_id = items[1]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad_body(M, "bad docID"))?;
        let rev = rev_value(&items[2], M)?;
        let deleted = items.get(3).is_some_and(truthy);
        let body_size = items.get(4).and_then(Value::as_u64).unwrap_or(0);
        Ok(ChangeRow {
            seq,
            doc_id: doc_id.to_owned(),
            rev,
            deleted,
            body_size,
        })
    })
}

/// Encodes `proposeChanges` rows.
pub fn encode_proposed(profile: Profile, rows: &[ProposedRow]) -> Vec<u8> {
    let list = rows
        .iter()
        .map(|r| {
            Value::Array(vec![
                Value::String(r.doc_id.clone()),
                Value::String(r.rev.as_str().to_owned()),
                Value::String(
                    r.server_rev
                        .as_ref()
                        .map(|s| s.as_str().to_owned())
                        .unwrap_or_default(),
                ),
                int(r.body_size),
            ])
        })
        .collect();
    profile.encode_value(&Value::Array(list))
}

/// Decodes the body of a `proposeChanges` message.
pub fn decode_proposed(profile: Profile, body: &[u8]) -> Result<Vec<ProposedRow>, CatalogueError> {
    const M: &str = names::PROPOSE_CHANGES;
    decode_rows(profile, body, M, 2, |items| {
        let doc_id = items[0]
            .as_str()
            .filter(|s| !s.is_empty())
            .ok_or_else(|| bad_body(M, "bad docID"))?;
        let rev = rev_value(&items[1], M)?;
        let server_rev = match items.get(2) {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.is_empty() => None,
            Some(v) => Some(rev_value(v, M)?),
        };
        let body_size = items.get(3).and_then(Value::as_u64).unwrap_or(0);
        Ok(ProposedRow {
            doc_id: doc_id.to_owned(),
            rev,
            server_rev,
            body_size,
        })
    })
}

/// Decodes a list body (`changes`, `proposeChanges`) row by row: an empty body or `[]` is no
/// rows; every row must be an array of at least `min_items`.
fn decode_rows<T>(
    profile: Profile,
    body: &[u8],
    message: &'static str,
    min_items: usize,
    mut row: impl FnMut(&[Value]) -> Result<T, CatalogueError>,
) -> Result<Vec<T>, CatalogueError> {
    let value = profile
        .decode_value(body)
        .map_err(|e| bad_body(message, e))?;
    let rows = match &value {
        Value::Null => return Ok(Vec::new()),
        Value::Array(rows) => rows,
        _ => return Err(bad_body(message, "not an array")),
    };
    rows.iter()
        .map(|r| {
            let items = r
                .as_array()
                .ok_or_else(|| bad_body(message, "a row is not an array"))?;
            if items.len() < min_items {
                return Err(bad_body(
                    message,
                    format!("a row has fewer than {min_items} items"),
                ));
            }
            row(items)
        })
        .collect()
}

fn truthy(value: &Value) -> bool {
    match value {
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_u64().is_some_and(|n| n != 0),
        _ => false,
    }
}

/// The answer to one row of a `changes` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeAnswer {
    /// Not wanted (`0`): already have it, or filtered out.
    Skip,
    /// Send it; these are ancestors the receiver has (for `history` and delta bases).
    Send {
        /// Known ancestor revisions, newest first.
        known: Vec<RevId>,
    },
}

/// Encodes the body of a `changes` reply; trailing skips are omitted, as LiteCore does.
pub fn encode_change_answers(profile: Profile, answers: &[ChangeAnswer]) -> Vec<u8> {
    let keep = answers
        .iter()
        .rposition(|a| *a != ChangeAnswer::Skip)
        .map_or(0, |i| i + 1);
    let list = answers[..keep]
        .iter()
        .map(|a| match a {
            ChangeAnswer::Skip => int(0),
            ChangeAnswer::Send { known } => Value::Array(
                known
                    .iter()
                    .map(|r| Value::String(r.as_str().to_owned()))
                    .collect(),
            ),
        })
        .collect();
    profile.encode_value(&Value::Array(list))
}

/// Decodes the body of a `changes` reply for `count` rows (missing trailing entries are skips).
pub fn decode_change_answers(
    profile: Profile,
    body: &[u8],
    count: usize,
) -> Result<Vec<ChangeAnswer>, CatalogueError> {
    const M: &str = "changes reply";
    let value = profile.decode_value(body).map_err(|e| bad_body(M, e))?;
    let items: &[Value] = match &value {
        Value::Null => &[],
        Value::Array(items) => items,
        _ => return Err(bad_body(M, "not an array")),
    };
    if items.len() > count {
        return Err(bad_body(M, "more answers than changes"));
    }
    let mut out = Vec::with_capacity(count);
    for item in items {
        out.push(match item {
            Value::Array(known) => ChangeAnswer::Send {
                known: known
                    .iter()
                    .map(|r| rev_value(r, M))
                    .collect::<Result<_, _>>()?,
            },
            Value::Number(n) if n.as_u64() == Some(0) => ChangeAnswer::Skip,
            _ => return Err(bad_body(M, "an answer is neither 0 nor an array")),
        });
    }
    out.resize(count, ChangeAnswer::Skip);
    Ok(out)
}

/// The answer to one row of a `proposeChanges` message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProposalAnswer {
    /// `0`: send it.
    Send,
    /// `304`: the receiver already has it.
    AlreadyHave,
    /// `409`: it conflicts with the receiver's current revision (given when known).
    Conflict {
        /// The receiver's current revision.
        current: Option<RevId>,
    },
    /// Any other status (an error for this document).
    Status(u16),
}

/// Encodes the body of a `proposeChanges` reply; trailing zeros are omitted.
pub fn encode_proposal_answers(profile: Profile, answers: &[ProposalAnswer]) -> Vec<u8> {
    let keep = answers
        .iter()
        .rposition(|a| *a != ProposalAnswer::Send)
        .map_or(0, |i| i + 1);
    let list = answers[..keep]
        .iter()
        .map(|a| match a {
            ProposalAnswer::Send => int(0),
            ProposalAnswer::AlreadyHave => int(304),
            ProposalAnswer::Conflict { current: None } => int(409),
            ProposalAnswer::Conflict { current: Some(rev) } => {
                let mut map = Map::new();
                map.insert("status".into(), int(409));
                map.insert("rev".into(), Value::String(rev.as_str().to_owned()));
                Value::Object(map)
            }
            ProposalAnswer::Status(code) => int(u64::from(*code)),
        })
        .collect();
    profile.encode_value(&Value::Array(list))
}

/// Decodes the body of a `proposeChanges` reply for `count` rows.
pub fn decode_proposal_answers(
    profile: Profile,
    body: &[u8],
    count: usize,
) -> Result<Vec<ProposalAnswer>, CatalogueError> {
    const M: &str = "proposeChanges reply";
    let value = profile.decode_value(body).map_err(|e| bad_body(M, e))?;
    let items: &[Value] = match &value {
        Value::Null => &[],
        Value::Array(items) => items,
        _ => return Err(bad_body(M, "not an array")),
    };
    if items.len() > count {
        return Err(bad_body(M, "more answers than proposals"));
    }
    let status = |code: u64, current: Option<RevId>| match code {
        0 => ProposalAnswer::Send,
        304 => ProposalAnswer::AlreadyHave,
        409 => ProposalAnswer::Conflict { current },
        other => ProposalAnswer::Status(u16::try_from(other).unwrap_or(u16::MAX)),
    };
    let mut out = Vec::with_capacity(count);
    for item in items {
        out.push(match item {
            Value::Number(n) => status(
                n.as_u64().ok_or_else(|| bad_body(M, "negative status"))?,
                None,
            ),
            Value::Object(map) => {
                let code = map
                    .get("status")
                    .and_then(Value::as_u64)
                    .ok_or_else(|| bad_body(M, "no status"))?;
                let current = match map.get("rev") {
                    Some(r) => Some(rev_value(r, M)?),
                    None => None,
                };
                status(code, current)
            }
            _ => return Err(bad_body(M, "an answer is neither a number nor an object")),
        });
    }
    out.resize(count, ProposalAnswer::Send);
    Ok(out)
}

/// A `changes` request carrying `rows` (sent urgent and, unless empty, compressed; an empty
/// list is the no-reply "caught up" message).
pub fn changes_message(profile: Profile, rows: &[ChangeRow]) -> Message {
    Message::request(names::CHANGES).with_body(encode_changes(profile, rows))
}

/// A `proposeChanges` request carrying `rows`, with `conflictIncludesRev: true` as LiteCore
/// 3.0 sends it (a 409 answer then names the receiver's current revision).
pub fn propose_changes_message(profile: Profile, rows: &[ProposedRow]) -> Message {
    Message::request(names::PROPOSE_CHANGES)
        .with_property("conflictIncludesRev", "true")
        .with_body(encode_proposed(profile, rows))
}

/// The properties of a reply to `changes` or `proposeChanges`: what the receiver accepts in the
/// `rev` messages that follow. LiteCore writes `maxHistory`, `blobs`, `deltas` in that order
/// (`deltas` only when delta sync is enabled, and only on the first reply of a connection).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct AnswerProperties {
    /// The longest `history` the receiver wants (`maxHistory`).
    pub max_history: Option<usize>,
    /// The receiver handles blobs (`blobs: true`).
    pub blobs: bool,
    /// The receiver accepts deltas (`deltas: true`).
    pub deltas: bool,
}

impl AnswerProperties {
    /// Sets these properties on a reply, in LiteCore's order; absent ones are not written.
    pub fn apply(&self, mut reply: Message) -> Message {
        if let Some(max) = self.max_history {
            reply = reply.with_property("maxHistory", max.to_string());
        }
        if self.blobs {
            reply = reply.with_property("blobs", "true");
        }
        if self.deltas {
            reply = reply.with_property("deltas", "true");
        }
        reply
    }

    /// Reads them from a reply. A malformed `maxHistory` is an error; unknown properties are
    /// ignored.
    pub fn from_message(reply: &Message) -> Result<Self, CatalogueError> {
        let max_history = match reply.property("maxHistory") {
            None => None,
            Some(text) => {
                Some(
                    text.trim()
                        .parse::<usize>()
                        .map_err(|e| CatalogueError::BadProperty {
                            message: "changes reply",
                            property: "maxHistory",
                            reason: e.to_string(),
                        })?,
                )
            }
        };
        let flag = |key| matches!(reply.property(key), Some("true" | "1"));
        Ok(AnswerProperties {
            max_history,
            blobs: flag("blobs"),
            deltas: flag("deltas"),
        })
    }
}
