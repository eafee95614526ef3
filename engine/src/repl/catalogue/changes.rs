//! The bodies of `changes` and `proposeChanges` messages, their replies' bodies and properties.

use crate::blip::Message;
use crate::rev::RevId;
use crate::value::cbor::{
    DirectReader, MAJOR_ARRAY, MAJOR_TEXT, MAJOR_UINT, write_head, write_text,
};
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
    match profile {
        // Written directly: the same bytes as the `Value` (see the tests), without building it.
        Profile::Ferry1 => {
            let mut out =
                Vec::with_capacity(rows_capacity(rows.iter().map(|r| (&r.doc_id, &r.rev))));
            write_head(MAJOR_ARRAY, rows.len() as u64, &mut out);
            for r in rows {
                write_head(MAJOR_ARRAY, 5, &mut out);
                match r.seq.as_number() {
                    Some(n) => write_head(MAJOR_UINT, n, &mut out),
                    None => write_text(&r.seq.to_string(), &mut out),
                }
                write_text(&r.doc_id, &mut out);
                write_text(r.rev.as_str(), &mut out);
                write_head(MAJOR_UINT, u64::from(r.deleted), &mut out);
                write_head(MAJOR_UINT, r.body_size, &mut out);
            }
            out
        }
        Profile::CbMobile3 => profile.encode_value(&changes_value(rows)),
    }
}

/// `changes` rows as a value: `[[seq, docID, revID, deleted, bodySize], …]`.
fn changes_value(rows: &[ChangeRow]) -> Value {
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
    Value::Array(list)
}

/// A capacity that holds a directly encoded list of these rows (document ID, revision ID and
/// a few small heads and numbers each).
fn rows_capacity<'a>(rows: impl Iterator<Item = (&'a String, &'a RevId)>) -> usize {
    rows.map(|(doc, rev)| doc.len() + rev.as_str().len() + 24)
        .sum::<usize>()
        + 9
}

/// Decodes the body of a `changes` message. An empty body or `[]` means "caught up".
pub fn decode_changes(profile: Profile, body: &[u8]) -> Result<Vec<ChangeRow>, CatalogueError> {
    if profile == Profile::Ferry1
        && let Some(rows) = changes_direct(body)
    {
        return Ok(rows);
    }
    changes_general(profile, body)
}

/// [`decode_changes`]'s fast path for `Ferry_1` (see [`decode_direct`]).
fn changes_direct(body: &[u8]) -> Option<Vec<ChangeRow>> {
    decode_direct(body, 3..=5, |r, items| {
        let seq = RemoteSeq::number(r.uint()?);
        let doc_id = r.text().filter(|s| !s.is_empty())?.to_owned();
        let rev = RevId::parse(r.text()?).ok()?;
        let deleted = match items {
            3 => false,
            _ if r.peek_major() == Some(MAJOR_UINT) => r.uint()? != 0,
            _ => r.simple()??,
        };
        let body_size = if items == 5 { r.uint()? } else { 0 };
        Some(ChangeRow {
            seq,
            doc_id,
            rev,
            deleted,
            body_size,
        })
    })
}

/// [`decode_changes`] through [`Value`], for every profile and form.
fn changes_general(profile: Profile, body: &[u8]) -> Result<Vec<ChangeRow>, CatalogueError> {
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
    match profile {
        // Written directly: the same bytes as the `Value` (see the tests), without building it.
        Profile::Ferry1 => {
            let capacity = rows_capacity(rows.iter().map(|r| (&r.doc_id, &r.rev)))
                + rows
                    .iter()
                    .filter_map(|r| r.server_rev.as_ref())
                    .map(|r| r.as_str().len())
                    .sum::<usize>();
            let mut out = Vec::with_capacity(capacity);
            write_head(MAJOR_ARRAY, rows.len() as u64, &mut out);
            for r in rows {
                write_head(MAJOR_ARRAY, 4, &mut out);
                write_text(&r.doc_id, &mut out);
                write_text(r.rev.as_str(), &mut out);
                write_text(r.server_rev.as_ref().map_or("", RevId::as_str), &mut out);
                write_head(MAJOR_UINT, r.body_size, &mut out);
            }
            out
        }
        Profile::CbMobile3 => profile.encode_value(&proposed_value(rows)),
    }
}

/// `proposeChanges` rows as a value: `[[docID, revID, serverRevID or "", bodySize], …]`.
fn proposed_value(rows: &[ProposedRow]) -> Value {
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
    Value::Array(list)
}

