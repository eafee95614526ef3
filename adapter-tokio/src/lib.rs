//! # ferry-tokio: Ferry's turnkey listener and replicator on tokio
//!
//! - [`Listener`] serves one database to replicators at `ws[s]://host:port/<db>/_blipsync`
//!   (TLS with an anonymous or given identity, password or client-certificate authentication,
//!   read-only mode, connection counts).
//! - [`Replicator`] pushes, pulls or both with a listener, once or continuously, retrying
//!   transient failures with backoff, with status and document-event streams.
//! - [`Database`] is the handle both use: the database lives on its own store thread, which
//!   runs every session using it, so store work never blocks the runtime.
//!
//! Everything runtime-agnostic (the driver loop, the WebSocket pump, the upgrade, TLS over
//! futures-rustls, and the public `Listener` / `Replicator` themselves) is in `ferry-net`
//! (`ferry_net::driver`), shared with `ferry-async-std`; this crate holds only the tokio glue:
//! [`TokioRuntime`] (tasks, timers, TCP) and the names of the API.
//!
//! ## Threads and tasks
//!
//! - One **store thread** per [`Database`] owns the database and every session using it
//!   (passive sessions of listeners, active sessions and connection life cycles of
//!   replicators) and runs the one driver loop: wait for a command or the earliest engine
//!   deadline, call one `handle_*`, drain every `poll_*`, execute. Application calls
//!   ([`Database::put`], [`Database::get`], [`Database::with`]) go through it too, so
//!   continuous replicators push application writes at once.
//! - One **tokio task per connection** moves WebSocket binary messages to the store thread and
//!   frames back; one task accepts for each listener; one task per connection attempt dials.
//!
//! ## Errors
//!
//! [`Error`] is what starting a listener or replicator, or a database call, fails with. A
//! running replicator reports failures in its [`ReplicatorStatus`] as a
//! [`ConnectionError`], whose `is_transient()` decides between retrying with backoff
//! (refused, reset, timed out, HTTP 408/429/502/503/504, close codes 1001/1006/…) and stopping
//! (401, 403, TLS, protocol errors), as Couchbase Lite does.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_tokio::Error> {
//! use ferry_engine::db::{Database as Db, DatabaseConfig};
//! use ferry_store_memory::MemoryStore;
//! use ferry_tokio::{Database, Listener, ListenerConfig, Authenticator};
//!
//! let db = Database::open("notes", Db::open(MemoryStore::new(), DatabaseConfig::default())?);
//! let listener = Listener::start(
//!     ListenerConfig::new(db).authenticator(Authenticator::password(|u, p| u == "me" && p == "pw")),
//! )
//! .await?;
//! println!("{:?}", listener.urls());
//! # Ok(()) }
//! ```
//!
//! Replicators take push and pull filters and a conflict resolver
//! (`ReplicatorConfig::push_filter`, `pull_filter`, `conflict_resolver`; the default resolves
//! as Couchbase Lite does); delta sync flows when the listener's `enable_delta_sync` is on.

mod runtime;

pub use ferry_net::api::*;
pub use runtime::{TokioRuntime, TokioTcp};

/// A running listener (Couchbase Lite's `URLEndpointListener`) on tokio: start it within a
/// tokio runtime. The API is ferry-net's, shared with every adapter.
pub type Listener = ferry_net::driver::Listener<TokioRuntime>;

/// A replicator (Couchbase Lite's `Replicator`) on tokio: create it within a tokio runtime.
/// The API is ferry-net's, shared with every adapter; its [`StatusChanges`] and
/// [`DocumentEvents`] are plain `futures` streams.
pub type Replicator = ferry_net::driver::Replicator<TokioRuntime>;
