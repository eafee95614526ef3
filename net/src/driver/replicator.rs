//! Replicators: the handle applications hold ([`ReplicatorCore`]) and the state the store
//! thread keeps for each (`Repl`: the connection life cycle, the session of the open
//! connection, the status).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_engine::db::{Database, DbError};
use ferry_engine::repl::{
    ActiveConfig, ActiveEvent, ActiveSession, ActivityLevel, ConnectionError, ConnectionLifecycle,
    Direction, LifecycleCommand, LifecycleConfig, LifecycleEvent, SessionError,
};
use ferry_engine::store::Store;
use futures_channel::oneshot;

use super::config::{ReplicatorConfig, ReplicatorStatus};
use super::error::DriverError;
use super::pump::{Outbound, Outgoing};
use super::remote::RemoteIds;
use super::store::{Command, ConnId, DatabaseHandle, ReplId, next_id};
use crate::upgrade::Negotiated;

/// Where a replicator's status changes and document events go (the adapter turns them into
/// its runtime's channels). Called on the store thread: must not block.
pub trait ReplicatorObserver: Send + Sync + 'static {
    /// The status changed.
    fn status_changed(&self, status: &ReplicatorStatus);
    /// A document was replicated, or failed to be ([`ActiveEvent::DocumentReplicated`],
    /// [`ActiveEvent::DocumentFailed`]).
    fn document_event(&self, event: ActiveEvent);
}

/// Opens connections for a replicator (the dialer, on the adapter's runtime).
pub(crate) trait Connector: Send + Sync + 'static {
    /// Starts connection attempt number `attempt`, to be given up by `deadline`; reports
    /// [`Command::Connected`].
    fn connect(&self, attempt: u64, deadline: Instant);
}

/// Everything the store thread needs to run a replicator.
pub(crate) struct ReplSetup {
    pub(crate) direction: Direction,
    pub(crate) continuous: bool,
    pub(crate) doc_ids: Option<Vec<String>>,
    pub(crate) push_filter: Option<ferry_engine::repl::ReplicationFilter>,
    pub(crate) pull_filter: Option<ferry_engine::repl::ReplicationFilter>,
    pub(crate) conflict_resolver: ferry_engine::repl::ConflictResolver,
    pub(crate) enable_delta_sync: bool,
    pub(crate) lifecycle: LifecycleConfig,
    pub(crate) fallback_identity: String,
    pub(crate) connector: Arc<dyn Connector>,
    pub(crate) observer: Arc<dyn ReplicatorObserver>,
}

/// How long `stop` waits for the session to save its checkpoint before closing anyway.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A status whose only change is its progress is published at most this often, as
/// Couchbase Lite throttles its change listeners: publishing wakes the application's runtime,
/// and during a bulk sync the progress changes with every document (waking it per document
/// cost a replicator's store thread about a tenth of its time). A change of activity, error
/// or attempts is published at once, with the progress of that moment.
pub const STATUS_PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// The store thread's state of one replicator.
pub(crate) struct Repl {
    setup: ReplSetup,
    pub(crate) lifecycle: ConnectionLifecycle,
    /// Boxed: it is taken out and put back on every drain, which moved the whole session
    /// (about 1% of a pulling replicator's store thread).
    session: Option<Box<ActiveSession>>,
    /// The last session, kept for `pending_document_ids` while disconnected.
    last_session: Option<Box<ActiveSession>>,
    conn: Option<(ConnId, Outgoing)>,
    /// The current connection attempt (a stale outcome names an older one).
    attempt: u64,
    attempts_since_start: u32,
    reset_checkpoint: bool,
    /// The status last published.
    status: ReplicatorStatus,
    /// When the status was last published.
    published_at: Option<Instant>,
    /// When a progress change held back by [`STATUS_PROGRESS_INTERVAL`] is to be published.
    progress_due: Option<Instant>,
    /// The session's progress (of the current or last connection).
    progress: ferry_engine::repl::Progress,
    stop_waiters: Vec<oneshot::Sender<()>>,
    stop_deadline: Option<Instant>,
}

