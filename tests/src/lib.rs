//! # ferry-tests: deterministic harnesses for Ferry's engine
//!
//! - [`pair`]: one active and one passive session over an in-memory link, with memory stores and
//!   a virtual clock. Every byte goes through the real BLIP codec.
//! - [`sim`]: the N-peer simulator: seeded random writes, disconnects and reconnects over star or
//!   mesh wiring, run until quiescent, then checked for convergence.
//!
//! Nothing here reads a clock or a global RNG: the same seed gives the same run, byte for byte.
//! Applications can use both to test their own configurations and conflict resolvers.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod check;
pub mod clock;
pub mod fuzz;
pub mod link;
pub mod pair;
pub mod rng;
pub mod sim;
pub mod workload;

/// The memory-backed database every harness peer uses.
pub type MemDb = ferry_engine::db::Database<ferry_store_memory::MemoryStore>;

/// A fresh memory database whose UUID comes from `seed`.
pub fn memory_db(seed: u64) -> MemDb {
    ferry_engine::db::Database::open(
        ferry_store_memory::MemoryStore::new(),
        ferry_engine::db::DatabaseConfig::with_uuid_seed(seed),
    )
    .expect("a memory database opens")
}
