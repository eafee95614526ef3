//! Blob transfer during replication, shared by both session roles.
//!
//! - **Receiving a `rev`**: before the revision is stored, every blob its body references and
//!   this database lacks is fetched from the sender with `getAttachment`; the revision waits
//!   ("parked") until all of them are verified (length and SHA-1) and committed, and only then
//!   joins the insert batch — so the `rev` is answered only when it and its blobs are stored. A
//!   blob already stored is never fetched; a blob needed by several parked revisions is fetched
//!   once. If a fetch fails (the sender lacks the blob, the bytes are corrupt, the blob is too
//!   large, the store fails), every revision waiting for it is refused and nothing of the blob
//!   is kept.
//! - **Serving**: `getAttachment` and `proveAttachment` are answered from the store, for blobs a
//!   kept revision of the named document references.
//!
//! With `CBMobile_3` (Couchbase Lite) a blob comes whole in one reply, as Couchbase Lite sends
//! it. Between Ferry peers (`Ferry_1`) the receiver asks for it in ranges (`offset`,
//! `maxLength`), one range in flight per blob, so neither side ever holds more than one range
//! of a blob in memory and the bytes go into the store's staging area as they arrive.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Instant;

use crate::blip::{BlipError, Connection, Message, MessageNumber, SendError, SendOptions};
use crate::blob::{
    AttachmentProof, BlobDigest, BlobError, BlobHasher, BlobRef, blob_refs, digest_to_string,
    parse_digest,
};
use crate::db::{Database, DbError};
use crate::store::{StagingId, Store};
use crate::value::Value;

use super::catalogue::names;
use super::{Profile, SessionError};

/// Bytes asked for per `getAttachment` range between Ferry peers, and the most served per
/// ranged request.
pub(crate) const RANGE: usize = 1 << 20;

/// Blobs fetched at once per session; more wait their turn.
const MAX_TRANSFERS: usize = 4;

/// Why a received revision could not be stored: the HTTP status its `rev` is refused with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BlobFailure {
    pub(crate) status: i64,
    pub(crate) message: String,
}

impl BlobFailure {
    fn from_blob(e: &BlobError) -> Self {
        let status = match e {
            BlobError::TooLarge { .. } => 413,
            BlobError::NotFound(_) => 404,
            _ => 400,
        };
        BlobFailure {
            status,
            message: e.to_string(),
        }
    }

    fn from_db(e: &DbError) -> Self {
        match e {
            DbError::Blob(b) => Self::from_blob(b),
            DbError::Store(s) if s.is_transient() => BlobFailure {
                status: 503,
                message: e.to_string(),
            },
            _ => BlobFailure {
                status: 500,
                message: e.to_string(),
            },
        }
    }

    /// Whether the sender may succeed by sending the revision again later.
    pub(crate) fn is_transient(&self) -> bool {
        self.status >= 500
    }
}

/// A parked revision whose blobs arrived, or that failed.
#[derive(Debug)]
pub(crate) enum Settled<T> {
    /// Every blob is stored: insert the revision.
    Ready(T),
    /// A blob could not be fetched: refuse the revision.
    Failed(T, BlobFailure),
}

struct Transfer {
    blob: BlobRef,
    /// The document named in `getAttachment` (the first revision that needed the blob).
    doc_id: String,
    /// Opened when the first bytes arrive.
    staging: Option<StagingId>,
    hasher: BlobHasher,
    /// Parked revisions waiting for this blob.
    waiting: Vec<u64>,
    started: bool,
}

struct Parked<T> {
    item: T,
    doc_id: String,
    missing: BTreeSet<BlobDigest>,
}

/// The blobs a session is fetching and the revisions waiting for them.
pub(crate) struct BlobFetcher<T> {
    profile: Profile,
    max_blob_size: u64,
    transfers: BTreeMap<BlobDigest, Transfer>,
    queue: VecDeque<BlobDigest>,
    requests: BTreeMap<MessageNumber, (BlobDigest, Instant)>,
    parked: BTreeMap<u64, Parked<T>>,
    next_park: u64,
}

