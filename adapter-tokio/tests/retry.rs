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
    let first = tokio::time::timeout(DEADLINE, events.recv()).await.unwrap();
    assert!(matches!(
        first,
        Ok(DocumentEvent::DocumentReplicated { .. })
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
