//! # ferry-async-std: Ferry's turnkey listener and replicator on async-std (and smol)
//!
//! **async-std is discontinued upstream** ([RUSTSEC-2025-0052]): its authors recommend smol.
//! This crate is therefore written on futures-io traits only — the driver, TLS, identities,
//! the WebSocket upgrade and the public [`Listener`] / [`Replicator`] are ferry-net's, shared
//! with `ferry-tokio` — and holds just the runtime glue: one [`FuturesIoRuntime`] (TCP from
//! async-net, on the async-io reactor both runtimes use) over an [`Executor`] — [`AsyncStd`]
//! (async-std's tasks and timers: [`AsyncStdRuntime`]) or, with the default `smol` feature,
//! [`smol::Smol`] (smol's: [`smol::SmolRuntime`], no async-std involved). TLS is ferry-net's:
//! rustls through futures-rustls with the ring provider only.
//!
//! The configuration types, statuses, document events and errors are the same types as
//! `ferry-tokio`'s, so code moves between the adapters by changing the crate name, and a
//! listener on one runtime serves replicators on another.
//!
//! [RUSTSEC-2025-0052]: https://rustsec.org/advisories/RUSTSEC-2025-0052.html
//!
//! ```no_run
//! # async fn demo() -> Result<(), ferry_async_std::Error> {
//! use ferry_engine::db::{Database as Db, DatabaseConfig};
//! use ferry_store_memory::MemoryStore;
//! use ferry_async_std::{Authenticator, Database, Listener, ListenerConfig};
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
//! On smol, name the smol types: `ferry_async_std::smol::Listener::start(config)` inside
//! `smol::block_on`.
//!
//! ## Threads and tasks
//!
//! As in `ferry-tokio`: one store thread per [`Database`] runs the one driver loop over every
//! session using it; one task per connection pumps WebSocket messages; one task accepts for
//! each listener; one task per connection attempt dials.

mod runtime;

pub use ferry_net::api::*;
pub use runtime::{AsyncStd, AsyncStdRuntime, Executor, FuturesIoRuntime};

/// A running listener (Couchbase Lite's `URLEndpointListener`) on async-std. The API is
/// ferry-net's, shared with every adapter.
pub type Listener = ferry_net::driver::Listener<AsyncStdRuntime>;

/// A replicator (Couchbase Lite's `Replicator`) on async-std. The API is ferry-net's, shared
/// with every adapter.
pub type Replicator = ferry_net::driver::Replicator<AsyncStdRuntime>;

/// The same listener and replicator on smol: run them inside `smol::block_on` (or any
/// executor, with smol's global one spawning the tasks).
#[cfg(feature = "smol")]
pub mod smol {
    pub use crate::runtime::{Smol, SmolRuntime};

    /// A listener on smol.
    pub type Listener = ferry_net::driver::Listener<SmolRuntime>;
    /// A replicator on smol.
    pub type Replicator = ferry_net::driver::Replicator<SmolRuntime>;
}
