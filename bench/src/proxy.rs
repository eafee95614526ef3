//! A TCP relay on 127.0.0.1 that counts the bytes crossing it each way: what the delta scenario
//! reads "bytes on the wire" from (TLS records, WebSocket and BLIP framing included).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Bytes relayed so far, replicator → listener and back.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    up: AtomicU64,
    down: AtomicU64,
}

impl Counters {
    /// Bytes relayed in both directions so far.
    pub(crate) fn total(&self) -> u64 {
        self.up.load(Ordering::SeqCst) + self.down.load(Ordering::SeqCst)
    }
}

/// A running relay.
pub(crate) struct Proxy {
    /// Where replicators connect.
    pub(crate) port: u16,
    /// What has crossed it.
    pub(crate) counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// Relays every connection made to the returned port to `127.0.0.1:target`.
    pub(crate) async fn start(target: u16) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let counters = Arc::new(Counters::default());
        let shared = counters.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let counters = shared.clone();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(("127.0.0.1", target)).await else {
                        return;
                    };
                    let _ = client.set_nodelay(true);
                    let _ = server.set_nodelay(true);
                    let (client_read, client_write) = client.into_split();
                    let (server_read, server_write) = server.into_split();
                    let c = counters.clone();
                    tokio::join!(
                        relay(client_read, server_write, |n| {
                            c.up.fetch_add(n, Ordering::SeqCst);
                        }),
                        relay(server_read, client_write, |n| {
                            counters.down.fetch_add(n, Ordering::SeqCst);
                        }),
                    );
                });
            }
        });
        Ok(Proxy {
            port,
            counters,
            task,
        })
    }
}

/// Copies until either side closes, counting before forwarding.
async fn relay(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    count: impl Fn(u64),
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                count(n as u64);
                if to.write_all(&buf[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    let _ = to.shutdown().await;
}
