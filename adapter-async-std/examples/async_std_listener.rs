//! A password-protected TLS listener on async-std serving a SQLite database, until Enter.
//!
//! `cargo run -p ferry-async-std --example async_std_listener [path.sqlite] [port]`, then
//! replicate with this crate's `smol_replicator` example or ferry-tokio's `replicator` one.
#![allow(clippy::print_stdout)] // an example prints

use ferry_async_std::{Authenticator, Database, Listener, ListenerConfig};
use ferry_store_sqlite::SqliteStore;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let path = args.next().unwrap_or_else(|| "notes.sqlite".into());
    let port: u16 = args.next().and_then(|p| p.parse().ok()).unwrap_or(4984);
    async_std::task::block_on(async {
        let db = Database::open_store("notes", SqliteStore::open(path)?)?;
        let auth =
            Authenticator::password(|user, password| user == "admin" && password == "secret");
        let config = ListenerConfig::new(db).port(port).authenticator(auth);
        let listener = Listener::start(config).await?;
        let identity = listener.tls_identity().map(|id| id.sha256_fingerprint());
        println!(
            "serving {:?}, certificate {identity:?}; Enter stops",
            listener.urls()
        );
        async_std::io::stdin().read_line(&mut String::new()).await?;
        listener.stop().await;
        Ok(())
    })
}
