//! The public names of every adapter, in one place: `ferry_tokio` and `ferry_async_std`
//! re-export this module and add only their runtime's `Listener` and `Replicator` aliases, so
//! configurations, statuses, events and errors are the same types on every runtime.

pub use crate::auth::{Authenticator, BasicCredentials};
pub use crate::driver::{
    DatabaseHandle as Database, DocumentEvents, DriverError as Error, ListenerConfig,
    ListenerLimits, ListenerStatus, ReplicatorAuthenticator, ReplicatorConfig, ReplicatorStatus,
    StatusChanges,
};
pub use crate::identity::{Fingerprint, IdentityAttributes, KeyUsage, TlsIdentity};
pub use ferry_engine::repl::{
    ActiveEvent as DocumentEvent, ActivityLevel, ConnectionError, Direction as ReplicatorType,
    Progress,
};
