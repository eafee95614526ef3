//! The store thread: one per database, owning the [`Database`] and every session using it, and
//! running the one driver loop.

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, mpsc};
use std::time::Instant;

use ferry_engine::db::{Database, DbError, Document, DocumentChange};
use ferry_engine::repl::{PassiveConfig, PassiveEvent, PassiveSession, Profile};
use ferry_engine::rev::RevId;
use ferry_engine::store::Store;
use ferry_engine::value::Value;
use futures_channel::mpsc::{UnboundedReceiver, UnboundedSender, unbounded};
use futures_channel::oneshot;

use super::error::DriverError;
use super::pump::{Outbound, Outgoing, Received};
use super::remote::RemoteIds;
use super::replicator::{Repl, ReplSetup};
use crate::upgrade::Negotiated;

/// Commands handled in one batch of store reads at most, before the batch ends (and other
/// connections' writes become visible) even if more are queued.
const COMMANDS_PER_READ_BATCH: usize = 64;

/// Identifies a connection (listener or replicator side) within a process.
pub(crate) type ConnId = u64;
/// Identifies a replicator within its database.
pub(crate) type ReplId = u64;

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// A fresh process-wide identifier.
pub(crate) fn next_id() -> u64 {
    NEXT_ID.fetch_add(1, Ordering::Relaxed)
}

/// What a listener counts, shared with the store thread's passive sessions.
#[derive(Debug, Default)]
pub(crate) struct ListenerCounters {
    /// Connections whose passive session is moving documents.
    pub(crate) busy: AtomicU64,
    /// Revisions sent to pullers and acknowledged by them.
    pub(crate) documents_sent: AtomicU64,
    /// Revisions pushed by replicators and stored.
    pub(crate) documents_received: AtomicU64,
}

