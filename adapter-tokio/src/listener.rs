//! [`Listener`]: the passive peer, serving one database over `ws[s]://host:port/<db>/_blipsync`.

use ferry_net::TlsIdentity;
use ferry_net::driver::{ListenerConfig, ListenerCore, ListenerStatus};

use crate::Error;
use crate::runtime::TokioRuntime;

/// A running listener (Couchbase Lite's `URLEndpointListener`). Stop it with
/// [`Listener::stop`]; dropping it stops accepting but leaves open connections to end by
/// themselves.
#[derive(Debug)]
pub struct Listener {
    core: ListenerCore,
}

impl Listener {
    /// Binds the configured address and starts serving (within a tokio runtime).
    pub async fn start(config: ListenerConfig) -> Result<Listener, Error> {
        let core = ListenerCore::start(TokioRuntime::current(), config).await?;
        Ok(Listener { core })
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
    pub fn local_addr(&self) -> std::net::SocketAddr {
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
