//! [`Replicator`]: the active peer, pushing and pulling with a listener.

use std::sync::Arc;

use ferry_engine::repl::ActiveEvent;
use ferry_net::driver::{ReplicatorConfig, ReplicatorCore, ReplicatorObserver, ReplicatorStatus};
use tokio::sync::{broadcast, watch};

use crate::Error;
use crate::runtime::TokioRuntime;

/// How many document events a slow `document_events` receiver may lag behind before missing
/// some (it is told how many with `RecvError::Lagged`).
const EVENT_CAPACITY: usize = 4096;

struct Channels {
    status: watch::Sender<ReplicatorStatus>,
    events: broadcast::Sender<ActiveEvent>,
}

impl ReplicatorObserver for Channels {
    fn status_changed(&self, status: &ReplicatorStatus) {
        self.status.send_replace(status.clone());
    }

    fn document_event(&self, event: ActiveEvent) {
        let _ = self.events.send(event);
    }
}

/// A replicator (Couchbase Lite's `Replicator`): connects to a listener and pushes, pulls or
/// both, once or continuously, retrying transient failures with backoff. Dropping it stops it
/// without saving the checkpoint: call [`Replicator::stop`] first.
pub struct Replicator {
    core: ReplicatorCore,
    status: watch::Receiver<ReplicatorStatus>,
    events: broadcast::Sender<ActiveEvent>,
}

impl std::fmt::Debug for Replicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Replicator")
            .field("status", &*self.status.borrow())
            .finish_non_exhaustive()
    }
}

impl Replicator {
    /// A stopped replicator (call within a tokio runtime). Fails on an unusable
    /// configuration: a bad URL, headers or TLS settings (`wss://` with no way to trust the
    /// server).
    pub fn new(config: ReplicatorConfig) -> Result<Replicator, Error> {
        let (status_tx, status) = watch::channel(ReplicatorStatus::stopped());
        let (events, _) = broadcast::channel(EVENT_CAPACITY);
        let channels = Arc::new(Channels {
            status: status_tx,
            events: events.clone(),
        });
        let core = ReplicatorCore::new(TokioRuntime::current(), &config, channels)?;
        Ok(Replicator {
            core,
            status,
            events,
        })
    }

    /// Starts replicating; `reset_checkpoint` starts from the beginning instead of the saved
    /// checkpoint.
    pub fn start(&self, reset_checkpoint: bool) -> Result<(), Error> {
        self.core.start(reset_checkpoint)
    }

    /// Stops: the session saves its checkpoint, the connection closes normally. Completes once
    /// the status is `Stopped`.
    pub async fn stop(&self) -> Result<(), Error> {
        self.core.stop().await
    }

    /// The current status.
    pub fn status(&self) -> ReplicatorStatus {
        self.status.borrow().clone()
    }

    /// A receiver of status changes (`changed().await`, `wait_for(...)`).
    pub fn status_changes(&self) -> watch::Receiver<ReplicatorStatus> {
        self.status.clone()
    }

    /// A receiver of per-document events (`DocumentReplicated`, `DocumentFailed`) from now on.
    pub fn document_events(&self) -> broadcast::Receiver<ActiveEvent> {
        self.events.subscribe()
    }

    /// The IDs of local documents not pushed yet (empty for a pull-only replicator).
    pub async fn pending_document_ids(&self) -> Result<Vec<String>, Error> {
        self.core.pending_document_ids().await
    }

    /// Whether a local document has changes not pushed yet.
    pub async fn is_document_pending(&self, doc_id: &str) -> Result<bool, Error> {
        Ok(self
            .pending_document_ids()
            .await?
            .iter()
            .any(|id| id == doc_id))
    }
}