impl Repl {
    pub(crate) fn new(setup: ReplSetup) -> Self {
        Repl {
            lifecycle: ConnectionLifecycle::new(setup.lifecycle.clone()),
            setup,
            session: None,
            last_session: None,
            conn: None,
            attempt: 0,
            attempts_since_start: 0,
            reset_checkpoint: false,
            status: ReplicatorStatus::stopped(),
            published_at: None,
            progress_due: None,
            progress: Default::default(),
            stop_waiters: Vec::new(),
            stop_deadline: None,
        }
    }

    pub(crate) fn conn_id(&self) -> Option<ConnId> {
        self.conn.as_ref().map(|(c, _)| *c)
    }

    pub(crate) fn next_deadline(&self) -> Option<Instant> {
        let session = self
            .session
            .as_deref()
            .and_then(ActiveSession::poll_timeout);
        let lifecycle = self.lifecycle.poll_timeout();
        [session, lifecycle, self.stop_deadline, self.progress_due]
            .into_iter()
            .flatten()
            .min()
    }

    pub(crate) fn start(&mut self, now: Instant, reset: bool) {
        if self.lifecycle.activity() == ActivityLevel::Stopped && self.session.is_none() {
            tracing::info!(reset, "replicator starting");
            self.reset_checkpoint = reset;
            self.attempts_since_start = 0;
            self.progress = Default::default();
            self.lifecycle.start(now);
        }
    }

    pub(crate) fn stop<S: Store>(
        &mut self,
        now: Instant,
        db: &mut Database<S>,
        done: oneshot::Sender<()>,
    ) {
        self.stop_waiters.push(done);
        match self.session.as_mut() {
            Some(session) if !session.is_stopped() => {
                // Let the session save its checkpoint; the lifecycle closes when it finishes.
                let _ = session.stop(now, db);
                self.stop_deadline = Some(now + STOP_GRACE);
            }
            _ => self.lifecycle.stop(now),
        }
    }

    pub(crate) fn handle_frame<S: Store>(
        &mut self,
        now: Instant,
        data: &[u8],
        db: &mut Database<S>,
    ) {
        self.lifecycle.handle_activity(now);
        if let Some(session) = self.session.as_mut() {
            let _ = session.handle_frame(now, data, db);
        }
    }

    pub(crate) fn handle_database_changed<S: Store>(&mut self, now: Instant, db: &mut Database<S>) {
        if let Some(session) = self.session.as_mut() {
            let _ = session.handle_database_changed(now, db);
        }
    }

    pub(crate) fn handle_timeout<S: Store>(&mut self, now: Instant, db: &mut Database<S>) {
        if self.stop_deadline.is_some_and(|t| t <= now) {
            self.stop_deadline = None;
            tracing::info!("the session did not finish in time: stopping anyway");
            if let Some(mut session) = self.session.take() {
                session.handle_closed(now, "stopped");
                session.discard_transfers(db);
                self.last_session = Some(session);
            }
            self.lifecycle.stop(now);
        }
        if let Some(session) = self.session.as_mut() {
            if session.poll_timeout().is_some_and(|t| t <= now) {
                let _ = session.handle_timeout(now, db);
            }
        }
        if self.lifecycle.poll_timeout().is_some_and(|t| t <= now) {
            self.lifecycle.handle_timeout(now);
        }
    }

    pub(crate) fn handle_closed<S: Store>(
        &mut self,
        now: Instant,
        conn: ConnId,
        error: ConnectionError,
        db: &mut Database<S>,
    ) {
        if self.conn_id() != Some(conn) {
            return;
        }
        self.conn = None;
        tracing::info!(%error, "replicator connection closed");
        if let Some(mut session) = self.session.take() {
            session.handle_closed(now, &error.to_string());
            session.discard_transfers(db);
            self.drain_session_events(now, &mut session);
            self.last_session = Some(session);
        }
        self.lifecycle.handle_closed(now, error);
    }

