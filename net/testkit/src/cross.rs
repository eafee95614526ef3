//! A listener on one runtime, replicators on another: runtime `L` serves over TLS (its
//! anonymous self-signed identity) with password authentication; replicators on runtime `P`
//! push, then pull, then push and pull after edits on both sides. Afterwards both databases
//! hold the same documents at the same revisions with the same bodies.
//!
//! Call it where both runtimes can be reached: `L::current()` and `P::current()` are taken
//! on the calling thread (for tokio, inside `Runtime::enter`).

use ferry_net::api::{ListenerConfig, ReplicatorAuthenticator, ReplicatorConfig, ReplicatorType};
use ferry_net::driver::{Listener, Replicator, Runtime};
use ferry_tests::workload;

use crate::common::{assert_same, memory, password, wait_stopped};

/// Runs one one-shot replication on `P` with `config` in `direction`; asserts it finished
/// cleanly having examined something.
async fn once<P: Runtime>(config: &ReplicatorConfig, direction: ReplicatorType) {
    let replicator = Replicator::<P>::new(config.clone().replicator_type(direction)).unwrap();
    replicator.start(false).unwrap();
    let status = wait_stopped(&replicator).await;
    assert!(status.error.is_none(), "{direction:?}: {status:?}");
    assert!(
        status.progress.total > 0,
        "{direction:?} moved something: {status:?}"
    );
}

/// Push, pull, then push-and-pull of concurrent edits, over TLS with a password, between a
/// listener on `L` and replicators on `P`.
pub async fn tls_password_push_and_pull<L: Runtime, P: Runtime>() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (memory("active", 71), memory("passive", 72));
    a.write(0..60).await;
    b.write(1000..1040).await;
    let listener = Listener::<L>::start(
        ListenerConfig::new(b.handle.clone())
            .network_interface("127.0.0.1")
            .identity_dir(dir.path())
            .authenticator(password()),
    )
    .await
    .unwrap();
    let url = listener.urls()[0].clone();
    assert!(url.starts_with("wss://"), "{url}");
    let config = ReplicatorConfig::new(a.handle.clone(), url)
        .accept_only_self_signed_server_certificate(true)
        .authenticator(ReplicatorAuthenticator::basic("user", "secret"));

    once::<P>(&config, ReplicatorType::Push).await;
    assert_eq!(
        (a.count().await, b.count().await),
        (60, 100),
        "after the push"
    );
    once::<P>(&config, ReplicatorType::Pull).await;
    assert_eq!(
        (a.count().await, b.count().await),
        (100, 100),
        "after the pull"
    );

    // New revisions on both sides (generation 2), then push and pull.
    for (db, i) in [(&a, 1000), (&b, 7)] {
        let id = workload::doc_id(i);
        let base = db.handle.get(&id).await.unwrap().unwrap().rev;
        db.handle
            .put(&id, workload::body(i, 1), Some(base))
            .await
            .unwrap();
    }
    once::<P>(&config, ReplicatorType::PushAndPull).await;
    assert_eq!(assert_same(&a, &b).await, 100);
    for i in [7, 1000] {
        let rev = a
            .handle
            .get(&workload::doc_id(i))
            .await
            .unwrap()
            .unwrap()
            .rev;
        assert_eq!(rev.generation(), 2, "{i} edited: {rev}");
    }
    listener.stop().await;
}
