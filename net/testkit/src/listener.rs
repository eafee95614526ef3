//! Listener basics: automatic ports, URLs, interfaces, connection counts.

use std::net::{IpAddr, Ipv4Addr};

use crate::common::{memory, plain_listener, wait_idle};
use ferry_net::api::{Error, ListenerConfig, ReplicatorConfig};
use ferry_net::driver::{Listener, Replicator, Runtime};

/// A shared test body (see the module docs).
pub async fn port_zero_picks_a_free_port_and_urls_name_it<R: Runtime>() {
    let b = memory("notes", 41);
    let first = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let second = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    assert_ne!(first.port(), 0);
    assert_ne!(first.port(), second.port(), "two automatic ports differ");
    assert_eq!(
        first.urls(),
        vec![format!("ws://127.0.0.1:{}/notes", first.port())]
    );
    let dir = tempfile::tempdir().unwrap();
    let tls = Listener::<R>::start(
        ListenerConfig::new(b.handle.clone())
            .network_interface("127.0.0.1")
            .identity_dir(dir.path()),
    )
    .await
    .unwrap();
    assert_eq!(
        tls.urls(),
        vec![format!("wss://127.0.0.1:{}/notes", tls.port())]
    );
    // The port in use cannot be bound twice.
    let clash = Listener::<R>::start(plain_listener(&b).port(first.port())).await;
    assert!(matches!(clash, Err(Error::Bind { .. })), "{clash:?}");
    for l in [first, second, tls] {
        l.stop().await;
    }
}

/// A shared test body (see the module docs).
pub async fn binds_to_an_address_or_the_loopback_interface_by_name<R: Runtime>() {
    let b = memory("db", 42);
    let by_ip = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    assert_eq!(by_ip.local_addr().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    let by_name = Listener::<R>::start(
        ListenerConfig::new(b.handle.clone())
            .disable_tls(true)
            .network_interface("lo"),
    )
    .await
    .unwrap();
    assert_eq!(by_name.local_addr().ip(), IpAddr::V4(Ipv4Addr::LOCALHOST));
    let unknown = Listener::<R>::start(
        ListenerConfig::new(b.handle.clone())
            .disable_tls(true)
            .network_interface("no-such-interface0"),
    )
    .await;
    assert!(
        matches!(unknown, Err(Error::UnknownInterface(_))),
        "{unknown:?}"
    );
    // A replicator reaches the listener bound by name.
    let a = memory("a", 43);
    a.write(0..3).await;
    let replicator = Replicator::<R>::new(ReplicatorConfig::new(
        a.handle.clone(),
        by_name.urls()[0].clone(),
    ))
    .unwrap();
    replicator.start(false).unwrap();
    let status = crate::common::wait_stopped(&replicator).await;
    assert!(status.error.is_none(), "{status:?}");
    assert_eq!(b.count().await, 3);
    by_ip.stop().await;
    by_name.stop().await;
}

/// A shared test body (see the module docs).
pub async fn counts_connections_of_two_running_replicators<R: Runtime>() {
    let b = memory("db", 44);
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    assert_eq!(listener.status().connection_count, 0);
    let url = listener.urls()[0].clone();
    let (a, c) = (memory("a", 45), memory("c", 46));
    a.write(0..3).await;
    let ra =
        Replicator::<R>::new(ReplicatorConfig::new(a.handle.clone(), url.clone()).continuous(true))
            .unwrap();
    let rc = Replicator::<R>::new(ReplicatorConfig::new(c.handle.clone(), url).continuous(true))
        .unwrap();
    // `a` pushes its three documents first; then `c` pulls them.
    ra.start(false).unwrap();
    wait_idle(&ra).await;
    rc.start(false).unwrap();
    wait_idle(&rc).await;
    assert_eq!(c.count().await, 3);
    // `c` acknowledges the revisions after storing them: the listener counts them when the
    // acknowledgements arrive, a moment after `c` is idle.
    let deadline = std::time::Instant::now() + crate::common::DEADLINE;
    let mut status = listener.status();
    while status.documents_sent < 3 && std::time::Instant::now() < deadline {
        R::current()
            .sleep(std::time::Duration::from_millis(10))
            .await;
        status = listener.status();
    }
    assert_eq!(status.connection_count, 2, "{status:?}");
    assert!(status.active_connection_count <= status.connection_count);
    assert_eq!(status.documents_received, 3, "pushed by a: {status:?}");
    assert_eq!(status.documents_sent, 3, "pulled by c: {status:?}");
    ra.stop().await.unwrap();
    rc.stop().await.unwrap();
    // Stopping the listener closes what is left and waits for every connection task.
    listener.stop().await;
    assert_eq!(listener.status().connection_count, 0);
}

/// A shared test body (see the module docs).
pub async fn connections_beyond_the_limit_are_told_to_retry<R: Runtime>() {
    let b = memory("db", 47);
    let mut config = plain_listener(&b);
    config.limits.max_connections = 1;
    let listener = Listener::<R>::start(config).await.unwrap();
    let url = listener.urls()[0].clone();
    let (a, c) = (memory("a", 48), memory("c", 49));
    let first =
        Replicator::<R>::new(ReplicatorConfig::new(a.handle.clone(), url.clone()).continuous(true))
            .unwrap();
    first.start(false).unwrap();
    wait_idle(&first).await;
    let second =
        Replicator::<R>::new(ReplicatorConfig::new(c.handle.clone(), url).continuous(true))
            .unwrap();
    second.start(false).unwrap();
    let status = crate::common::wait_for(&second, "refused with 503", |s| {
        s.error == Some(ferry_net::api::ConnectionError::Http(503))
    })
    .await;
    assert!(
        status.error.as_ref().unwrap().is_transient(),
        "503 is retried"
    );
    assert_eq!(listener.status().connection_count, 1);
    // Once the first leaves, the second gets in (after its backoff).
    first.stop().await.unwrap();
    wait_idle(&second).await;
    second.stop().await.unwrap();
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn idle_connections_are_closed_and_replicators_reconnect<R: Runtime>() {
    let b = memory("db", 60);
    let mut config = plain_listener(&b);
    config.limits.idle_timeout = Some(std::time::Duration::from_millis(200));
    let listener = Listener::<R>::start(config).await.unwrap();
    let a = memory("a", 61);
    let mut rc = ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
        .continuous(true)
        .max_attempt_wait(std::time::Duration::from_millis(100));
    rc.heartbeat = None; // silent while idle
    let replicator = Replicator::<R>::new(rc).unwrap();
    replicator.start(false).unwrap();
    wait_idle(&replicator).await;
    let offline = crate::common::wait_for(&replicator, "closed for idleness", |s| {
        s.activity == ferry_net::api::ActivityLevel::Offline
    })
    .await;
    assert_eq!(
        offline
            .error
            .as_ref()
            .map(|e| e.to_string().contains("1001")),
        Some(true),
        "going away: {offline:?}"
    );
    let back = crate::common::wait_for(&replicator, "reconnected", |s| {
        s.activity == ferry_net::api::ActivityLevel::Idle && s.attempts >= 2
    })
    .await;
    assert!(back.error.is_none());
    replicator.stop().await.unwrap();
    listener.stop().await;
}