    /// A connection attempt ended; returns the new connection if it is now the replicator's.
    pub(crate) fn handle_connected<S: Store>(
        &mut self,
        now: Instant,
        attempt: u64,
        result: Result<(ConnId, Negotiated, Outgoing), ConnectionError>,
        db: &mut Database<S>,
        remote_ids: &mut RemoteIds,
    ) -> Option<ConnId> {
        let current = attempt == self.attempt
            && self.lifecycle.activity() == ActivityLevel::Connecting
            && !self.lifecycle.is_connected();
        match result {
            Err(error) => {
                if current {
                    tracing::info!(%error, "connection attempt failed");
                    self.lifecycle.handle_connect_failed(now, error);
                }
                None
            }
            Ok((conn, negotiated, out)) => {
                if !current {
                    out.send(Outbound::Close(1000, "connection no longer wanted".into()));
                    return None;
                }
                let identity = negotiated.remote_identity(|| self.setup.fallback_identity.clone());
                let remote_id = remote_ids.id_for(db, &identity);
                let mut config = ActiveConfig::new(self.setup.direction, identity);
                config.continuous = self.setup.continuous;
                config.reset_checkpoint = self.reset_checkpoint;
                config.doc_ids = self.setup.doc_ids.clone();
                config.push_filter = self.setup.push_filter.clone();
                config.pull_filter = self.setup.pull_filter.clone();
                config.conflict_resolver = self.setup.conflict_resolver.clone();
                config.enable_delta_sync = self.setup.enable_delta_sync;
                config.remote_id = remote_id;
                let mut session = Box::new(ActiveSession::new(negotiated.profile, config, db));
                tracing::info!(conn, profile = ?negotiated.profile, remote_id, checkpoint = session.checkpoint_id(), "replicator connected");
                self.lifecycle.handle_connected(now);
                let _ = session.start(now);
                self.session = Some(session);
                self.conn = Some((conn, out));
                Some(conn)
            }
        }
    }

    pub(crate) fn pending_document_ids<S: Store>(
        &self,
        db: &Database<S>,
    ) -> Result<Vec<String>, DbError> {
        if !self.setup.direction.pushes() {
            return Ok(Vec::new());
        }
        let session = self.session.as_ref().or(self.last_session.as_ref());
        match session {
            Some(session) => session
                .pending_document_ids(db, usize::MAX)
                .map_err(|e| match e {
                    SessionError::Database(e) => e,
                    other => DbError::NotFound(other.to_string()),
                }),
            None => {
                // Never connected since it was created: every document (of the document-ID
                // filter) is pending — the saved checkpoint is only read once connected.
                let mut out = Vec::new();
                let mut since = 0;
                loop {
                    let page = db.changes_since(since, 1000)?;
                    let Some(last) = page.last() else { break };
                    since = last.sequence;
                    let wanted = |id: &String| {
                        self.setup
                            .doc_ids
                            .as_ref()
                            .is_none_or(|ids| ids.contains(id))
                    };
                    out.extend(page.into_iter().map(|e| e.doc_id).filter(wanted));
                }
                Ok(out)
            }
        }
    }

    fn drain_session_events(&mut self, now: Instant, session: &mut ActiveSession) {
        while let Some(event) = session.poll_event() {
            match event {
                ActiveEvent::StatusChanged(status) => {
                    self.progress = status.progress;
                    self.lifecycle.handle_session_status(now, status.activity);
                }
                ActiveEvent::CheckpointSaved => self.reset_checkpoint = false,
                other => self.setup.observer.document_event(other),
            }
        }
    }

    /// Drains the session and the lifecycle and executes their outputs; returns a connection
    /// that was closed (to forget).
    pub(crate) fn drain<S: Store>(
        &mut self,
        now: Instant,
        _db: &mut Database<S>,
    ) -> Option<ConnId> {
        let mut closed = None;
        if let Some(mut session) = self.session.take() {
            if let Some((_, out)) = &self.conn {
                while let Some(frame) = session.poll_frame() {
                    out.send(Outbound::Frame(frame));
                }
            }
            self.drain_session_events(now, &mut session);
            self.progress = session.status().progress;
            if session.is_stopped() {
                match session.status().error {
                    None => self.lifecycle.handle_session_finished(now),
                    Some(SessionError::Closed(_)) => {}
                    Some(error) => {
                        tracing::info!(%error, "replication session failed");
                        self.lifecycle.handle_session_failed(now, error);
                    }
                }
                self.stop_deadline = None;
                self.last_session = Some(session);
            } else {
                self.session = Some(session);
            }
        }
        if let Some(conn) = self.execute_commands(now) {
            closed = Some(conn);
        }
        while let Some(event) = self.lifecycle.poll_event() {
            match event {
                LifecycleEvent::RetryScheduled { attempt, delay, .. } => {
                    tracing::info!(attempt, ?delay, "retry scheduled");
                }
                LifecycleEvent::GaveUp { attempts, error } => {
                    tracing::warn!(attempts, %error, "replicator gave up");
                }
                LifecycleEvent::StatusChanged { .. } => {}
                _ => {}
            }
        }
        self.publish(now);
        if self.lifecycle.activity() == ActivityLevel::Stopped && self.session.is_none() {
            for waiter in self.stop_waiters.drain(..) {
                let _ = waiter.send(());
            }
        }
        closed
    }

