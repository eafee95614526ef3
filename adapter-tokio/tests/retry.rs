//! A listener stopped mid-sync: the replicator reports a transient error, goes offline and
//! retries with backoff; a listener restarted on the same port lets it finish.

mod common;

use std::time::Duration;

use common::{DEADLINE, assert_same, memory, plain_listener, wait_for};
use ferry_tokio::{
    ActivityLevel, ConnectionError, DocumentEvent, Listener, Replicator, ReplicatorConfig,
    ReplicatorType,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listener_stop_mid_sync_is_retried_until_it_finishes() {
    let (a, b) = (memory("a", 31), memory("b", 32));
    b.write(0..20_000).await;
    let listener = Listener::start(plain_listener(&b)).await.unwrap();
    let port = listener.port();
    let replicator = Replicator::new(
        ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
            .replicator_type(ReplicatorType::Pull)
            .max_attempt_wait(Duration::from_millis(300)),
    )
    .unwrap();
    let mut events = replicator.document_events();
    replicator.start(false).unwrap();

    // Stop the listener as soon as the first document arrived.
    let first = tokio::time::timeout(DEADLINE, futures_util::StreamExt::next(&mut events))
        .await
        .unwrap();
    assert!(matches!(
        first,
        Some(DocumentEvent::DocumentReplicated { .. })
    ));
    listener.stop().await;
    drop(listener);

    let offline = wait_for(&replicator, "Offline after the listener stopped", |s| {
        s.activity == ActivityLevel::Offline
    })
    .await;
    let error = offline.error.expect("offline with the interrupting error");
    assert!(error.is_transient(), "transient: {error:?}");
    assert!(
        matches!(
            error,
            ConnectionError::WebSocketClose(1001, _) | ConnectionError::Refused
        ),
        "going away (or refused on a retry): {error:?}"
    );
    let pulled_before = a.count().await;
    assert!(
        pulled_before < 20_000,
        "the listener stopped mid-sync ({pulled_before} pulled)"
    );

    // Retries fail (nothing listens) until the listener comes back on the same port.
    wait_for(&replicator, "a refused retry", |s| {
        s.attempts >= 2 && s.error == Some(ConnectionError::Refused)
    })
    .await;
    let listener = Listener::start(plain_listener(&b).port(port))
        .await
        .unwrap();
    let status = wait_for(&replicator, "finished", |s| {
        s.activity == ActivityLevel::Stopped
    })
    .await;
    assert!(status.error.is_none(), "finished cleanly: {status:?}");
    assert!(
        status.attempts >= 3,
        "connected, failed, reconnected: {status:?}"
    );
    assert_eq!(assert_same(&a, &b).await, 20_000);
    listener.stop().await;
}

/// A fake listener that completes the WebSocket upgrade and then never answers anything.
async fn silent_listener() -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        // Bounded: at most a few connections for the test.
        for _ in 0..4 {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                let mut byte = [0u8; 1];
                if stream.read_exact(&mut byte).await.is_err() {
                    break;
                }
                head.push(byte[0]);
            }
            let text = String::from_utf8_lossy(&head).into_owned();
            let key = text
                .lines()
                .find_map(|l| l.strip_prefix("sec-websocket-key: "))
                .or_else(|| {
                    text.lines()
                        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
                })
                .unwrap_or_default()
                .trim()
                .to_owned();
            let answer = format!(
                "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Accept: {}\r\nSec-WebSocket-Protocol: BLIP_3+Ferry_1\r\n\r\n",
                ferry_net::upgrade::accept_key(&key)
            );
            stream.write_all(answer.as_bytes()).await.unwrap();
            held.push(stream); // keep it open, say nothing
        }
    });
    (port, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_peer_is_declared_dead_by_the_heartbeat_and_retried() {
    let (port, server) = silent_listener().await;
    let a = memory("a", 36);
    let mut config = ReplicatorConfig::new(a.handle.clone(), format!("ws://127.0.0.1:{port}/db"))
        .continuous(true)
        .max_attempt_wait(Duration::from_millis(100));
    config.heartbeat = Some(Duration::from_millis(50));
    let replicator = Replicator::new(config).unwrap();
    replicator.start(false).unwrap();
    let offline = wait_for(&replicator, "declared dead", |s| {
        s.activity == ActivityLevel::Offline
    })
    .await;
    let error = offline.error.expect("why it went offline");
    assert!(
        matches!(error, ConnectionError::PeerUnresponsive { .. }),
        "{error:?}"
    );
    assert!(error.is_transient());
    wait_for(&replicator, "a second attempt", |s| s.attempts >= 2).await;
    replicator.stop().await.unwrap();
    assert_eq!(replicator.status().activity, ActivityLevel::Stopped);
    server.abort();
}
