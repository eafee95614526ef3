//! One-shot push, pull and push-and-pull between two databases over real 127.0.0.1 sockets:
//! afterwards both hold the same documents at the same revisions.

use crate::common::{Kind, TestDb, assert_same, memory, plain_listener, sqlite, wait_stopped};
use ferry_net::api::{DocumentEvent, ReplicatorConfig, ReplicatorType};
use ferry_net::driver::{Listener, Replicator, Runtime};

/// Runs one one-shot replication of `active` with a plain listener serving `passive`.
async fn replicate<R: Runtime>(
    active: &TestDb,
    passive: &TestDb,
    direction: ReplicatorType,
) -> u32 {
    let listener = Listener::<R>::start(plain_listener(passive)).await.unwrap();
    let url = listener.urls()[0].clone();
    let replicator = Replicator::<R>::new(
        ReplicatorConfig::new(active.handle.clone(), url).replicator_type(direction),
    )
    .unwrap();
    replicator.start(false).unwrap();
    let status = wait_stopped(&replicator).await;
    assert!(status.error.is_none(), "finished without error: {status:?}");
    assert!(
        status.progress.total > 0 && status.progress.completed == status.progress.total,
        "progress complete: {status:?}"
    );
    listener.stop().await;
    status.attempts
}

/// A shared test body (see the module docs).
pub async fn push_moves_local_documents_to_the_listener<R: Runtime>() {
    let (a, b) = (memory("a", 1), memory("b", 2));
    a.write(0..200).await;
    b.write(1000..1010).await;
    assert_eq!(replicate::<R>(&a, &b, ReplicatorType::Push).await, 1);
    assert_eq!(b.count().await, 210, "pushed 200 to b");
    assert_eq!(a.count().await, 200, "a pulled nothing");
    let sa = a.snapshot().await;
    let sb = b.snapshot().await;
    for (id, doc) in &sa {
        assert_eq!(sb.get(id), Some(doc), "{id} identical on b");
    }
}

/// A shared test body (see the module docs).
pub async fn pull_fetches_the_listeners_documents<R: Runtime>() {
    let (a, b) = (memory("a", 3), memory("b", 4));
    a.write(0..10).await;
    b.write(1000..1300).await;
    replicate::<R>(&a, &b, ReplicatorType::Pull).await;
    assert_eq!(a.count().await, 310, "pulled 300 into a");
    assert_eq!(b.count().await, 300, "b received nothing");
    let sa = a.snapshot().await;
    for (id, doc) in &b.snapshot().await {
        assert_eq!(sa.get(id), Some(doc), "{id} identical on a");
    }
}

/// A shared test body (see the module docs).
pub async fn push_and_pull_memory_to_sqlite_converges<R: Runtime>() {
    let dir = tempfile::tempdir().unwrap();
    let a = memory("a", 5);
    let b = sqlite(dir.path(), "b", 6);
    assert_eq!(b.kind, Kind::Sqlite);
    a.write(0..500).await;
    b.write(1000..1400).await;
    replicate::<R>(&a, &b, ReplicatorType::PushAndPull).await;
    assert_eq!(assert_same(&a, &b).await, 900);
}

/// A shared test body (see the module docs).
pub async fn push_and_pull_sqlite_to_memory_converges<R: Runtime>() {
    let dir = tempfile::tempdir().unwrap();
    let a = sqlite(dir.path(), "a", 7);
    let b = memory("b", 8);
    a.write(0..300).await;
    b.write(1000..1300).await;
    replicate::<R>(&a, &b, ReplicatorType::PushAndPull).await;
    assert_eq!(assert_same(&a, &b).await, 600);
}

