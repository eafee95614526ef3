//! Two continuous replicators into one listener, with application writes on every side while
//! they run: every database converges.

use std::time::{Duration, Instant};

use futures_util::StreamExt;

use crate::common::{
    DEADLINE, assert_same, memory, plain_listener, until_counts, wait_idle, within_until,
};
use ferry_net::api::{ActivityLevel, ReplicatorConfig};
use ferry_net::driver::{Listener, Replicator, Runtime};
use ferry_tests::workload;

/// A shared test body (see the module docs).
pub async fn two_continuous_replicators_and_app_writes_converge<R: Runtime>() {
    let (a, b, c) = (memory("a", 51), memory("hub", 52), memory("c", 53));
    a.write(0..100).await;
    b.write(1000..1100).await;
    c.write(2000..2100).await;
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let url = listener.urls()[0].clone();
    let ra =
        Replicator::<R>::new(ReplicatorConfig::new(a.handle.clone(), url.clone()).continuous(true))
            .unwrap();
    let rc = Replicator::<R>::new(ReplicatorConfig::new(c.handle.clone(), url).continuous(true))
        .unwrap();
    ra.start(false).unwrap();
    rc.start(false).unwrap();
    until_counts::<R>(&[&a, &b, &c], 300, "the first sync").await;

    // Application writes on every side, while the replicators run: new documents and edits.
    for i in 0..20 {
        a.handle
            .put(
                &workload::doc_id(3000 + i),
                workload::body(3000 + i, 0),
                None,
            )
            .await
            .unwrap();
        b.handle
            .put(
                &workload::doc_id(4000 + i),
                workload::body(4000 + i, 0),
                None,
            )
            .await
            .unwrap();
        c.handle
            .put(
                &workload::doc_id(5000 + i),
                workload::body(5000 + i, 0),
                None,
            )
            .await
            .unwrap();
    }
    let edited = workload::doc_id(1000);
    let base = a.handle.get(&edited).await.unwrap().unwrap().rev;
    let rev = a
        .handle
        .put(&edited, workload::body(1000, 1), Some(base))
        .await
        .unwrap();
    until_counts::<R>(&[&a, &b, &c], 360, "the app writes").await;
    // The edit made on a reaches c through the hub.
    let deadline = Instant::now() + DEADLINE;
    let mut c_changes = c.handle.changes().unwrap();
    while c.handle.get(&edited).await.unwrap().map(|d| d.rev) != Some(rev.clone()) {
        let woke = within_until::<R, _>(deadline, c_changes.next()).await;
        assert!(woke.is_some(), "the edit reached c");
    }
    wait_idle(&ra).await;
    wait_idle(&rc).await;
    assert_eq!(
        ra.pending_document_ids().await.unwrap(),
        Vec::<String>::new()
    );
    assert!(
        !rc.is_document_pending(&workload::doc_id(5000))
            .await
            .unwrap()
    );
    ra.stop().await.unwrap();
    rc.stop().await.unwrap();
    assert_eq!(ra.status().activity, ActivityLevel::Stopped);
    assert!(ra.status().error.is_none(), "{:?}", ra.status());
    assert_eq!(assert_same(&a, &b).await, 360);
    assert_same(&b, &c).await;
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn heartbeat_pongs_keep_an_idle_connection_alive<R: Runtime>() {
    let (a, b) = (memory("a", 54), memory("b", 55));
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let mut config =
        ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone()).continuous(true);
    // A peer silent for two intervals (100 ms) would be declared dead and reconnected.
    config.heartbeat = Some(Duration::from_millis(50));
    let replicator = Replicator::<R>::new(config).unwrap();
    replicator.start(false).unwrap();
    wait_idle(&replicator).await;
    // Let twenty heartbeat intervals pass with nothing to replicate.
    R::current().sleep(Duration::from_millis(1000)).await;
    let status = replicator.status();
    assert_eq!(status.activity, ActivityLevel::Idle, "{status:?}");
    assert_eq!(
        status.attempts, 1,
        "never reconnected: pongs answered the pings"
    );
    assert_eq!(listener.status().connection_count, 1);
    // And the connection still carries changes.
    a.handle
        .put("late", ferry_engine::value::Value::empty_object(), None)
        .await
        .unwrap();
    until_counts::<R>(&[&a, &b], 1, "one document").await;
    replicator.stop().await.unwrap();
    listener.stop().await;
}
