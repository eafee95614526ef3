//! The driver's error: what starting a listener or replicator, or a database call, can fail
//! with.

use std::io;

use ferry_engine::db::DbError;

use crate::error::{ConnectError, IdentityError, TlsError};

/// Why a listener or replicator could not start, or a database call failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DriverError {
    /// The database refused the operation.
    #[error("database error: {0}")]
    Database(#[from] DbError),
    /// The store thread is gone (the database was closed, or it panicked).
    #[error("the database's store thread is not running")]
    StoreThreadGone,
    /// The listener could not bind its address.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address.
        addr: String,
        /// The system's error.
        #[source]
        source: io::Error,
    },
    /// The network interface named in the configuration does not exist or has no address.
    #[error("unknown network interface {0:?}")]
    UnknownInterface(String),
    /// The TLS identity could not be created or loaded.
    #[error("TLS identity: {0}")]
    Identity(#[from] IdentityError),
    /// The TLS configuration could not be built.
    #[error("TLS configuration: {0}")]
    Tls(#[from] TlsError),
    /// The replicator's configuration is unusable (bad URL, credentials over a header, …).
    #[error("invalid replicator configuration: {0}")]
    Config(#[from] ConnectError),
    /// A closure given to [`DatabaseHandle::with`](super::DatabaseHandle::with) named another
    /// store type than the database's.
    #[error("the database does not use the store type {0}")]
    WrongStoreType(&'static str),
    /// The replicator is not known to its database any more.
    #[error("the replicator was removed")]
    ReplicatorGone,
}

impl DriverError {
    /// Whether trying again later may succeed (a busy store, an address still in use).
    pub fn is_transient(&self) -> bool {
        match self {
            DriverError::Database(DbError::Store(s)) => s.is_transient(),
            DriverError::Bind { source, .. } => source.kind() == io::ErrorKind::AddrInUse,
            DriverError::Config(e) => e.is_transient(),
            _ => false,
        }
    }
}