/// A shared test body (see the module docs).
pub async fn document_events_and_pending_documents_follow_the_push<R: Runtime>() {
    let (a, b) = (memory("a", 9), memory("b", 10));
    a.write(0..40).await;
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let replicator = Replicator::<R>::new(
        ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
            .replicator_type(ReplicatorType::Push),
    )
    .unwrap();
    let before = replicator.pending_document_ids().await.unwrap();
    assert_eq!(
        before.len(),
        40,
        "everything is pending before the first push"
    );
    assert!(
        replicator
            .is_document_pending(&ferry_tests::workload::doc_id(7))
            .await
            .unwrap()
    );
    let mut events = replicator.document_events();
    replicator.start(false).unwrap();
    let status = wait_stopped(&replicator).await;
    assert!(status.error.is_none(), "{status:?}");
    let mut pushed = std::collections::BTreeSet::new();
    while let Some(event) = events.try_recv() {
        match event {
            DocumentEvent::DocumentReplicated {
                doc_id, direction, ..
            } => {
                assert_eq!(direction, ReplicatorType::Push);
                pushed.insert(doc_id);
            }
            other => panic!("unexpected event {other:?}"),
        }
    }
    assert_eq!(pushed.len(), 40, "one event per pushed document");
    assert!(replicator.pending_document_ids().await.unwrap().is_empty());
    assert!(
        !replicator
            .is_document_pending(&ferry_tests::workload::doc_id(7))
            .await
            .unwrap()
    );
    // A new local write is pending again.
    a.write(100..101).await;
    assert_eq!(
        replicator.pending_document_ids().await.unwrap(),
        vec![ferry_tests::workload::doc_id(100)]
    );
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn document_ids_limit_what_moves<R: Runtime>() {
    let (a, b) = (memory("a", 15), memory("b", 16));
    a.write(0..20).await;
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let ids = vec![
        ferry_tests::workload::doc_id(3),
        ferry_tests::workload::doc_id(11),
    ];
    let mut config = ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
        .replicator_type(ReplicatorType::Push);
    config.document_ids = Some(ids.clone());
    let replicator = Replicator::<R>::new(config).unwrap();
    replicator.start(false).unwrap();
    let status = wait_stopped(&replicator).await;
    assert!(status.error.is_none(), "{status:?}");
    let moved: Vec<String> = b.snapshot().await.into_keys().collect();
    assert_eq!(moved, ids, "only the listed documents were pushed");
    listener.stop().await;
}

/// A one-shot push replicator from `active` to `listener`'s first URL.
fn push_to<R: Runtime>(active: &TestDb, listener: &Listener<R>) -> Replicator<R> {
    let url = listener.urls()[0].clone();
    let config = ReplicatorConfig::new(active.handle.clone(), url);
    Replicator::<R>::new(config.replicator_type(ReplicatorType::Push)).unwrap()
}

/// A shared test body (see the module docs).
pub async fn status_changes_publish_progress_at_most_every_interval<R: Runtime>() {
    use ferry_net::driver::STATUS_PROGRESS_INTERVAL;
    let (a, b) = (memory("a", 43), memory("b", 44));
    a.write(0..2_000).await;
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let replicator = push_to(&a, &listener);
    let mut changes = replicator.status_changes();
    let started = std::time::Instant::now();
    replicator.start(false).unwrap();
    let mut statuses: Vec<ferry_net::api::ReplicatorStatus> = Vec::new();
    while statuses
        .last()
        .is_none_or(|s| s.activity != ferry_net::api::ActivityLevel::Stopped)
    {
        let next = futures_util::StreamExt::next(&mut changes);
        let status = crate::within::<R, _>(crate::common::DEADLINE, next)
            .await
            .expect("the push stops in time")
            .expect("the replicator publishes until it stops");
        statuses.push(status);
    }
    let elapsed = started.elapsed();
    let last = statuses.last().unwrap();
    assert!(last.error.is_none(), "{last:?}");
    assert_eq!(
        (last.progress.completed, last.progress.total),
        (2_000, 2_000),
        "the final status carries the final progress"
    );
    assert_eq!(replicator.status(), *last);
    // Progress-only changes are published at least an interval apart, so within the time the
    // push took there can be at most this many; publishing per document gave hundreds.
    let progress_only = statuses
        .windows(2)
        .filter(|w| {
            w[0].activity == w[1].activity
                && w[0].error == w[1].error
                && w[0].attempts == w[1].attempts
        })
        .count();
    let bound = (elapsed.as_millis() / STATUS_PROGRESS_INTERVAL.as_millis()) as usize + 1;
    assert!(
        progress_only <= bound,
        "{progress_only} progress-only statuses in {elapsed:?} (at most {bound})"
    );
    assert_eq!(b.count().await, 2_000);
    listener.stop().await;
}

/// Starts `replicator` again and waits for this run to stop; returns its final status and
/// the documents it reported pushed.
async fn run_again<R: Runtime>(
    replicator: &Replicator<R>,
    events: &mut ferry_net::api::DocumentEvents,
    reset: bool,
) -> (ferry_net::api::ReplicatorStatus, usize) {
    let mut changes = replicator.status_changes();
    replicator.start(reset).unwrap();
    crate::within::<R, _>(
        crate::common::DEADLINE,
        futures_util::StreamExt::next(&mut changes),
    )
    .await
    .unwrap()
    .unwrap();
    let status = wait_stopped(replicator).await;
    assert!(status.error.is_none(), "{status:?}");
    let mut pushed = 0;
    while let Some(DocumentEvent::DocumentReplicated { .. }) = events.try_recv() {
        pushed += 1;
    }
    (status, pushed)
}

/// A shared test body (see the module docs).
pub async fn restarts_resume_from_the_checkpoint_unless_reset<R: Runtime>() {
    let (a, b) = (memory("a", 17), memory("b", 18));
    a.write(0..30).await;
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let replicator = push_to(&a, &listener);
    let mut events = replicator.document_events();
    let (_, pushed) = run_again::<R>(&replicator, &mut events, false).await;
    assert_eq!(pushed, 30, "the first run pushes everything");
    let (status, pushed) = run_again::<R>(&replicator, &mut events, false).await;
    assert_eq!(pushed, 0, "a second run resumes from the checkpoint");
    assert_eq!(status.progress.total, 0, "nothing to examine: {status:?}");
    let (status, _) = run_again::<R>(&replicator, &mut events, true).await;
    assert!(
        status.progress.total >= 30,
        "a reset run examines every document again: {status:?}"
    );
    assert_eq!(b.count().await, 30);
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn a_push_filter_limits_what_the_listener_receives<R: Runtime>() {
    use ferry_engine::repl::{ConflictResolver, ReplicationFilter, Resolution};
    let (a, b) = (memory("a", 41), memory("b", 42));
    a.write(0..20).await;
    // Push only even-indexed documents, with deltas offered by the listener.
    let listener = Listener::<R>::start(plain_listener(&b).enable_delta_sync(true))
        .await
        .unwrap();
    let url = listener.urls()[0].clone();
    let even = ReplicationFilter::new(|doc| {
        doc.deleted
            || doc
                .body
                .get("index")
                .and_then(|v| v.as_u64())
                .is_some_and(|i| i % 2 == 0)
    });
    let config = ReplicatorConfig::new(a.handle.clone(), url)
        .replicator_type(ReplicatorType::Push)
        .push_filter(even)
        .conflict_resolver(ConflictResolver::new(|_| Resolution::Remote));
    let replicator = Replicator::<R>::new(config).unwrap();
    replicator.start(false).unwrap();
    let status = wait_stopped(&replicator).await;
    assert!(status.error.is_none(), "{status:?}");
    assert_eq!(b.count().await, 10, "only the filtered-in half was pushed");
    listener.stop().await;
}

/// A shared test body (see the module docs): documents with blobs (one larger than a
/// `getAttachment` range, one shared by two documents) move both ways between two SQLite
/// databases; every blob arrives intact, once.
pub async fn blobs_move_between_sqlite_databases<R: Runtime>() {
    use ferry_engine::value::Value;
    use ferry_store_sqlite::SqliteStore;
    let dir = tempfile::tempdir().unwrap();
    let a = sqlite(dir.path(), "a", 11);
    let b = sqlite(dir.path(), "b", 12);
    fn put_with_blob(
        db: &mut ferry_engine::db::Database<SqliteStore>,
        ids: &[&str],
        bytes: &[u8],
    ) -> ferry_engine::blob::BlobRef {
        let blob = db
            .save_blob(bytes, Some("application/octet-stream"))
            .unwrap();
        for id in ids {
            let body = Value::object([("name", Value::from(*id)), ("file", blob.to_value())]);
            db.put(id, &body, None).unwrap();
        }
        blob
    }
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    let big_ref = a
        .handle
        .with::<SqliteStore, _>(move |db| put_with_blob(db, &["a-1", "a-2"], &big))
        .await
        .unwrap();
    b.handle
        .with::<SqliteStore, _>(|db| put_with_blob(db, &["b-1"], b"a small blob"))
        .await
        .unwrap();
    replicate::<R>(&a, &b, ReplicatorType::PushAndPull).await;
    assert_eq!(assert_same(&a, &b).await, 3);
    for db in [&a, &b] {
        let problems = db
            .handle
            .with::<SqliteStore, _>(|db| ferry_tests::check::blob_problems(db, 10))
            .await
            .unwrap();
        assert!(problems.is_empty(), "{problems:?}");
    }
    let stored = b
        .handle
        .with::<SqliteStore, _>(move |db| db.get_blob(&big_ref.digest).unwrap())
        .await
        .unwrap()
        .expect("the big blob reached b");
    assert_eq!(stored.len(), 3_000_000);
}
