//! The N-peer simulator (see the replication tests).
