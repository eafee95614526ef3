//! A scripted BLIP client driving a Ferry [`PassiveSession`] over a memory store, on a virtual
//! clock: the client side of the passive-session tests.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferry_engine::blip::{
    BlipError, Config, Connection, Event, FrameFlags, FrameHeader, Message, MessageType,
    SendOptions,
};
use ferry_engine::db::{Database, DatabaseConfig, RemoteRevision};
use ferry_engine::repl::{PassiveConfig, PassiveEvent, PassiveSession, Profile};
use ferry_engine::rev::RevId;
use ferry_engine::value::Value;
use ferry_store_memory::MemoryStore;
use serde_json::Value as Json;

/// The listener's database.
pub type Db = Database<MemoryStore>;

/// A fresh listener database.
pub fn memory_db() -> Db {
    Database::open(MemoryStore::new(), DatabaseConfig::with_uuid_seed(7)).expect("open")
}

/// A request the passive session sent to the client.
#[derive(Debug, Clone)]
pub struct ServerRequest {
    /// Its number.
    pub number: u64,
    /// Its first frame's flags (without MoreComing).
    pub flags: u8,
    /// The request.
    pub message: Message,
}

/// How the client answers the session's requests: `None` = no reply (or not now).
pub type Answerer = Box<dyn FnMut(&Message) -> Option<Message>>;

/// The scripted client, the session under test and the listener's database.
pub struct Replay {
    /// Virtual time.
    pub now: Instant,
    /// The client's BLIP connection.
    pub client: Connection,
    /// The session under test.
    pub session: PassiveSession,
    /// The listener's database.
    pub db: Db,
    /// Replies (or errors) to the client's requests, by number.
    pub replies: BTreeMap<u64, Result<Message, BlipError>>,
    /// Flags of the first frame of each reply, by request number.
    pub reply_flags: BTreeMap<u64, u8>,
    /// Requests the session sent, in order.
    pub server_requests: Vec<ServerRequest>,
    /// Events of the session.
    pub events: Vec<PassiveEvent>,
    /// Frames the session sent.
    pub frames_out: usize,
    answerer: Answerer,
}

/// The origin of every virtual clock in these tests.
pub fn origin() -> Instant {
    // Tests need one real `Instant` as the origin of their virtual clock; the engine itself
    // never reads the clock, and only offsets from this origin are used.
    #[allow(clippy::disallowed_methods)]
    Instant::now()
}

/// Send options from recorded frame flags.
pub fn options(flags: u8) -> SendOptions {
    SendOptions {
        urgent: flags & FrameFlags::URGENT != 0,
        compressed: flags & FrameFlags::COMPRESSED != 0,
        no_reply: flags & FrameFlags::NO_REPLY != 0,
    }
}

impl Replay {
    /// A new connection to a new session over `db`; the client answers with `answerer`.
    pub fn new(db: Db, config: PassiveConfig, answerer: Answerer) -> Self {
        Replay {
            now: origin(),
            client: Connection::new(Config::default()),
            session: PassiveSession::new(Profile::CbMobile3, config),
            db,
            replies: BTreeMap::new(),
            reply_flags: BTreeMap::new(),
            server_requests: Vec::new(),
            events: Vec::new(),
            frames_out: 0,
            answerer,
        }
    }

    /// A new connection (new client, new session) over the same database.
    pub fn reconnect(self, config: PassiveConfig, answerer: Answerer) -> Self {
        let now = self.now + Duration::from_secs(1);
        Replay {
            now,
            ..Replay::new(self.db, config, answerer)
        }
    }

    /// Sends a request from the client; returns its number.
    pub fn send(&mut self, message: &Message, flags: u8) -> u64 {
        self.client
            .send_request(message, options(flags))
            .expect("the client queues its request")
    }