impl<T> std::fmt::Debug for BlobFetcher<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BlobFetcher")
            .field("transfers", &self.transfers.len())
            .field("parked", &self.parked.len())
            .finish_non_exhaustive()
    }
}

impl<T> BlobFetcher<T> {
    pub(crate) fn new(profile: Profile) -> Self {
        BlobFetcher {
            profile,
            max_blob_size: u64::MAX,
            transfers: BTreeMap::new(),
            queue: VecDeque::new(),
            requests: BTreeMap::new(),
            parked: BTreeMap::new(),
            next_park: 0,
        }
    }

    /// Revisions waiting for blobs.
    pub(crate) fn parked(&self) -> usize {
        self.parked.len()
    }

    /// When the oldest `getAttachment` awaiting its reply was sent.
    pub(crate) fn oldest_request(&self) -> Option<Instant> {
        self.requests.values().map(|(_, at)| *at).min()
    }

    /// The blobs `body` (deterministic CBOR) references that the database lacks. A malformed
    /// reference or a blob above the size limit refuses the revision. `has_type_key`: whether
    /// some map of `body` has the key `@type`, if known.
    pub(crate) fn missing<S: Store>(
        &mut self,
        db: &Database<S>,
        body: &[u8],
        has_type_key: Option<bool>,
    ) -> Result<Vec<BlobRef>, BlobFailure> {
        self.max_blob_size = db.config().max_blob_size;
        // Most bodies hold no blob: skip decoding unless the key `@type` appears (if not
        // known, unless its CBOR text appears).
        if !has_type_key.unwrap_or_else(|| may_reference_blobs(body)) {
            return Ok(Vec::new());
        }
        let value = Value::from_cbor(body).map_err(|e| BlobFailure {
            status: 400,
            message: e.to_string(),
        })?;
        let mut missing = Vec::new();
        for blob in blob_refs(&value).map_err(|e| BlobFailure::from_blob(&e))? {
            if blob.length > self.max_blob_size {
                return Err(BlobFailure::from_blob(&BlobError::TooLarge {
                    length: blob.length,
                    max: self.max_blob_size,
                }));
            }
            if !db
                .has_blob(&blob.digest)
                .map_err(|e| BlobFailure::from_db(&e))?
            {
                missing.push(blob);
            }
        }
        Ok(missing)
    }

    /// Parks `item` until `missing` (from [`BlobFetcher::missing`], not empty) are stored,
    /// fetching those not already on their way.
    pub(crate) fn park(
        &mut self,
        now: Instant,
        item: T,
        doc_id: &str,
        missing: Vec<BlobRef>,
        conn: &mut Connection,
    ) -> Result<(), SendError> {
        let id = self.next_park;
        self.next_park += 1;
        let digests = missing.iter().map(|b| b.digest).collect();
        self.parked.insert(
            id,
            Parked {
                item,
                doc_id: doc_id.to_owned(),
                missing: digests,
            },
        );
        for blob in missing {
            let digest = blob.digest;
            let transfer = self.transfers.entry(digest).or_insert_with(|| {
                self.queue.push_back(digest);
                Transfer {
                    blob,
                    doc_id: doc_id.to_owned(),
                    staging: None,
                    hasher: BlobHasher::new(),
                    waiting: Vec::new(),
                    started: false,
                }
            });
            transfer.waiting.push(id);
        }
        self.start_queued(now, conn)
    }

    fn start_queued(&mut self, now: Instant, conn: &mut Connection) -> Result<(), SendError> {
        while self.requests.len() < MAX_TRANSFERS {
            let Some(digest) = self.queue.pop_front() else {
                return Ok(());
            };
            if let Some(transfer) = self.transfers.get_mut(&digest) {
                transfer.started = true;
                self.request(now, digest, conn)?;
            }
        }
        Ok(())
    }

