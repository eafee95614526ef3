//! # ferry-engine: the sans-IO core of Ferry
//!
//! This crate holds every rule of Ferry's peer-to-peer document sync as pure state machines and
//! data types. It performs **no IO**: no sockets, no files, no threads, no async runtime, no clock
//! and no global randomness. Its dependency graph contains nothing that can block, spawn, read a
//! clock or a socket (CI checks `cargo tree -p ferry-engine -e normal`).
//!
//! ## The polling contract
//!
//! A host (an adapter, a test, the simulator, a fuzzer, an app's own event loop) owns every socket,
//! timer and thread and drives the engine's state machines:
//!
//! - **inputs** are `handle_*` methods: bytes received, a connection opened or closed, a timer
//!   fired, a local change happened. Where time matters they take `now: Instant`.
//! - **outputs** are `#[must_use]` `poll_*` methods returning `Option<_>`: bytes to send, events
//!   for the application, the next deadline (`poll_timeout`).
//! - **After every input the host drains every `poll_*` method until it returns `None`.** Outputs
//!   left undrained are not lost, but the state machine makes no promise about progress until they
//!   are taken.
//!
//! The same inputs give the same outputs, byte for byte. Randomness (such as a new database's
//! UUID) comes in as a seed through configuration; collections whose order is observable are
//! ordered.
//!
//! ## Layers
//!
//! - [`value`]: the JSON data model, its JSON and deterministic CBOR encodings;
//! - [`delta`]: delta sync, Couchbase Lite's JSON-delta format (Fleece's `JSONDelta`): diff and
//!   apply over [`value::Value`];
//! - [`rev`]: revision IDs, revision digests and the per-document revision tree;
//! - [`store`]: the synchronous [`store::Store`] trait, the engine's only door to persistence;
//! - [`blob`]: blob references in bodies, blob digests and proofs;
//! - [`db`]: the local database API over any store;
//! - [`blip`]: the BLIP v3 message transport (frames, CRC, deflate, ACK flow control, requests
//!   and replies) as a sans-IO [`blip::Connection`].
//! - [`repl`]: replication over BLIP — the passive session a listener runs per connection, the
//!   active session a replicator runs, conflict resolution, filters, delta sync, and the
//!   replicator's connection life cycle ([`repl::ConnectionLifecycle`]: retries, backoff,
//!   heartbeat). A replicator is an [`repl::ActiveSession`] per connection driven by one
//!   [`repl::ConnectionLifecycle`].
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod blip;
pub mod blob;
pub mod db;
pub mod delta;
pub mod fuzz;
pub mod repl;
pub mod rev;
pub mod store;
pub mod value;