    /// Moves frames both ways until nothing moves; timers are not fired.
    pub fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(frame) = self.client.poll_frame() {
                moved = true;
                self.session
                    .handle_frame(self.now, &frame, &mut self.db)
                    .expect("the session accepts the client's frame");
            }
            while let Some(frame) = self.session.poll_frame() {
                moved = true;
                self.frames_out += 1;
                let (header, _) = FrameHeader::decode(&frame).expect("a valid frame");
                let flags = header.flags.bits() & !FrameFlags::MORE_COMING;
                match header.kind {
                    MessageType::Reply | MessageType::Error => {
                        self.reply_flags.entry(header.number).or_insert(flags);
                    }
                    MessageType::Request
                        if self
                            .server_requests
                            .last()
                            .is_none_or(|r| r.number != header.number) =>
                    {
                        self.server_requests.push(ServerRequest {
                            number: header.number,
                            flags,
                            message: Message::new(),
                        });
                    }
                    _ => {}
                }
                self.client
                    .handle_frame(&frame)
                    .expect("the client accepts the session's frame");
            }
            self.events
                .extend(std::iter::from_fn(|| self.session.poll_event()));
            while let Some(event) = self.client.poll_event() {
                moved = true;
                match event {
                    Event::RequestReceived {
                        number,
                        message,
                        no_reply,
                    } => {
                        if let Some(r) =
                            self.server_requests.iter_mut().find(|r| r.number == number)
                        {
                            r.message = message.clone();
                        }
                        if !no_reply && let Some(reply) = (self.answerer)(&message) {
                            self.client.send_reply(number, &reply).expect("reply");
                        }
                    }
                    Event::ReplyReceived {
                        request_number,
                        reply,
                    } => {
                        let old = self.replies.insert(request_number, reply);
                        assert!(old.is_none(), "one reply per request");
                    }
                    _ => {}
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the exchange did not settle");
    }

    /// Pumps, firing the session's timers on the virtual clock, until nothing is pending.
    pub fn settle(&mut self) {
        for _ in 0..1_000 {
            self.pump();
            let Some(deadline) = self.session.poll_timeout() else {
                return;
            };
            self.now = self.now.max(deadline);
            self.session
                .handle_timeout(self.now, &mut self.db)
                .expect("the session handles its timer");
        }
        panic!("timers kept firing");
    }

    /// The reply to request `number`.
    pub fn reply(&self, number: u64) -> &Result<Message, BlipError> {
        self.replies
            .get(&number)
            .unwrap_or_else(|| panic!("no reply to request {number}"))
    }

    /// The error code of the reply to request `number` (panics if it was not an error).
    pub fn error_code(&self, number: u64) -> (String, i64) {
        match self.reply(number) {
            Err(e) => (e.domain.clone(), e.code),
            Ok(m) => panic!("request {number} was answered, not refused: {m:?}"),
        }
    }
}

/// JSON text → [`Value`].
pub fn value(json: &Json) -> Value {
    Value::from_json(&serde_json::to_vec(json).expect("JSON")).expect("a Value")
}

/// A body → JSON (empty → null).
pub fn json_of(bytes: &[u8]) -> Json {
    if bytes.is_empty() {
        return Json::Null;
    }
    serde_json::from_slice(bytes).expect("a JSON body")
}

/// A revision ID.
pub fn rev(text: &str) -> RevId {
    RevId::parse(text).expect("a revision ID")
}

/// Stores revisions as if written at the listener (with LiteCore's revision IDs, which Ferry
/// cannot recompute), in one transaction.
pub fn seed(db: &mut Db, revisions: &[(&str, &[&str], bool, Json)]) {
    let revisions: Vec<RemoteRevision> = revisions
        .iter()
        .map(|(doc_id, history, deleted, body)| RemoteRevision {
            doc_id: (*doc_id).to_owned(),
            history: history.iter().map(|r| rev(r)).collect(),
            deleted: *deleted,
            body: value(body).to_cbor(),
            allow_conflict: false,
            remote: None,
        })
        .collect();
    for result in db.insert_revisions(&revisions).expect("seed") {
        result.expect("seeded revision");
    }
}

/// The current revision, deletion flag and body of a document (tombstones included).
pub fn current(db: &Db, doc_id: &str) -> Option<(String, bool, Json)> {
    let (_, tree) = db.revision_tree(doc_id).expect("read")?;
    let rev = tree.current()?.clone();
    let doc = db.get_revision(doc_id, &rev).expect("read")?;
    let body = json_of(&doc.body.to_json());
    Some((rev.as_str().to_owned(), doc.deleted, body))
}

/// Every revision ID in a document's tree, sorted.
pub fn tree_revs(db: &Db, doc_id: &str) -> Vec<String> {
    let Some((_, tree)) = db.revision_tree(doc_id).expect("read") else {
        return Vec::new();
    };
    let mut revs: Vec<String> = tree
        .iter()
        .map(|n| n.rev_id().as_str().to_owned())
        .collect();
    revs.sort();
    revs
}