    /// Sends the `getAttachment` for the next bytes of a transfer.
    fn request(
        &mut self,
        now: Instant,
        digest: BlobDigest,
        conn: &mut Connection,
    ) -> Result<(), SendError> {
        let Some(transfer) = self.transfers.get(&digest) else {
            return Ok(());
        };
        let mut msg = Message::request(names::GET_ATTACHMENT)
            .with_property("digest", digest_to_string(&digest))
            .with_property("docID", transfer.doc_id.clone());
        if compressible(transfer.blob.content_type.as_deref()) {
            msg = msg.with_property("compress", "true");
        }
        if self.profile == Profile::Ferry1 {
            msg = msg
                .with_property("offset", transfer.hasher.length().to_string())
                .with_property("maxLength", RANGE.to_string());
        }
        let number = conn.send_request(&msg, SendOptions::default())?;
        self.requests.insert(number, (digest, now));
        Ok(())
    }

    /// Handles the reply to request `number` if it is one of ours (`None` otherwise): stores
    /// the bytes, asks for more, or settles the revisions waiting for the blob.
    pub(crate) fn handle_reply<S: Store>(
        &mut self,
        now: Instant,
        number: MessageNumber,
        reply: &Result<Message, BlipError>,
        conn: &mut Connection,
        db: &mut Database<S>,
    ) -> Option<Result<Vec<Settled<T>>, SendError>> {
        let (digest, _) = self.requests.remove(&number)?;
        let outcome = match reply {
            Ok(msg) => self.receive(digest, &msg.body, db),
            Err(e) if e.code == 404 => Err(BlobFailure {
                status: 404,
                message: format!(
                    "the sender does not have blob {} for this document: {}",
                    digest_to_string(&digest),
                    e.message
                ),
            }),
            Err(e) => Err(BlobFailure {
                status: if e.code >= 500 { 503 } else { 502 },
                message: format!("fetching blob {} failed: {e}", digest_to_string(&digest)),
            }),
        };
        let mut settled = Vec::new();
        match outcome {
            Ok(false) => {
                if let Err(e) = self.request(now, digest, conn) {
                    return Some(Err(e));
                }
            }
            Ok(true) => self.finish(digest, None, db, &mut settled),
            Err(failure) if failure.status == 404 => {
                if let Err(e) =
                    self.refused_for_document(now, digest, failure, db, conn, &mut settled)
                {
                    return Some(Err(e));
                }
            }
            Err(failure) => self.finish(digest, Some(failure), db, &mut settled),
        }
        Some(self.start_queued(now, conn).map(|()| settled))
    }

    /// Adds received bytes to a transfer; `Ok(true)` once the blob is complete and stored.
    fn receive<S: Store>(
        &mut self,
        digest: BlobDigest,
        bytes: &[u8],
        db: &mut Database<S>,
    ) -> Result<bool, BlobFailure> {
        let ranged = self.profile == Profile::Ferry1;
        let transfer = self.transfers.get_mut(&digest).ok_or_else(|| BlobFailure {
            status: 500,
            message: "a blob transfer was lost".into(),
        })?;
        let expected = transfer.blob.length;
        let total = transfer.hasher.length() + bytes.len() as u64;
        let length_error = |actual| {
            BlobFailure::from_blob(&BlobError::LengthMismatch {
                digest: digest_to_string(&digest),
                expected,
                actual,
            })
        };
        if total > expected || (ranged && bytes.is_empty() && total < expected) {
            return Err(length_error(total));
        }
        let staging = match transfer.staging {
            Some(staging) => staging,
            None => {
                let staging = db
                    .store_mut()
                    .begin_blob()
                    .map_err(|e| BlobFailure::from_db(&e.into()))?;
                transfer.staging = Some(staging);
                staging
            }
        };
        if !bytes.is_empty() {
            db.store_mut()
                .append_blob(staging, bytes)
                .map_err(|e| BlobFailure::from_db(&e.into()))?;
            transfer.hasher.update(bytes);
        }
        if ranged && total < expected {
            return Ok(false);
        }
        transfer.staging = None;
        let hasher = std::mem::take(&mut transfer.hasher);
        db.commit_received_blob(staging, hasher, &transfer.blob)
            .map_err(|e| BlobFailure::from_db(&e))?;
        Ok(true)
    }