/// The database operations application code reaches through the store thread, whatever the
/// store type.
pub(crate) trait DynDatabase {
    fn put(&mut self, id: &str, body: &Value, base: Option<&RevId>) -> Result<RevId, DbError>;
    fn get(&self, id: &str) -> Result<Option<Document>, DbError>;
    fn delete(&mut self, id: &str, base: &RevId) -> Result<RevId, DbError>;
    fn document_count(&self) -> Result<u64, DbError>;
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

impl<S: Store + 'static> DynDatabase for Database<S> {
    fn put(&mut self, id: &str, body: &Value, base: Option<&RevId>) -> Result<RevId, DbError> {
        Database::put(self, id, body, base)
    }
    fn get(&self, id: &str) -> Result<Option<Document>, DbError> {
        Database::get(self, id)
    }
    fn delete(&mut self, id: &str, base: &RevId) -> Result<RevId, DbError> {
        Database::delete(self, id, base)
    }
    fn document_count(&self) -> Result<u64, DbError> {
        Database::document_count(self)
    }
    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

type AppCall = Box<dyn FnOnce(&mut dyn DynDatabase) + Send>;

/// What the store thread is asked to do.
pub(crate) enum Command {
    /// Application code runs against the database.
    App(AppCall),
    /// A listener accepted a connection: start a passive session on it.
    OpenPassive {
        conn: ConnId,
        profile: Profile,
        read_only: bool,
        enable_delta_sync: bool,
        out: Outgoing,
        counters: Arc<ListenerCounters>,
    },
    /// A binary WebSocket message arrived.
    Frame { conn: ConnId, frame: Received },
    /// A pong (or ping) arrived.
    Activity { conn: ConnId },
    /// The connection ended.
    Closed {
        conn: ConnId,
        error: ferry_engine::repl::ConnectionError,
    },
    /// A replicator was created.
    AddReplicator { id: ReplId, setup: Box<ReplSetup> },
    /// `Replicator::start`.
    Start { id: ReplId, reset: bool },
    /// `Replicator::stop`; `done` fires once stopped.
    Stop {
        id: ReplId,
        done: oneshot::Sender<()>,
    },
    /// The replicator was dropped.
    Remove { id: ReplId },
    /// A connection attempt ended.
    Connected {
        id: ReplId,
        attempt: u64,
        result: Result<(ConnId, Negotiated, Outgoing), ferry_engine::repl::ConnectionError>,
    },
    /// `DatabaseHandle::changes`.
    Subscribe(UnboundedSender<Vec<DocumentChange>>),
    /// `pending_document_ids`.
    Pending {
        id: ReplId,
        reply: oneshot::Sender<Result<Vec<String>, DbError>>,
    },
}

/// A handle on a database served by its store thread: cheap to clone, usable from any async
/// runtime. The thread ends when every handle (and every listener and replicator using it) is
/// gone.
#[derive(Clone)]
pub struct DatabaseHandle {
    pub(crate) tx: mpsc::Sender<Command>,
    name: Arc<str>,
    uuid: [u8; 16],
}

impl std::fmt::Debug for DatabaseHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DatabaseHandle")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl DatabaseHandle {
    /// Moves `db` onto a new store thread and returns a handle to it. `name` is the database's
    /// name in listener URLs (`/<name>/_blipsync`).
    pub fn open<S: Store + 'static>(name: impl Into<String>, db: Database<S>) -> DatabaseHandle {
        let (tx, rx) = mpsc::channel();
        let name: Arc<str> = name.into().into();
        let uuid = db.uuid();
        let thread_name = format!("ferry-store-{name}");
        let driver = Driver::new(db, rx);
        std::thread::Builder::new()
            .name(thread_name)
            .spawn(move || driver.run())
            .expect("spawn the store thread");
        DatabaseHandle { tx, name, uuid }
    }

    /// Opens a database over `store` (with a random UUID seed, used if the store has no UUID
    /// yet) on a new store thread: see [`DatabaseHandle::open`].
    pub fn open_store<S: Store + 'static>(
        name: impl Into<String>,
        store: S,
    ) -> Result<DatabaseHandle, DriverError> {
        let mut seed = [0u8; 8];
        crate::tls::provider()
            .secure_random
            .fill(&mut seed)
            .map_err(|_| {
                DriverError::Tls(crate::error::TlsError::Config {
                    reason: "no secure random source for the database UUID".into(),
                })
            })?;
        let config = ferry_engine::db::DatabaseConfig::with_uuid_seed(u64::from_le_bytes(seed));
        Ok(DatabaseHandle::open(name, Database::open(store, config)?))
    }

    /// The database's name in listener URLs.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The database UUID.
    pub fn uuid(&self) -> [u8; 16] {
        self.uuid
    }

    pub(crate) fn send(&self, command: Command) -> Result<(), DriverError> {
        self.tx
            .send(command)
            .map_err(|_| DriverError::StoreThreadGone)
    }

    async fn call<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn DynDatabase) -> T + Send + 'static,
    ) -> Result<T, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.send(Command::App(Box::new(move |db| {
            let _ = reply.send(f(db));
        })))?;
        answer.await.map_err(|_| DriverError::StoreThreadGone)
    }

    /// Saves a revision (see [`Database::put`]).
    pub async fn put(
        &self,
        id: &str,
        body: Value,
        base: Option<RevId>,
    ) -> Result<RevId, DriverError> {
        let id = id.to_owned();
        Ok(self
            .call(move |db| db.put(&id, &body, base.as_ref()))
            .await??)
    }

    /// Reads a live document (see [`Database::get`]).
    pub async fn get(&self, id: &str) -> Result<Option<Document>, DriverError> {
        let id = id.to_owned();
        Ok(self.call(move |db| db.get(&id)).await??)
    }

    /// Deletes a document (see [`Database::delete`]).
    pub async fn delete(&self, id: &str, base: RevId) -> Result<RevId, DriverError> {
        let id = id.to_owned();
        Ok(self.call(move |db| db.delete(&id, &base)).await??)
    }

    /// The number of documents, tombstones included.
    pub async fn document_count(&self) -> Result<u64, DriverError> {
        Ok(self.call(|db| db.document_count()).await??)
    }

    /// A stream of the database's committed changes from now on (application writes and
    /// replicated revisions), one batch per write. Ends when the store thread does.
    pub fn changes(&self) -> Result<UnboundedReceiver<Vec<DocumentChange>>, DriverError> {
        let (tx, rx) = unbounded();
        self.send(Command::Subscribe(tx))?;
        Ok(rx)
    }

    /// Runs `f` on the store thread with the database, which must use the store type `S`
    /// (for example to write many documents in one go, or read a snapshot). Continuous
    /// replicators see what `f` writes.
    pub async fn with<S: Store + 'static, T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut Database<S>) -> T + Send + 'static,
    ) -> Result<T, DriverError> {
        self.call(move |db| {
            db.as_any_mut()
                .downcast_mut::<Database<S>>()
                .map(f)
                .ok_or(DriverError::WrongStoreType(std::any::type_name::<S>()))
        })
        .await?
    }
}

