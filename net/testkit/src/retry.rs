//! A listener stopped mid-sync: the replicator reports a transient error, goes offline and
//! retries with backoff; a listener restarted on the same port lets it finish.

use std::time::Duration;

use crate::common::{DEADLINE, assert_same, memory, plain_listener, wait_for};
use ferry_net::api::{
    ActivityLevel, ConnectionError, DocumentEvent, ReplicatorConfig, ReplicatorType,
};
use ferry_net::driver::{Listener, Replicator, Runtime};

/// A shared test body (see the module docs).
pub async fn listener_stop_mid_sync_is_retried_until_it_finishes<R: Runtime>() {
    let (a, b) = (memory("a", 31), memory("b", 32));
    b.write(0..20_000).await;
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let port = listener.port();
    let replicator = Replicator::<R>::new(
        ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
            .replicator_type(ReplicatorType::Pull)
            .max_attempt_wait(Duration::from_millis(300)),
    )
    .unwrap();
    let mut events = replicator.document_events();
    replicator.start(false).unwrap();

    // Stop the listener as soon as the first document arrived.
    let first = crate::within::<R, _>(DEADLINE, futures_util::StreamExt::next(&mut events))
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
    let listener = Listener::<R>::start(plain_listener(&b).port(port))
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
/// Dropping the returned sender ends it.
async fn silent_listener<R: Runtime>() -> (u16, futures_channel::oneshot::Sender<()>) {
    use futures_util::io::{AsyncReadExt, AsyncWriteExt};
    let rt = R::current();
    let listener = rt.bind(([127, 0, 0, 1], 0).into()).await.unwrap();
    let port = rt.local_addr(&listener).unwrap().port();
    let (stop, stopped) = futures_channel::oneshot::channel::<()>();
    let serve = async move {
        let mut held = Vec::new();
        // Bounded: at most a few connections for the test.
        for _ in 0..4 {
            let Ok((tcp, _)) = rt.accept(&listener).await else {
                return;
            };
            let mut stream = tcp;
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
        // Hold the connections until the test ends.
        let _ = futures_util::future::pending::<()>().await;
    };
    R::current().spawn(Box::pin(async move {
        let serve = std::pin::pin!(serve);
        let _ = futures_util::future::select(serve, stopped).await;
    }));
    (port, stop)
}

/// A shared test body (see the module docs).
pub async fn a_silent_peer_is_declared_dead_by_the_heartbeat_and_retried<R: Runtime>() {
    let (port, server) = silent_listener::<R>().await;
    let a = memory("a", 36);
    let mut config = ReplicatorConfig::new(a.handle.clone(), format!("ws://127.0.0.1:{port}/db"))
        .continuous(true)
        .max_attempt_wait(Duration::from_millis(100));
    config.heartbeat = Some(Duration::from_millis(50));
    let replicator = Replicator::<R>::new(config).unwrap();
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
    drop(server);
}
