//! The public [`Listener`] and [`Replicator`], written once and generic over the [`Runtime`]:
//! each adapter names them with its runtime (`ferry_tokio::Listener` is
//! `Listener<TokioRuntime>`), so the tokio and async-std APIs are the same code.

use std::marker::PhantomData;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use ferry_engine::repl::ActiveEvent;
use futures_channel::mpsc;
use futures_util::{Stream, StreamExt};

use super::Runtime;
use super::config::{ListenerConfig, ListenerStatus, ReplicatorConfig, ReplicatorStatus};
use super::error::DriverError;
use super::listen::ListenerCore;
use super::replicator::{ReplicatorCore, ReplicatorObserver};
use crate::identity::TlsIdentity;

/// A running listener (Couchbase Lite's `URLEndpointListener`) on runtime `R`. Stop it with
/// [`Listener::stop`]; dropping it stops accepting but leaves open connections to end by
/// themselves.
pub struct Listener<R> {
    core: ListenerCore,
    runtime: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Listener<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("core", &self.core)
            .finish()
    }
}

impl<R: Runtime> Listener<R> {
    /// Binds the configured address and starts serving (on the runtime of the caller:
    /// [`Runtime::current`]).
    pub async fn start(config: ListenerConfig) -> Result<Self, DriverError> {
        let core = ListenerCore::start(R::current(), config).await?;
        Ok(Listener {
            core,
            runtime: PhantomData,
        })
    }

    /// Stops accepting and closes every connection with close code 1001 (going away), which
    /// replicators treat as transient: they retry. Completes when every connection ended.
    pub async fn stop(&self) {
        self.core.stop().await;
    }

    /// The TCP port (the one picked when the configuration said 0).
    pub fn port(&self) -> u16 {
        self.core.local_addr().port()
    }

    /// The bound socket address.
    pub fn local_addr(&self) -> SocketAddr {
        self.core.local_addr()
    }

    /// The URLs replicators can use (`ws[s]://<address>:<port>/<db>`).
    pub fn urls(&self) -> Vec<String> {
        self.core.urls()
    }

    /// The TLS identity (`None` when TLS is disabled).
    pub fn tls_identity(&self) -> Option<&TlsIdentity> {
        self.core.tls_identity()
    }

    /// The number of open connections, and of those moving documents.
    pub fn status(&self) -> ListenerStatus {
        self.core.status()
    }
}

/// How many document events a slow [`DocumentEvents`] receiver may lag behind; events past
/// that are dropped for it (and counted in [`DocumentEvents::missed`]).
const EVENT_CAPACITY: usize = 4096;

/// The replicator's subscribers: the latest status and every open stream.
struct Channels {
    latest: Mutex<ReplicatorStatus>,
    statuses: Mutex<Vec<mpsc::UnboundedSender<ReplicatorStatus>>>,
    events: Mutex<Vec<(mpsc::Sender<ActiveEvent>, Arc<std::sync::atomic::AtomicU64>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl ReplicatorObserver for Channels {
    fn status_changed(&self, status: &ReplicatorStatus) {
        // The subscriber list stays locked while the latest status changes, so a new
        // subscriber sees either the old status and this change, or this status.
        let mut subscribers = lock(&self.statuses);
        *lock(&self.latest) = status.clone();
        subscribers.retain(|tx| tx.unbounded_send(status.clone()).is_ok());
    }

    fn document_event(&self, event: ActiveEvent) {
        lock(&self.events).retain_mut(|(tx, missed)| match tx.try_send(event.clone()) {
            Ok(()) => true,
            Err(e) if e.is_full() => {
                missed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                true
            }
            Err(_) => false,
        });
    }
}

/// A replicator (Couchbase Lite's `Replicator`) on runtime `R`: connects to a listener and
/// pushes, pulls or both, once or continuously, retrying transient failures with backoff.
/// Dropping it stops it without saving the checkpoint: call [`Replicator::stop`] first.
pub struct Replicator<R> {
    core: ReplicatorCore,
    channels: Arc<Channels>,
    runtime: PhantomData<fn() -> R>,
}

impl<R> std::fmt::Debug for Replicator<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicator")
            .field("status", &*lock(&self.channels.latest))
            .finish_non_exhaustive()
    }
}

