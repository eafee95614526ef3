//! The runtime-agnostic driver both adapters share: one store thread per database running the
//! one driver loop, the WebSocket connection pump, the listener's accept loop and the
//! replicator's dialer — written once over futures-io streams and the small [`Runtime`] trait.
//!
//! ## Architecture
//!
//! - **The store thread** ([`DatabaseHandle::open`]): a plain OS thread owns the
//!   [`Database`](ferry_engine::db::Database) and every session that uses it: the passive
//!   sessions of listeners, and the active sessions and
//!   [`ConnectionLifecycle`](ferry_engine::repl::ConnectionLifecycle) machines of replicators.
//!   It runs the one driver loop (DESIGN §8.7): wait for a command or the earliest engine
//!   deadline (`recv_timeout`), call one `handle_*`, drain every `poll_*`, execute (queue frames
//!   on connections, ask the dialer to connect, publish statuses). Async tasks never touch the
//!   store, so store work never blocks the runtime. After any command that wrote (observed with
//!   the database's change observer), every session gets `handle_database_changed`, which is how
//!   continuous replicators push application writes and serve them to pullers.
//! - **Per connection** a task pumps the WebSocket: binary messages go to the store thread,
//!   frames from the store thread go out; text messages are a protocol error (close 1002); pings
//!   and pongs are the heartbeat.
//! - **The listener** accepts TCP connections, runs TLS (through the runtime), reads the HTTP
//!   upgrade itself and answers it with [`ServerHandshake`](crate::ServerHandshake), so refusals
//!   are plain HTTP answers with a reason.
//! - **The dialer** executes the lifecycle's `Connect` commands: TCP, TLS, the upgrade with
//!   [`ClientHandshake`](crate::ClientHandshake), then the same pump.
//!
//! An adapter implements [`Runtime`] (spawn, sleep, TCP connect/bind/accept) and names
//! [`Listener`] and [`Replicator`] with it: the public API is written once, here.

mod config;
mod dial;
mod error;
mod http1;
mod listen;
mod public;
mod pump;
mod remote;
mod replicator;
mod store;
mod tls_io;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_tungstenite::tungstenite::protocol::WebSocketConfig;
use futures_util::io::{AsyncRead, AsyncWrite};

pub use config::{
    ListenerConfig, ListenerLimits, ListenerStatus, ReplicatorAuthenticator, ReplicatorConfig,
    ReplicatorStatus,
};
pub use error::DriverError;
pub use listen::ListenerCore;
pub use public::{DocumentEvents, Listener, Replicator, StatusChanges};
pub use replicator::{ReplicatorCore, ReplicatorObserver, STATUS_PROGRESS_INTERVAL};
pub use store::DatabaseHandle;

/// A boxed, sendable future.
pub type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

/// A boxed, sendable future borrowing for `'a`.
pub type BoxFutureRef<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A byte stream (TCP, or TLS over TCP) as futures-io traits.
pub trait ByteStream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> ByteStream for T {}

/// A boxed byte stream.
pub type BoxStream = Box<dyn ByteStream>;

/// What an async runtime gives the driver — tasks, timers and TCP — the whole difference
/// between the tokio, async-std and smol adapters.
pub trait Runtime: Send + Sync + 'static {
    /// The runtime of the calling task (what [`Listener::start`] and [`Replicator::new`]
    /// run on). May panic outside the runtime, as its own `spawn` does.
    fn current() -> Arc<Self>
    where
        Self: Sized;

    /// A bound TCP listener.
    type TcpListener: Send + Sync + 'static;
    /// A connected TCP stream as futures-io traits (TLS, when configured, is the driver's:
    /// futures-rustls over this stream, the same for every runtime).
    type Tcp: ByteStream;

    /// Runs a task in the background.
    fn spawn(&self, future: BoxFuture<()>);
    /// Completes after `duration`.
    fn sleep(&self, duration: Duration) -> BoxFuture<()>;
    /// Resolves `host:port` and connects to the first address that answers.
    fn connect(&self, authority: String) -> BoxFuture<io::Result<Self::Tcp>>;
    /// Binds a TCP listener.
    fn bind(&self, addr: SocketAddr) -> BoxFuture<io::Result<Self::TcpListener>>;
    /// The address a listener is bound to.
    fn local_addr(&self, listener: &Self::TcpListener) -> io::Result<SocketAddr>;
    /// Accepts the next connection.
    fn accept<'a>(
        &self,
        listener: &'a Self::TcpListener,
    ) -> BoxFutureRef<'a, io::Result<(Self::Tcp, SocketAddr)>>;
}

/// Bytes tungstenite asks of the stream per read. Each read first zeroes that much of its buffer
/// (tungstenite's default of 128 KiB made the zeroing 4% of a pushing replicator's runtime
/// threads, reading one small frame at a time); 16 KiB is a full TLS record's plaintext.
const WS_READ_BUFFER: usize = 16 << 10;

/// The WebSocket settings of every connection, both sides: messages and frames up to
/// `max_message_size` bytes.
fn ws_config(max_message_size: usize) -> WebSocketConfig {
    WebSocketConfig::default()
        .read_buffer_size(WS_READ_BUFFER)
        .max_message_size(Some(max_message_size))
        .max_frame_size(Some(max_message_size))
}

/// Runs `future` with a time limit on `rt`'s timers: `None` if `limit` passed first.
pub async fn timeout<R: Runtime + ?Sized, T>(
    rt: &R,
    limit: Duration,
    future: impl Future<Output = T>,
) -> Option<T> {
    let future = std::pin::pin!(future);
    match futures_util::future::select(future, rt.sleep(limit)).await {
        futures_util::future::Either::Left((value, _)) => Some(value),
        futures_util::future::Either::Right(((), _)) => None,
    }
}
