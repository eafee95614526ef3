//! Two continuous replicators into one listener, with application writes on every side while
//! they run: every database converges.

mod common;

use std::time::Duration;

use common::{DEADLINE, TestDb, assert_same, memory, plain_listener, wait_idle};
use ferry_tests::workload;
use ferry_tokio::{ActivityLevel, Listener, Replicator, ReplicatorConfig};

/// Waits (bounded) until every database holds `n` documents.
async fn until_counts(dbs: &[&TestDb], n: u64) {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let mut counts = Vec::new();
        for db in dbs {
            counts.push(db.count().await);
        }
        if counts.iter().all(|c| *c == n) {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "did not converge to {n} documents: {counts:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_continuous_replicators_and_app_writes_converge() {
    let (a, b, c) = (memory("a", 51), memory("hub", 52), memory("c", 53));
    a.write(0..100).await;
    b.write(1000..1100).await;
    c.write(2000..2100).await;
    let listener = Listener::start(plain_listener(&b)).await.unwrap();
    let url = listener.urls()[0].clone();
    let ra = Replicator::new(ReplicatorConfig::new(a.handle.clone(), url.clone()).continuous(true))
        .unwrap();
    let rc =
        Replicator::new(ReplicatorConfig::new(c.handle.clone(), url).continuous(true)).unwrap();
    ra.start(false).unwrap();
    rc.start(false).unwrap();
    until_counts(&[&a, &b, &c], 300).await;

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
    until_counts(&[&a, &b, &c], 360).await;
    // The edit made on a reaches c through the hub.
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while c.handle.get(&edited).await.unwrap().map(|d| d.rev) != Some(rev.clone()) {
        assert!(tokio::time::Instant::now() < deadline, "the edit reached c");
        tokio::time::sleep(Duration::from_millis(20)).await;
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
