//! # ferry-net
//!
//! The networking pieces both Ferry adapters (tokio and async-std) share, written once and
//! independent of any async runtime: this crate depends on neither tokio nor async-std; the
//! [`driver`] opens sockets and spawns tasks only through the runtime an adapter hands it (its
//! store threads are plain OS threads).
//!
//! - [`identity`]: TLS identities — create self-signed ones, save/load/delete them by label in
//!   a directory (key files 0600), import PEM/DER, the listener's anonymous identity, SHA-256
//!   fingerprints.
//! - [`tls`]: rustls configurations (ring provider only, TLS 1.2 minimum) for listeners and
//!   replicators, with the pinning, accept-only-self-signed and client-certificate-callback
//!   verifiers.
//! - [`auth`]: the listener's [`Authenticator`] and the replicator's [`BasicCredentials`].
//! - [`upgrade`]: the WebSocket upgrade as pure functions over `http` types: validating,
//!   authenticating and answering a request for `/<db>/_blipsync`, building a replicator's
//!   request and reading the answer, negotiating the replication profile.
//! - [`driver`]: the driver both adapters run — one store thread per database running the one
//!   driver loop over every session, the WebSocket pump, the listener's accept loop and the
//!   replicator's dialer — generic over futures-io streams and a small [`driver::Runtime`]
//!   trait that each adapter implements in about a hundred lines.
//! - [`api`]: the names every adapter re-exports (configurations, statuses, events, errors).
//! - [`error`]: typed errors; [`ConnectError::is_transient`] classifies failures as Couchbase
//!   Lite does (retry or stop).

#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod api;
pub mod auth;
pub mod driver;
pub mod error;
pub mod identity;
pub mod tls;
pub mod upgrade;

pub use auth::{Authenticator, BasicCredentials, ClientCertificateAuth};
pub use error::{ConnectError, FingerprintError, IdentityError, TlsError};
pub use identity::{Fingerprint, IdentityAttributes, KeyUsage, TlsIdentity};
pub use tls::ServerTrust;
pub use upgrade::{ClientHandshake, Endpoint, Negotiated, ServerHandshake};

/// The rustls version this crate builds configurations for, re-exported so adapters use the
/// same one.
pub use rustls;
/// The certificate and key types of the public API.
pub use rustls_pki_types as pki_types;