/// A passive session and its connection.
struct Passive {
    session: PassiveSession,
    out: Outgoing,
    /// The listener's counters (busy connections, documents moved).
    counters: Arc<ListenerCounters>,
    busy: bool,
}

/// The store thread's state: the database and every session using it.
pub(crate) struct Driver<S: Store> {
    db: Database<S>,
    rx: mpsc::Receiver<Command>,
    changed: Arc<AtomicBool>,
    subscribers: Arc<std::sync::Mutex<Vec<UnboundedSender<Vec<DocumentChange>>>>>,
    passive: BTreeMap<ConnId, Passive>,
    repls: BTreeMap<ReplId, Repl>,
    /// Replicator connections: connection → replicator.
    active_conns: BTreeMap<ConnId, ReplId>,
    remote_ids: RemoteIds,
}

impl<S: Store + 'static> Driver<S> {
    fn new(mut db: Database<S>, rx: mpsc::Receiver<Command>) -> Self {
        let changed = Arc::new(AtomicBool::new(false));
        let flag = changed.clone();
        let subscribers: Arc<std::sync::Mutex<Vec<UnboundedSender<Vec<DocumentChange>>>>> =
            Arc::default();
        let listeners = subscribers.clone();
        db.add_change_observer(Box::new(move |changes| {
            flag.store(true, Ordering::Release);
            if let Ok(mut listeners) = listeners.lock() {
                listeners.retain(|l| l.unbounded_send(changes.to_vec()).is_ok());
            }
        }));
        Driver {
            db,
            rx,
            changed,
            subscribers,
            passive: BTreeMap::new(),
            repls: BTreeMap::new(),
            active_conns: BTreeMap::new(),
            remote_ids: RemoteIds::default(),
        }
    }

    /// The one driver loop: wait for a command or the earliest deadline, handle it, drain.
    #[allow(clippy::disallowed_methods)] // the host reads the clock and hands `now` to the engine
    fn run(mut self) {
        loop {
            let command = match self.next_deadline() {
                None => match self.rx.recv() {
                    Ok(command) => Some(command),
                    Err(_) => break,
                },
                Some(deadline) => {
                    let wait = deadline.saturating_duration_since(Instant::now());
                    match self.rx.recv_timeout(wait) {
                        Ok(command) => Some(command),
                        Err(mpsc::RecvTimeoutError::Timeout) => None,
                        Err(mpsc::RecvTimeoutError::Disconnected) => break,
                    }
                }
            };
            // The commands already queued are handled with this one, their reads sharing one
            // snapshot of the store (one SQLite read transaction instead of one per
            // statement); the batch ends before the thread waits again.
            self.db.store().begin_read_batch();
            let mut next = command;
            for handled in 1.. {
                let now = Instant::now();
                if let Some(command) = next {
                    self.handle(now, command);
                }
                if self.changed.swap(false, Ordering::AcqRel) {
                    self.database_changed(now);
                }
                if handled == COMMANDS_PER_READ_BATCH {
                    break;
                }
                match self.rx.try_recv() {
                    Ok(command) => next = Some(command),
                    Err(_) => break,
                }
            }
            // Timers that are due fire now, however busy the thread is: a stream of commands
            // from other connections must not hold back one session's insert flush or request
            // timeout.
            let now = Instant::now();
            if self.next_deadline().is_some_and(|deadline| deadline <= now) {
                self.fire_timers(now);
                if self.changed.swap(false, Ordering::AcqRel) {
                    self.database_changed(now);
                }
            }
            if let Err(error) = self.db.store().end_read_batch() {
                tracing::warn!(%error, "ending a batch of reads failed");
            }
        }
        for passive in self.passive.values() {
            passive
                .out
                .send(Outbound::Close(1001, "the database closed".into()));
        }
        tracing::debug!("store thread finished");
    }

    fn next_deadline(&self) -> Option<Instant> {
        let passive = self
            .passive
            .values()
            .filter_map(|p| p.session.poll_timeout());
        let repls = self.repls.values().filter_map(Repl::next_deadline);
        passive.chain(repls).min()
    }

    fn handle(&mut self, now: Instant, command: Command) {
        match command {
            Command::App(call) => call(&mut self.db),
            Command::OpenPassive {
                conn,
                profile,
                read_only,
                enable_delta_sync,
                out,
                counters,
            } => {
                let mut config = PassiveConfig::default();
                config.read_only = read_only;
                config.enable_delta_sync = enable_delta_sync;
                tracing::debug!(conn, ?profile, read_only, "passive session opened");
                self.passive.insert(
                    conn,
                    Passive {
                        session: PassiveSession::new(profile, config),
                        out,
                        counters,
                        busy: false,
                    },
                );
                self.drain_passive(conn);
            }
            Command::Frame { conn, frame } => {
                let data = &frame.data;
                if let Some(p) = self.passive.get_mut(&conn) {
                    let _ = p.session.handle_frame(now, data, &mut self.db);
                    self.drain_passive(conn);
                } else if let Some(id) = self.active_conns.get(&conn).copied() {
                    if let Some(repl) = self.repls.get_mut(&id) {
                        repl.handle_frame(now, data, &mut self.db);
                    }
                    self.drain_repl(now, id);
                }
            }
            Command::Activity { conn } => {
                if let Some(id) = self.active_conns.get(&conn).copied() {
                    if let Some(repl) = self.repls.get_mut(&id) {
                        repl.lifecycle.handle_activity(now);
                    }
                    self.drain_repl(now, id);
                }
            }
            Command::Closed { conn, error } => {
                if let Some(mut p) = self.passive.remove(&conn) {
                    tracing::debug!(conn, %error, "passive session closed");
                    p.session.discard_transfers(&mut self.db);
                    if p.busy {
                        p.counters.busy.fetch_sub(1, Ordering::AcqRel);
                    }
                } else if let Some(id) = self.active_conns.remove(&conn) {
                    if let Some(repl) = self.repls.get_mut(&id) {
                        repl.handle_closed(now, conn, error, &mut self.db);
                    }
                    self.drain_repl(now, id);
                }
            }
            Command::AddReplicator { id, setup } => {
                self.repls.insert(id, Repl::new(*setup));
            }
            Command::Start { id, reset } => {
                if let Some(repl) = self.repls.get_mut(&id) {
                    repl.start(now, reset);
                }
                self.drain_repl(now, id);
            }
            Command::Stop { id, done } => {
                match self.repls.get_mut(&id) {
                    Some(repl) => repl.stop(now, &mut self.db, done),
                    None => {
                        let _ = done.send(());
                    }
                }
                self.drain_repl(now, id);
            }
            Command::Remove { id } => {
                if let Some(mut repl) = self.repls.remove(&id) {
                    repl.lifecycle.stop(now);
                    repl.execute_commands(now);
                    if let Some(conn) = repl.conn_id() {
                        self.active_conns.remove(&conn);
                    }
                }
            }
            Command::Connected {
                id,
                attempt,
                result,
            } => match self.repls.get_mut(&id) {
                Some(repl) => {
                    if let Some(conn) = repl.handle_connected(
                        now,
                        attempt,
                        result,
                        &mut self.db,
                        &mut self.remote_ids,
                    ) {
                        self.active_conns.insert(conn, id);
                    }
                    self.drain_repl(now, id);
                }
                None => {
                    if let Ok((_, _, out)) = result {
                        out.send(Outbound::Close(1000, "the replicator is gone".into()));
                    }
                }
            },
            Command::Subscribe(subscriber) => {
                if let Ok(mut subscribers) = self.subscribers.lock() {
                    subscribers.push(subscriber);
                }
            }
            Command::Pending { id, reply } => {
                let answer = match self.repls.get(&id) {
                    Some(repl) => repl.pending_document_ids(&self.db),
                    None => Ok(Vec::new()),
                };
                let _ = reply.send(answer);
            }
        }
    }

    fn fire_timers(&mut self, now: Instant) {
        let due: Vec<ConnId> = self
            .passive
            .iter()
            .filter(|(_, p)| p.session.poll_timeout().is_some_and(|t| t <= now))
            .map(|(c, _)| *c)
            .collect();
        for conn in due {
            if let Some(p) = self.passive.get_mut(&conn) {
                let _ = p.session.handle_timeout(now, &mut self.db);
            }
            self.drain_passive(conn);
        }
        let due: Vec<ReplId> = self
            .repls
            .iter()
            .filter(|(_, r)| r.next_deadline().is_some_and(|t| t <= now))
            .map(|(id, _)| *id)
            .collect();
        for id in due {
            if let Some(repl) = self.repls.get_mut(&id) {
                repl.handle_timeout(now, &mut self.db);
            }
            self.drain_repl(now, id);
        }
    }

    fn database_changed(&mut self, now: Instant) {
        let conns: Vec<ConnId> = self.passive.keys().copied().collect();
        for conn in conns {
            if let Some(p) = self.passive.get_mut(&conn) {
                let _ = p.session.handle_database_changed(now, &mut self.db);
            }
            self.drain_passive(conn);
        }
        let ids: Vec<ReplId> = self.repls.keys().copied().collect();
        for id in ids {
            if let Some(repl) = self.repls.get_mut(&id) {
                repl.handle_database_changed(now, &mut self.db);
            }
            self.drain_repl(now, id);
        }
    }

    /// Drains a passive session: frames out, events logged, a fatal error closes.
    fn drain_passive(&mut self, conn: ConnId) {
        let Some(p) = self.passive.get_mut(&conn) else {
            return;
        };
        while let Some(frame) = p.session.poll_frame() {
            p.out.send(Outbound::Frame(frame));
        }
        while let Some(event) = p.session.poll_event() {
            tracing::trace!(conn, ?event, "passive event");
            match event {
                PassiveEvent::DocumentSent { .. } => &p.counters.documents_sent,
                PassiveEvent::DocumentReceived { .. } => &p.counters.documents_received,
                _ => continue,
            }
            .fetch_add(1, Ordering::Relaxed);
        }
        let stats = p.session.window_stats();
        let busy = stats.pending_inserts > 0
            || stats.revs_in_flight > 0
            || stats.announcements_in_flight > 0
            || stats.outbox_bytes > 0;
        if busy != p.busy {
            p.busy = busy;
            if busy {
                p.counters.busy.fetch_add(1, Ordering::AcqRel);
            } else {
                p.counters.busy.fetch_sub(1, Ordering::AcqRel);
            }
        }
        if let Some(error) = p.session.error() {
            tracing::info!(conn, %error, "passive session failed");
            p.out
                .send(Outbound::Close(error.close_code(), error.to_string()));
            if let Some(p) = self.passive.remove(&conn) {
                if p.busy {
                    p.counters.busy.fetch_sub(1, Ordering::AcqRel);
                }
            }
        }
    }

    fn drain_repl(&mut self, now: Instant, id: ReplId) {
        let Some(repl) = self.repls.get_mut(&id) else {
            return;
        };
        if let Some(closed) = repl.drain(now, &mut self.db) {
            self.active_conns.remove(&closed);
        }
    }
}