    /// Executes the lifecycle's commands; returns a connection it closed.
    pub(crate) fn execute_commands(&mut self, now: Instant) -> Option<ConnId> {
        let mut closed = None;
        while let Some(command) = self.lifecycle.poll_command() {
            match command {
                LifecycleCommand::Connect { deadline } => {
                    self.attempt += 1;
                    self.attempts_since_start += 1;
                    tracing::debug!(attempt = self.attempts_since_start, "connecting");
                    self.setup.connector.connect(self.attempt, deadline);
                }
                LifecycleCommand::CancelConnect => self.attempt += 1,
                LifecycleCommand::SendPing => {
                    if let Some((_, out)) = &self.conn {
                        out.send(Outbound::Ping);
                    }
                }
                LifecycleCommand::Close { code, reason } => {
                    if let Some((conn, out)) = self.conn.take() {
                        out.send(Outbound::Close(code, reason.clone()));
                        closed = Some(conn);
                    }
                    if let Some(mut session) = self.session.take() {
                        session.handle_closed(now, &reason);
                        self.last_session = Some(session);
                    }
                }
                _ => {}
            }
        }
        closed
    }

    /// Publishes the status if it changed; a change of progress alone waits until
    /// [`STATUS_PROGRESS_INTERVAL`] has passed since the last publication (a deadline of
    /// [`Repl::next_deadline`], whose timer drains and so publishes).
    fn publish(&mut self, now: Instant) {
        let (activity, error) = self.lifecycle.status();
        let status = ReplicatorStatus {
            activity,
            progress: self.progress,
            error: error.cloned(),
            attempts: self.attempts_since_start,
        };
        if status == self.status {
            self.progress_due = None;
            return;
        }
        let progress_only = status.activity == self.status.activity
            && status.error == self.status.error
            && status.attempts == self.status.attempts;
        if progress_only && let Some(at) = self.published_at {
            let due = at + STATUS_PROGRESS_INTERVAL;
            if now < due {
                self.progress_due = Some(due);
                return;
            }
        }
        tracing::debug!(?status.activity, error = ?status.error, "replicator status");
        self.progress_due = None;
        self.published_at = Some(now);
        self.status = status;
        self.setup.observer.status_changed(&self.status);
    }
}

/// A replicator as the application holds it: commands to its database's store thread.
/// Dropping it removes the replicator (closing its connection).
#[derive(Debug)]
pub struct ReplicatorCore {
    id: ReplId,
    database: DatabaseHandle,
}

impl ReplicatorCore {
    /// Creates a replicator on `config.database`'s store thread, dialing with runtime `rt`.
    pub fn new<R: super::Runtime>(
        rt: Arc<R>,
        config: &ReplicatorConfig,
        observer: Arc<dyn ReplicatorObserver>,
    ) -> Result<ReplicatorCore, DriverError> {
        let id = next_id();
        let dialer = super::dial::Dialer::new(rt, config, id)?;
        let mut lifecycle = LifecycleConfig::new(config.continuous);
        if let Some(max) = config.max_attempts {
            lifecycle.max_attempts = Some(max);
        }
        lifecycle.max_attempt_wait = config.max_attempt_wait;
        lifecycle.connect_timeout = config.connect_timeout;
        lifecycle.heartbeat = config.heartbeat;
        let setup = ReplSetup {
            direction: config.replicator_type,
            continuous: config.continuous,
            doc_ids: config.document_ids.clone(),
            push_filter: config.push_filter.clone(),
            pull_filter: config.pull_filter.clone(),
            conflict_resolver: config.conflict_resolver.clone(),
            enable_delta_sync: config.enable_delta_sync,
            lifecycle,
            fallback_identity: dialer.endpoint_name(),
            connector: Arc::new(dialer),
            observer,
        };
        config.database.send(Command::AddReplicator {
            id,
            setup: Box::new(setup),
        })?;
        Ok(ReplicatorCore {
            id,
            database: config.database.clone(),
        })
    }