/// Decodes the body of a `proposeChanges` message.
pub fn decode_proposed(profile: Profile, body: &[u8]) -> Result<Vec<ProposedRow>, CatalogueError> {
    if profile == Profile::Ferry1
        && let Some(rows) = proposed_direct(body)
    {
        return Ok(rows);
    }
    proposed_general(profile, body)
}

/// [`decode_proposed`]'s fast path for `Ferry_1` (see [`decode_direct`]).
fn proposed_direct(body: &[u8]) -> Option<Vec<ProposedRow>> {
    decode_direct(body, 2..=4, |r, items| {
        let doc_id = r.text().filter(|s| !s.is_empty())?.to_owned();
        let rev = RevId::parse(r.text()?).ok()?;
        let server_rev = match items {
            2 => None,
            _ if r.peek_major() == Some(MAJOR_TEXT) => match r.text()? {
                "" => None,
                text => Some(RevId::parse(text).ok()?),
            },
            _ => match r.simple()? {
                None => None,
                Some(_) => return None,
            },
        };
        let body_size = if items == 4 { r.uint()? } else { 0 };
        Some(ProposedRow {
            doc_id,
            rev,
            server_rev,
            body_size,
        })
    })
}

/// [`decode_proposed`] through [`Value`], for every profile and form.
fn proposed_general(profile: Profile, body: &[u8]) -> Result<Vec<ProposedRow>, CatalogueError> {
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

/// The fast path of a `Ferry_1` list body: rows of `items` items each, read straight from the
/// CBOR by `row`. `None` for anything it does not read exactly (another form, an error): the
/// general path [`decode_rows`] then decides, so both accept the same bodies and give the same
/// rows.
fn decode_direct<T>(
    body: &[u8],
    items: std::ops::RangeInclusive<u64>,
    mut row: impl FnMut(&mut DirectReader<'_>, u64) -> Option<T>,
) -> Option<Vec<T>> {
    let mut r = DirectReader::new(body);
    let count = r.head(MAJOR_ARRAY)?;
    // Every row takes at least 4 bytes: never reserve more than the body could hold.
    let mut rows = Vec::with_capacity(usize::try_from(count).ok()?.min(body.len() / 4));
    for _ in 0..count {
        let n = r.head(MAJOR_ARRAY)?;
        if !items.contains(&n) {
            return None;
        }
        rows.push(row(&mut r, n)?);
    }
    r.is_empty().then_some(rows)
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

/// A `changes` request carrying `rows` (sent urgent and, unless empty, compressed under
/// `CBMobile_3`; an empty list is the no-reply "caught up" message).
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

#[cfg(test)]
mod direct_tests {
    //! The `Ferry_1` fast paths against the general ones: the same bytes out, the same rows
    //! (or the same error) in.
    use super::*;

    fn rev(text: &str) -> RevId {
        RevId::parse(text).expect("a valid revision ID")
    }

    fn value_bytes(json: &str) -> Vec<u8> {
        Value::from_json(json.as_bytes())
            .expect("test JSON")
            .to_cbor()
    }

    /// Rows whose numbers and strings cross every CBOR head width.
    fn change_rows() -> Vec<ChangeRow> {
        let long_id = "d".repeat(300);
        [
            (1, "a", "1-ab", false, 0),
            (23, "é-unicode", "2-abcd", true, 23),
            (24, &"x".repeat(23), "3-00ff", false, 24),
            (255, &"y".repeat(24), "10-0a0b", true, 255),
            (256, &long_id, "11-ffee", false, 65_535),
            (65_536, "doc", "12-0011", false, 65_536),
            (u64::from(u32::MAX) + 1, "doc2", "13-2233", true, 1 << 40),
        ]
        .into_iter()
        .map(|(seq, doc, r, deleted, size)| ChangeRow {
            seq: RemoteSeq::number(seq),
            doc_id: doc.to_owned(),
            rev: rev(r),
            deleted,
            body_size: size,
        })
        .collect()
    }

    fn proposed_rows() -> Vec<ProposedRow> {
        change_rows()
            .into_iter()
            .enumerate()
            .map(|(i, r)| ProposedRow {
                doc_id: r.doc_id,
                server_rev: (i % 2 == 1).then(|| rev("1-99")),
                rev: r.rev,
                body_size: r.body_size,
            })
            .collect()
    }

    #[test]
    fn ferry_change_lists_are_written_as_their_values() {
        let rows = change_rows();
        let mut text_seq = rows.clone();
        text_seq[0].seq = RemoteSeq::from_property("a:12").expect("a sequence");
        for rows in [&rows[..], &text_seq[..], &[]] {
            assert_eq!(
                encode_changes(Profile::Ferry1, rows),
                changes_value(rows).to_cbor()
            );
        }
        let proposed = proposed_rows();
        for rows in [&proposed[..], &[]] {
            assert_eq!(
                encode_proposed(Profile::Ferry1, rows),
                proposed_value(rows).to_cbor()
            );
        }
    }

    #[test]
    fn the_direct_decoders_read_what_ferry_writes() {
        let rows = change_rows();
        let body = encode_changes(Profile::Ferry1, &rows);
        assert_eq!(changes_direct(&body), Some(rows.clone()));
        assert_eq!(changes_general(Profile::Ferry1, &body), Ok(rows));
        let proposed = proposed_rows();
        let body = encode_proposed(Profile::Ferry1, &proposed);
        assert_eq!(proposed_direct(&body), Some(proposed.clone()));
        assert_eq!(proposed_general(Profile::Ferry1, &body), Ok(proposed));
    }

    #[test]
    fn other_forms_and_errors_get_the_general_paths_answer() {
        let changes = [
            // Other forms the direct path leaves to the general one.
            value_bytes(r#"[["a:12", "doc", "1-ab", 1, 5]]"#),
            value_bytes(r#"[[1, "doc", "1-ab", true, 5], [2, "doc2", "2-cd", false]]"#),
            value_bytes(r#"[[1, "doc", "1-ab", null, 5]]"#),
            value_bytes(r#"[[1, "doc", "1-ab", 0, 5, "extra"]]"#),
            value_bytes(r#"[[1, "doc", "1-ab", 0, 1.5]]"#),
            value_bytes("null"),
            vec![
                0x98, 0x01, 0x83, 0x01, 0x61, b'd', 0x64, b'1', b'-', b'a', b'b',
            ],
            vec![
                0x9f, 0x83, 0x01, 0x61, b'd', 0x64, b'1', b'-', b'a', b'b', 0xff,
            ],
            Vec::new(),
            // Errors.
            value_bytes(r#"[[1, "", "1-ab"]]"#),
            value_bytes(r#"[[1, "doc", "1-xyz"]]"#),
            value_bytes(r#"[[1, "doc"]]"#),
            value_bytes(r#"[[-1, "doc", "1-ab"]]"#),
            value_bytes(r#"{"a": 1}"#),
            [value_bytes(r#"[[1, "doc", "1-ab"]]"#), vec![0x00]].concat(),
            value_bytes(r#"[[1, "doc", "1-ab"]]"#)[..6].to_vec(),
            vec![
                0x81, 0x83, 0x01, 0x62, 0xff, 0xfe, 0x64, b'1', b'-', b'a', b'b',
            ],
        ];
        for body in &changes {
            assert_eq!(
                decode_changes(Profile::Ferry1, body),
                changes_general(Profile::Ferry1, body),
                "changes body {body:02x?}"
            );
        }
        let proposed = [
            value_bytes(r#"[["doc", "2-ab", null, 5], ["doc2", "1-cd"]]"#),
            value_bytes(r#"[["doc", "2-ab", "", 5, "extra"]]"#),
            value_bytes(r#"[["doc", "2-ab", "1-ff", -1]]"#),
            value_bytes(r#"[["doc", "2-ab", true]]"#),
            value_bytes(r#"[["doc", "2-ab", "bad"]]"#),
            value_bytes(r#"[["doc"]]"#),
            value_bytes(r#"[["", "2-ab"]]"#),
            [value_bytes(r#"[["doc", "2-ab"]]"#), vec![0xf6]].concat(),
        ];
        for body in &proposed {
            assert_eq!(
                decode_proposed(Profile::Ferry1, body),
                proposed_general(Profile::Ferry1, body),
                "proposeChanges body {body:02x?}"
            );
        }
        // Some of them are accepted, some refused: both kinds were compared.
        assert!(
            changes
                .iter()
                .any(|b| decode_changes(Profile::Ferry1, b).is_ok())
        );
        assert!(
            changes
                .iter()
                .any(|b| decode_changes(Profile::Ferry1, b).is_err())
        );
        assert!(
            proposed
                .iter()
                .any(|b| decode_proposed(Profile::Ferry1, b).is_ok())
        );
        assert!(
            proposed
                .iter()
                .any(|b| decode_proposed(Profile::Ferry1, b).is_err())
        );
    }
}
