//! Helpers of the integration tests: databases, waiting on statuses with deadlines, snapshots,
//! a test PKI, raw sockets.

use std::future::Future;

use futures_util::StreamExt;
use std::path::Path;
use std::time::{Duration, Instant};

pub use crate::within;

use ferry_engine::db::{Database as Db, DatabaseConfig};
use ferry_engine::store::Store;
use ferry_net::api::{
    ActivityLevel, Authenticator, Database, IdentityAttributes, ListenerConfig, ReplicatorStatus,
    TlsIdentity,
};
use ferry_net::driver::{BoxStream, Replicator, Runtime};
use ferry_net::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use ferry_store_memory::MemoryStore;
use ferry_store_sqlite::SqliteStore;
use ferry_tests::check::{Snapshot, differences, snapshot};
use ferry_tests::workload;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};

/// The longest any test waits for a replication to settle.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Which store a test database uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Memory,
    Sqlite,
}

/// A test database: its handle and its store kind.
#[derive(Debug, Clone)]
pub struct TestDb {
    pub handle: Database,
    pub kind: Kind,
}

/// A memory database named `name`.
pub fn memory(name: &str, seed: u64) -> TestDb {
    let db = Db::open(MemoryStore::new(), DatabaseConfig::with_uuid_seed(seed)).unwrap();
    TestDb {
        handle: Database::open(name, db),
        kind: Kind::Memory,
    }
}

/// A SQLite database in `dir`.
pub fn sqlite(dir: &Path, name: &str, seed: u64) -> TestDb {
    let store = SqliteStore::open(dir.join(format!("{name}-{seed}.sqlite"))).unwrap();
    let db = Db::open(store, DatabaseConfig::with_uuid_seed(seed)).unwrap();
    TestDb {
        handle: Database::open(name, db),
        kind: Kind::Sqlite,
    }
}

impl TestDb {
    /// Every document with its current revision and body.
    pub async fn snapshot(&self) -> Snapshot {
        match self.kind {
            Kind::Memory => self
                .handle
                .with::<MemoryStore, _>(|db| snapshot(db))
                .await
                .unwrap(),
            Kind::Sqlite => self
                .handle
                .with::<SqliteStore, _>(|db| snapshot(db))
                .await
                .unwrap(),
        }
    }

    /// Writes documents `range` of the workload (generation 0), in one store-thread call.
    pub async fn write(&self, range: std::ops::Range<u64>) {
        fn put<S: Store>(db: &mut Db<S>, range: std::ops::Range<u64>) {
            for i in range {
                db.put(&workload::doc_id(i), &workload::body(i, 0), None)
                    .unwrap();
            }
        }
        match self.kind {
            Kind::Memory => self
                .handle
                .with::<MemoryStore, _>(move |db| put(db, range))
                .await
                .unwrap(),
            Kind::Sqlite => self
                .handle
                .with::<SqliteStore, _>(move |db| put(db, range))
                .await
                .unwrap(),
        }
    }

    pub async fn count(&self) -> u64 {
        self.handle.document_count().await.unwrap()
    }
}

/// Asserts two databases hold the same documents at the same revisions with the same bodies.
pub async fn assert_same(a: &TestDb, b: &TestDb) -> usize {
    let (sa, sb) = (a.snapshot().await, b.snapshot().await);
    let diff = differences(&sa, &sb, 10);
    assert!(diff.is_empty(), "the databases differ: {diff:#?}");
    sa.len()
}

/// Waits (at most [`DEADLINE`]) until the replicator's status satisfies `pred`; returns it.
pub async fn wait_for<R: Runtime>(
    replicator: &Replicator<R>,
    what: &str,
    pred: impl FnMut(&ReplicatorStatus) -> bool,
) -> ReplicatorStatus {
    let mut changes = replicator.status_changes();
    match within::<R, _>(DEADLINE, changes.wait_for(pred)).await {
        Some(Some(status)) => status,
        Some(None) => panic!("status channel closed while waiting for {what}"),
        None => panic!(
            "timed out waiting for {what}; status {:?}",
            replicator.status()
        ),
    }
}

/// Waits until a one-shot replicator stopped; returns the final status.
pub async fn wait_stopped<R: Runtime>(replicator: &Replicator<R>) -> ReplicatorStatus {
    wait_for(replicator, "Stopped", |s| {
        s.activity == ActivityLevel::Stopped && s.attempts > 0
    })
    .await
}

