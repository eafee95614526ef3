//! A continuous push-and-pull replicator trusting a self-signed listener (such as the
//! `listener` example's), printing every status change.
//!
//! `cargo run -p ferry-tokio --example replicator [wss://127.0.0.1:4984/notes] [path.sqlite]`
#![allow(clippy::print_stdout)] // an example prints

use ferry_store_sqlite::SqliteStore;
use ferry_tokio::{Database, Replicator, ReplicatorAuthenticator, ReplicatorConfig};
use futures_util::StreamExt;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let url = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "wss://127.0.0.1:4984/notes".into());
    let path = std::env::args()
        .nth(2)
        .unwrap_or_else(|| "local.sqlite".into());

    let db = Database::open_store("local", SqliteStore::open(path)?)?;
    let config = ReplicatorConfig::new(db, url)
        .continuous(true)
        .accept_only_self_signed_server_certificate(true)
        .authenticator(ReplicatorAuthenticator::basic("admin", "secret"));
    let replicator = Replicator::new(config)?;
    replicator.start(false)?;

    let mut changes = replicator.status_changes();
    loop {
        tokio::select! {
            changed = changes.next() => {
                let Some(status) = changed else { break };
                println!("{status:?}");
            }
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    replicator.stop().await?;
    Ok(())
}