    /// The sender refused the blob for the document named in the request (it lacks the blob,
    /// or no longer has a revision of that document referencing it): that document's waiting
    /// revisions fail. Revisions of other documents waiting for the same blob do not: it is
    /// asked for again, from the start, under one of them.
    fn refused_for_document<S: Store>(
        &mut self,
        now: Instant,
        digest: BlobDigest,
        failure: BlobFailure,
        db: &mut Database<S>,
        conn: &mut Connection,
        settled: &mut Vec<Settled<T>>,
    ) -> Result<(), SendError> {
        let Some(transfer) = self.transfers.get(&digest) else {
            return Ok(());
        };
        let doc_of = |id: &u64| self.parked.get(id).map(|p| p.doc_id.clone());
        let (refused, others): (Vec<u64>, Vec<u64>) = transfer
            .waiting
            .iter()
            .partition(|id| doc_of(id).is_none_or(|d| d == transfer.doc_id));
        let Some(next_doc) = others.first().and_then(doc_of) else {
            self.finish(digest, Some(failure), db, settled);
            return Ok(());
        };
        if let Some(transfer) = self.transfers.get_mut(&digest) {
            if let Some(staging) = transfer.staging.take() {
                let _ = db.store_mut().abort_blob(staging);
            }
            transfer.hasher = BlobHasher::new();
            transfer.waiting = others;
            transfer.doc_id = next_doc;
        }
        for id in refused {
            if let Some(mut parked) = self.parked.remove(&id) {
                parked.missing.remove(&digest);
                self.forget(id, &parked.missing);
                settled.push(Settled::Failed(parked.item, failure.clone()));
            }
        }
        self.request(now, digest, conn)
    }

    /// Ends a transfer and settles the revisions it completes or fails.
    fn finish<S: Store>(
        &mut self,
        digest: BlobDigest,
        failure: Option<BlobFailure>,
        db: &mut Database<S>,
        settled: &mut Vec<Settled<T>>,
    ) {
        let Some(transfer) = self.transfers.remove(&digest) else {
            return;
        };
        if let Some(staging) = transfer.staging {
            // Best effort: a store that cannot discard it now does so when reopened.
            let _ = db.store_mut().abort_blob(staging);
        }
        for id in transfer.waiting {
            let Some(parked) = self.parked.get_mut(&id) else {
                continue;
            };
            parked.missing.remove(&digest);
            match &failure {
                Some(failure) => {
                    if let Some(parked) = self.parked.remove(&id) {
                        self.forget(id, &parked.missing);
                        settled.push(Settled::Failed(parked.item, failure.clone()));
                    }
                }
                None if parked.missing.is_empty() => {
                    if let Some(parked) = self.parked.remove(&id) {
                        settled.push(Settled::Ready(parked.item));
                    }
                }
                None => {}
            }
        }
    }

    /// A failed revision no longer waits for its other blobs; transfers nobody waits for any
    /// more are dropped unless already running (their blob is still worth storing).
    fn forget(&mut self, id: u64, others: &BTreeSet<BlobDigest>) {
        for digest in others {
            if let Some(transfer) = self.transfers.get_mut(digest) {
                transfer.waiting.retain(|w| *w != id);
                if transfer.waiting.is_empty() && !transfer.started {
                    self.transfers.remove(digest);
                    self.queue.retain(|d| d != digest);
                }
            }
        }
    }

    /// Discards every staged blob and forgets every parked revision (the session ended).
    pub(crate) fn abandon<S: Store>(&mut self, db: &mut Database<S>) {
        for transfer in std::mem::take(&mut self.transfers).into_values() {
            if let Some(staging) = transfer.staging {
                let _ = db.store_mut().abort_blob(staging);
            }
        }
        self.queue.clear();
        self.requests.clear();
        self.parked.clear();
    }
}