/// Waits until a continuous replicator is idle.
pub async fn wait_idle<R: Runtime>(replicator: &Replicator<R>) -> ReplicatorStatus {
    wait_for(replicator, "Idle", |s| s.activity == ActivityLevel::Idle).await
}

/// A plain listener configuration (no TLS) on 127.0.0.1, automatic port.
pub fn plain_listener(db: &TestDb) -> ListenerConfig {
    ListenerConfig::new(db.handle.clone())
        .disable_tls(true)
        .network_interface("127.0.0.1")
}

/// A password authenticator accepting `user` / `secret`.
pub fn password() -> Authenticator {
    Authenticator::password(|u, p| {
        u == "user" && ferry_net::auth::constant_time_eq(p.as_bytes(), b"secret")
    })
}

/// A certificate authority that can sign leaves.
pub struct TestCa {
    pub der: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
}

impl std::fmt::Debug for TestCa {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestCa").finish_non_exhaustive()
    }
}

fn key_der(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

impl TestCa {
    pub fn new(name: &str) -> TestCa {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::default();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        TestCa {
            der: cert.der().clone(),
            issuer: Issuer::new(params, key),
        }
    }

    fn identity(&self, names: &[&str], eku: ExtendedKeyUsagePurpose, expired: bool) -> TlsIdentity {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, names[0]);
        params.distinguished_name = dn;
        params.extended_key_usages = vec![eku];
        if expired {
            params.not_before = rcgen::date_time_ymd(2001, 1, 1);
            params.not_after = rcgen::date_time_ymd(2002, 1, 1);
        }
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        TlsIdentity::from_der(vec![cert.der().clone(), self.der.clone()], key_der(&key)).unwrap()
    }

    /// A server identity for 127.0.0.1 and localhost, chain [leaf, CA].
    pub fn server(&self) -> TlsIdentity {
        self.server_for(&["127.0.0.1", "localhost"])
    }

    /// A server identity for `names`, chain [leaf, CA].
    pub fn server_for(&self, names: &[&str]) -> TlsIdentity {
        self.identity(names, ExtendedKeyUsagePurpose::ServerAuth, false)
    }

    /// A server identity for 127.0.0.1 and localhost that expired in 2002.
    pub fn expired_server(&self) -> TlsIdentity {
        self.identity(
            &["127.0.0.1", "localhost"],
            ExtendedKeyUsagePurpose::ServerAuth,
            true,
        )
    }

    /// A client identity, chain [leaf, CA].
    pub fn client(&self, name: &str) -> TlsIdentity {
        self.identity(&[name], ExtendedKeyUsagePurpose::ClientAuth, false)
    }
}

/// A self-signed identity for 127.0.0.1.
pub fn self_signed(cn: &str) -> TlsIdentity {
    let mut attrs = IdentityAttributes::new(cn);
    attrs.subject_alt_names = vec!["127.0.0.1".into(), "localhost".into()];
    TlsIdentity::create_self_signed(&attrs).unwrap()
}

/// Waits (at most [`DEADLINE`]) until every database holds `n` documents, woken by their
/// change notifications.
pub async fn until_counts<R: Runtime>(dbs: &[&TestDb], n: u64, what: &str) {
    let mut changes =
        futures_util::stream::select_all(dbs.iter().map(|db| db.handle.changes().unwrap()));
    let deadline = Instant::now() + DEADLINE;
    loop {
        let mut counts = Vec::new();
        for db in dbs {
            counts.push(db.count().await);
        }
        if counts.iter().all(|c| *c == n) {
            return;
        }
        let woke = within_until::<R, _>(deadline, changes.next()).await;
        assert!(
            woke.is_some(),
            "{what}: did not converge to {n} documents: {counts:?}"
        );
    }
}

/// Runs `future` until `deadline` on runtime `R`'s timers: `None` if the deadline passed.
pub async fn within_until<R: Runtime, T>(
    deadline: Instant,
    future: impl Future<Output = T>,
) -> Option<T> {
    within::<R, T>(deadline.saturating_duration_since(Instant::now()), future).await
}

/// A raw TCP connection to `127.0.0.1:port` on runtime `R`, as a futures-io stream.
pub async fn raw_connect<R: Runtime>(port: u16) -> BoxStream {
    let rt = R::current();
    let tcp = rt.connect(format!("127.0.0.1:{port}")).await.unwrap();
    Box::new(tcp)
}
