//! A password-protected TLS listener serving a SQLite database (anonymous self-signed identity).
//!
//! `cargo run -p ferry-tokio --example listener [path.sqlite] [port]`, then run the
//! `replicator` example with the URL it prints.
#![allow(clippy::print_stdout)] // an example prints

use ferry_store_sqlite::SqliteStore;
use ferry_tokio::{Authenticator, Database, Listener, ListenerConfig};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "notes.sqlite".into());
    let port = std::env::args()
        .nth(2)
        .and_then(|p| p.parse().ok())
        .unwrap_or(4984);

    let db = Database::open_store("notes", SqliteStore::open(path)?)?;
    let auth = Authenticator::password(|user, password| user == "admin" && password == "secret");
    let listener = Listener::start(ListenerConfig::new(db).port(port).authenticator(auth)).await?;
    let fingerprint = listener
        .tls_identity()
        .map(|id| id.sha256_fingerprint().to_colon_hex());
    println!(
        "serving {:?} (certificate {})",
        listener.urls(),
        fingerprint.unwrap_or_default()
    );

    tokio::signal::ctrl_c().await?;
    listener.stop().await;
    Ok(())
}