/// Whether asking the sender to compress a blob is worth it: not for formats that are already
/// compressed (as Couchbase Lite judges by content type).
fn compressible(content_type: Option<&str>) -> bool {
    let Some(content_type) = content_type else {
        return true;
    };
    let ct = content_type.to_ascii_lowercase();
    !(ct.starts_with("image/") && !ct.starts_with("image/svg")
        || ct.starts_with("audio/")
        || ct.starts_with("video/")
        || ct.contains("zip")
        || ct.contains("gzip")
        || ct.contains("compressed"))
}

/// Answers `getAttachment` and `proveAttachment` (`msg`, request `number`) from the database.
pub(crate) fn serve<S: Store>(
    number: MessageNumber,
    msg: &Message,
    no_reply: bool,
    conn: &mut Connection,
    db: &Database<S>,
) -> Result<(), SessionError> {
    let answer = match msg.profile() {
        Some(names::PROVE_ATTACHMENT) => prove(msg, db),
        _ => get(msg, db, conn.config().max_message_size),
    };
    if no_reply {
        return Ok(());
    }
    let refusal = match answer {
        Ok((reply, compressed)) => match conn.send_reply_compressed(number, &reply, compressed) {
            Ok(()) => return Ok(()),
            // A blob that does not fit in the outbox now is refused, not fatal: the peer's
            // document fails transiently and comes again in a later session.
            Err(SendError::OutboxFull { needed, available }) => (
                "HTTP",
                503,
                format!("busy: the blob needs {needed} bytes of outbox, {available} are free"),
            ),
            Err(SendError::MessageTooLarge { size, limit }) => (
                "HTTP",
                413,
                format!(
                    "the blob's reply is {size} bytes, more than one message may carry ({limit})"
                ),
            ),
            Err(e) => return Err(e.into()),
        },
        Err(refusal) => refusal,
    };
    let (domain, code, message) = refusal;
    conn.send_error(number, domain, code, &message)?;
    Ok(())
}