impl<R: Runtime> Replicator<R> {
    /// A stopped replicator (on the runtime of the caller: [`Runtime::current`]). Fails on an
    /// unusable configuration: a bad URL, headers or TLS settings (`wss://` with no way to
    /// trust the server).
    pub fn new(config: ReplicatorConfig) -> Result<Self, DriverError> {
        let channels = Arc::new(Channels {
            latest: Mutex::new(ReplicatorStatus::stopped()),
            statuses: Mutex::new(Vec::new()),
            events: Mutex::new(Vec::new()),
        });
        let core = ReplicatorCore::new(R::current(), &config, channels.clone())?;
        Ok(Replicator {
            core,
            channels,
            runtime: PhantomData,
        })
    }

    /// Starts replicating; `reset_checkpoint` starts from the beginning instead of the saved
    /// checkpoint.
    pub fn start(&self, reset_checkpoint: bool) -> Result<(), DriverError> {
        self.core.start(reset_checkpoint)
    }

    /// Stops: the session saves its checkpoint, the connection closes normally. Completes once
    /// the status is `Stopped`.
    pub async fn stop(&self) -> Result<(), DriverError> {
        self.core.stop().await
    }

    /// The IDs of local documents not pushed yet (empty for a pull-only replicator).
    pub async fn pending_document_ids(&self) -> Result<Vec<String>, DriverError> {
        self.core.pending_document_ids().await
    }

    /// Whether a local document has changes not pushed yet.
    pub async fn is_document_pending(&self, doc_id: &str) -> Result<bool, DriverError> {
        Ok(self
            .pending_document_ids()
            .await?
            .iter()
            .any(|id| id == doc_id))
    }
}

impl<R> Replicator<R> {
    /// The status last published. A change of activity, error or attempts is published at
    /// once; a change of progress alone at most every
    /// [`STATUS_PROGRESS_INTERVAL`](super::STATUS_PROGRESS_INTERVAL) (100 ms), so the progress
    /// seen here may be that long behind the documents' own events.
    pub fn status(&self) -> ReplicatorStatus {
        lock(&self.channels.latest).clone()
    }

    /// The status changes from now on, as a stream (any runtime can poll it). Changes of
    /// progress alone come at most every
    /// [`STATUS_PROGRESS_INTERVAL`](super::STATUS_PROGRESS_INTERVAL); every other change comes
    /// at once (see [`Replicator::status`]).
    pub fn status_changes(&self) -> StatusChanges {
        let (tx, rx) = mpsc::unbounded();
        lock(&self.channels.statuses).push(tx);
        StatusChanges {
            rx,
            channels: self.channels.clone(),
        }
    }

    /// The per-document events (`DocumentReplicated`, `DocumentFailed`) from now on.
    pub fn document_events(&self) -> DocumentEvents {
        let (tx, rx) = mpsc::channel(EVENT_CAPACITY);
        let missed = Arc::new(std::sync::atomic::AtomicU64::new(0));
        lock(&self.channels.events).push((tx, missed.clone()));
        DocumentEvents { rx, missed }
    }
}

/// A replicator's status changes ([`Replicator::status_changes`]): a [`Stream`] of every
/// status published after it was made; it ends when the replicator is dropped.
pub struct StatusChanges {
    rx: mpsc::UnboundedReceiver<ReplicatorStatus>,
    channels: Arc<Channels>,
}

impl std::fmt::Debug for StatusChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StatusChanges").finish_non_exhaustive()
    }
}

impl StatusChanges {
    /// Waits until the status satisfies `pred` (the current one included) and returns that
    /// status; `None` if the replicator was dropped first. Bound it with a timeout.
    pub async fn wait_for(
        &mut self,
        mut pred: impl FnMut(&ReplicatorStatus) -> bool,
    ) -> Option<ReplicatorStatus> {
        let current = lock(&self.channels.latest).clone();
        if pred(&current) {
            return Some(current);
        }
        while let Some(status) = self.rx.next().await {
            if pred(&status) {
                return Some(status);
            }
        }
        None
    }
}

impl Stream for StatusChanges {
    type Item = ReplicatorStatus;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_next_unpin(cx)
    }
}

/// A replicator's per-document events ([`Replicator::document_events`]): a [`Stream`] that
/// ends when the replicator is dropped.
pub struct DocumentEvents {
    rx: mpsc::Receiver<ActiveEvent>,
    missed: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for DocumentEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocumentEvents")
            .field("missed", &self.missed())
            .finish_non_exhaustive()
    }
}

impl DocumentEvents {
    /// The next event already received, without waiting.
    pub fn try_recv(&mut self) -> Option<ActiveEvent> {
        self.rx.try_recv().ok()
    }

    /// How many events were dropped because this receiver lagged too far behind.
    pub fn missed(&self) -> u64 {
        self.missed.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Stream for DocumentEvents {
    type Item = ActiveEvent;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.rx.poll_next_unpin(cx)
    }
}