    /// Starts replicating (from the beginning if `reset_checkpoint`).
    pub fn start(&self, reset_checkpoint: bool) -> Result<(), DriverError> {
        self.database.send(Command::Start {
            id: self.id,
            reset: reset_checkpoint,
        })
    }

    /// Stops: saves the checkpoint and closes the connection; completes once stopped.
    pub async fn stop(&self) -> Result<(), DriverError> {
        let (done, stopped) = oneshot::channel();
        self.database.send(Command::Stop { id: self.id, done })?;
        stopped.await.map_err(|_| DriverError::StoreThreadGone)
    }

    /// The IDs of documents with local changes not pushed yet.
    pub async fn pending_document_ids(&self) -> Result<Vec<String>, DriverError> {
        let (reply, answer) = oneshot::channel();
        self.database
            .send(Command::Pending { id: self.id, reply })?;
        Ok(answer.await.map_err(|_| DriverError::StoreThreadGone)??)
    }
}

impl Drop for ReplicatorCore {
    fn drop(&mut self) {
        let _ = self.database.send(Command::Remove { id: self.id });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    struct NoConnector;
    impl Connector for NoConnector {
        fn connect(&self, _: u64, _: Instant) {}
    }

    #[derive(Default)]
    struct Recorder(Mutex<Vec<ReplicatorStatus>>);
    impl ReplicatorObserver for Recorder {
        fn status_changed(&self, status: &ReplicatorStatus) {
            self.0.lock().unwrap().push(status.clone());
        }
        fn document_event(&self, _: ActiveEvent) {}
    }

    fn progress(completed: u64) -> ferry_engine::repl::Progress {
        ferry_engine::repl::Progress {
            completed,
            total: 10,
        }
    }

    #[test]
    fn a_held_back_progress_change_is_a_deadline_and_is_published_when_it_passes() {
        let recorder = Arc::new(Recorder::default());
        let mut repl = Repl::new(ReplSetup {
            direction: Direction::Push,
            continuous: false,
            doc_ids: None,
            push_filter: None,
            pull_filter: None,
            conflict_resolver: Default::default(),
            enable_delta_sync: false,
            lifecycle: LifecycleConfig::new(false),
            fallback_identity: "test".into(),
            connector: Arc::new(NoConnector),
            observer: recorder.clone(),
        });
        let published = || recorder.0.lock().unwrap().clone();
        let t0 = Instant::now();
        repl.progress = progress(1);
        repl.publish(t0);
        assert_eq!(published().len(), 1, "the first change goes out at once");
        assert_eq!(repl.next_deadline(), None);

        repl.progress = progress(2);
        repl.publish(t0 + Duration::from_millis(10));
        repl.progress = progress(3);
        repl.publish(t0 + Duration::from_millis(20));
        assert_eq!(published().len(), 1, "progress alone waits");
        let due = t0 + STATUS_PROGRESS_INTERVAL;
        assert_eq!(repl.next_deadline(), Some(due), "until a deadline");

        repl.publish(due);
        assert_eq!(published().last().unwrap().progress, progress(3));
        assert_eq!(published().len(), 2);
        assert_eq!(repl.next_deadline(), None, "the deadline moved on");

        // Anything but progress goes out at once, held-back progress with it.
        repl.progress = progress(4);
        repl.publish(due + Duration::from_millis(1));
        repl.attempts_since_start = 1;
        repl.publish(due + Duration::from_millis(2));
        let last = published().last().unwrap().clone();
        assert_eq!((last.attempts, last.progress), (1, progress(4)));
        assert_eq!(published().len(), 3);
        assert_eq!(repl.next_deadline(), None);
    }
}