type Answer = Result<(Message, bool), (&'static str, i64, String)>;

/// The blob a request names, if it is stored and the named document references it.
/// `getAttachment` must name the document; `proveAttachment` may omit it (Sync Gateway sends
/// only the digest), since a proof reveals nothing of the blob's bytes.
fn requested_blob<S: Store>(
    msg: &Message,
    db: &Database<S>,
) -> Result<(BlobDigest, u64), (&'static str, i64, String)> {
    let bad_request = |what: &str| ("HTTP", 400, format!("missing property {what:?}"));
    let text = msg
        .property("digest")
        .ok_or_else(|| bad_request("digest"))?;
    let digest = parse_digest(text).map_err(|e| ("HTTP", 400, e.to_string()))?;
    let not_found = || {
        (
            "HTTP",
            404,
            BlobError::NotFound(text.to_owned()).to_string(),
        )
    };
    let server_error = |e: DbError| ("HTTP", 500, e.to_string());
    match msg.property("docID") {
        None if msg.profile() == Some(names::PROVE_ATTACHMENT) => {}
        None => return Err(bad_request("docID")),
        // A peer may fetch only the blobs of documents it could be sent.
        Some(doc_id) => {
            if !db
                .document_references_blob(doc_id, &digest)
                .map_err(server_error)?
            {
                let message = format!("no revision of document {doc_id:?} here references {text}");
                return Err(("HTTP", 404, message));
            }
        }
    }
    let length = db
        .store()
        .blob_length(&digest)
        .map_err(|e| server_error(e.into()))?
        .ok_or_else(not_found)?;
    Ok((digest, length))
}

fn get<S: Store>(msg: &Message, db: &Database<S>, max_message: usize) -> Answer {
    let (digest, length) = requested_blob(msg, db)?;
    let bad = |name: &str| ("HTTP", 400, format!("property {name:?} is not a number"));
    let (offset, max) = match msg.property("offset") {
        None => {
            if length > max_message as u64 {
                return Err((
                    "HTTP",
                    413,
                    format!(
                        "blob is {length} bytes, more than one message may carry ({max_message})"
                    ),
                ));
            }
            (0, usize::MAX)
        }
        Some(offset) => {
            let offset = offset.parse::<u64>().map_err(|_| bad("offset"))?;
            let max = match msg.property("maxLength") {
                None => RANGE,
                Some(m) => m.parse::<usize>().map_err(|_| bad("maxLength"))?,
            };
            (offset, max.clamp(1, RANGE))
        }
    };
    let bytes = db
        .store()
        .read_blob(&digest, offset, max)
        .map_err(|e| ("HTTP", 500, e.to_string()))?
        .ok_or(("HTTP", 404, "the blob was removed".to_owned()))?;
    let compress = msg.property("compress") == Some("true");
    Ok((Message::new().with_body(bytes), compress))
}

fn prove<S: Store>(msg: &Message, db: &Database<S>) -> Answer {
    let (digest, length) = requested_blob(msg, db)?;
    let mut proof = AttachmentProof::new(&msg.body).map_err(|e| ("BLIP", 400, e.to_string()))?;
    let mut offset = 0;
    while offset < length {
        let piece = db
            .store()
            .read_blob(&digest, offset, RANGE)
            .map_err(|e| ("HTTP", 500, e.to_string()))?
            .filter(|p| !p.is_empty())
            .ok_or(("HTTP", 404, "the blob was removed".to_owned()))?;
        offset += piece.len() as u64;
        proof.update(&piece);
    }
    Ok((Message::new().with_body(proof.finish().into_bytes()), false))
}

/// Whether deterministic CBOR `body` contains the text `@type` (head byte `0x65` then the five
/// bytes), i.e. may hold a blob reference. Scans eight bytes at a time for `@`, which most
/// bodies never contain, then checks each `@` found.
fn may_reference_blobs(body: &[u8]) -> bool {
    const NEEDLE: &[u8; 6] = b"\x65@type";
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGHS: u64 = 0x8080_8080_8080_8080;
    const ATS: u64 = ONES * b'@' as u64;
    let is_match = |at: usize| at >= 1 && body.get(at - 1..at + 5) == Some(&NEEDLE[..]);
    let mut chunks = body.chunks_exact(8);
    let mut base = 0;
    for chunk in &mut chunks {
        let word = u64::from_le_bytes(chunk.try_into().expect("chunks of eight bytes"));
        let x = word ^ ATS;
        // Non-zero when some byte of `x` is zero, i.e. some byte of `word` is `@` (it may also
        // flag a byte above a real zero: each flagged `@` is checked below).
        if x.wrapping_sub(ONES) & !x & HIGHS != 0
            && (0..8).any(|i| chunk[i] == b'@' && is_match(base + i))
        {
            return true;
        }
        base += 8;
    }
    chunks
        .remainder()
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'@' && is_match(base + i))
}

#[cfg(test)]
mod tests {
    use super::may_reference_blobs;

    #[test]
    fn blob_marker_scan_agrees_with_a_plain_search() {
        let plain = |b: &[u8]| b.windows(6).any(|w| w == b"\x65@type");
        let needle = b"\x65@type";
        for len in 0..40 {
            for at in 0..=len {
                let mut body: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                // Decoys: an `@` without the head byte, and a truncated needle.
                if len > 3 {
                    body[len / 2] = b'@';
                }
                body.splice(at..at, needle.iter().copied());
                assert!(may_reference_blobs(&body), "len {len} at {at}");
                assert_eq!(may_reference_blobs(&body), plain(&body));
                let cut = &body[..at + 5];
                assert_eq!(
                    may_reference_blobs(cut),
                    plain(cut),
                    "len {len} cut at {at}"
                );
                let mut broken = body.clone();
                broken[at] = 0x64;
                assert_eq!(may_reference_blobs(&broken), plain(&broken));
            }
        }
        assert!(!may_reference_blobs(b""));
        assert!(!may_reference_blobs(b"@type"));
        assert!(!may_reference_blobs(&[0x40; 64]));
    }
}
