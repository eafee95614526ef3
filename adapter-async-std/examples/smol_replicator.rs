//! A continuous push-and-pull replicator on smol (no async-std runtime at all), trusting a
//! self-signed listener such as the `async_std_listener` example's, printing status changes
//! until the replicator stops or Enter is pressed.
//!
//! `cargo run -p ferry-async-std --example smol_replicator [wss://127.0.0.1:4984/notes] [db]`
#![allow(clippy::print_stdout)] // an example prints

use ferry_async_std::smol::Replicator;
use ferry_async_std::{ActivityLevel, Database, ReplicatorAuthenticator, ReplicatorConfig};
use ferry_store_sqlite::SqliteStore;
use futures_util::{StreamExt, future};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args
        .next()
        .unwrap_or_else(|| "wss://127.0.0.1:4984/notes".into());
    let path = args.next().unwrap_or_else(|| "local.sqlite".into());
    smol::block_on(async {
        let db = Database::open_store("local", SqliteStore::open(path)?)?;
        let replicator = Replicator::new(
            ReplicatorConfig::new(db, url)
                .continuous(true)
                .accept_only_self_signed_server_certificate(true)
                .authenticator(ReplicatorAuthenticator::basic("admin", "secret")),
        )?;
        let statuses = replicator.status_changes();
        replicator.start(false)?;
        let printed = statuses
            .take_while(|s| future::ready(s.activity != ActivityLevel::Stopped))
            .for_each(|s| {
                println!("{s:?}");
                future::ready(())
            });
        // Enter, read on a plain thread: smol has no stdin of its own.
        let (enter, entered) = futures_channel::oneshot::channel();
        std::thread::spawn(move || {
            let _ = std::io::stdin().read_line(&mut String::new());
            let _ = enter.send(());
        });
        future::select(Box::pin(printed), entered).await;
        replicator.stop().await?;
        Ok(())
    })
}
