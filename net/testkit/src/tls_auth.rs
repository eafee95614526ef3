//! Every TLS mode with password authentication (a push and a pull each), each authenticator
//! once, and the anonymous identity's reuse across listener restarts.

use crate::common::{TestCa, TestDb, memory, password, self_signed, wait_stopped};
use ferry_net::api::{
    Authenticator, ListenerConfig, ReplicatorAuthenticator, ReplicatorConfig, ReplicatorType,
};
use ferry_net::driver::{Listener, Replicator, Runtime};

/// How the listener presents itself and how the replicator trusts it.
#[derive(Debug, Clone, Copy)]
enum Tls {
    /// `ws://`.
    Off,
    /// The anonymous identity; the replicator accepts only self-signed certificates.
    Anonymous,
    /// A given self-signed identity; the replicator pins it.
    PinnedSelfSigned,
    /// A CA-signed chain; the replicator trusts the CA.
    CaSigned,
}

#[derive(Debug, Clone, Copy)]
enum Auth {
    None,
    Password,
    ClientCertificate,
}

struct Case<R> {
    listener: Listener<R>,
    replicator_config: ReplicatorConfig,
}

async fn setup<R: Runtime>(
    tls: Tls,
    auth: Auth,
    active: &TestDb,
    passive: &TestDb,
    dir: &std::path::Path,
) -> Case<R> {
    let ca = TestCa::new("Ferry test CA");
    let mut config = ListenerConfig::new(passive.handle.clone())
        .network_interface("127.0.0.1")
        .identity_dir(dir);
    config = match tls {
        Tls::Off => config.disable_tls(true),
        Tls::Anonymous => config,
        Tls::PinnedSelfSigned => config.tls_identity(self_signed("pinned listener")),
        Tls::CaSigned => config.tls_identity(ca.server()),
    };
    config = match auth {
        Auth::None => config,
        Auth::Password => config.authenticator(password()),
        Auth::ClientCertificate => {
            config.authenticator(Authenticator::client_certificate_roots(vec![
                ca.der.clone(),
            ]))
        }
    };
    let listener = Listener::<R>::start(config).await.unwrap();
    let url = listener.urls()[0].clone();
    assert_eq!(
        url.starts_with("wss://"),
        !matches!(tls, Tls::Off),
        "scheme of {url}"
    );
    let mut rc = ReplicatorConfig::new(active.handle.clone(), url);
    rc = match tls {
        Tls::Off => rc,
        Tls::Anonymous => rc.accept_only_self_signed_server_certificate(true),
        Tls::PinnedSelfSigned => {
            rc.pinned_server_certificate(listener.tls_identity().unwrap().leaf().clone())
        }
        Tls::CaSigned => rc.trusted_root_certificates(vec![ca.der.clone()]),
    };
    rc = match auth {
        Auth::None => rc,
        Auth::Password => rc.authenticator(ReplicatorAuthenticator::basic("user", "secret")),
        Auth::ClientCertificate => rc.authenticator(ReplicatorAuthenticator::ClientCertificate(
            ca.client("replicator"),
        )),
    };
    Case {
        listener,
        replicator_config: rc,
    }
}

/// A push then a pull; asserts each moved its documents.
async fn push_then_pull<R: Runtime>(tls: Tls, auth: Auth) {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (memory("a", 11), memory("b", 12));
    a.write(0..50).await;
    b.write(100..130).await;
    let case = setup::<R>(tls, auth, &a, &b, dir.path()).await;
    for (direction, expect_a, expect_b) in [
        (ReplicatorType::Push, 50, 80),
        (ReplicatorType::Pull, 80, 80),
    ] {
        let replicator =
            Replicator::<R>::new(case.replicator_config.clone().replicator_type(direction))
                .unwrap();
        replicator.start(false).unwrap();
        let status = wait_stopped(&replicator).await;
        assert!(
            status.error.is_none(),
            "{tls:?}/{auth:?} {direction:?}: {status:?}"
        );
        assert_eq!(
            (a.count().await, b.count().await),
            (expect_a, expect_b),
            "{tls:?}/{auth:?} after {direction:?}"
        );
    }
    crate::common::assert_same(&a, &b).await;
    case.listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn every_tls_mode_with_password<R: Runtime>() {
    for tls in [
        Tls::Off,
        Tls::Anonymous,
        Tls::PinnedSelfSigned,
        Tls::CaSigned,
    ] {
        push_then_pull::<R>(tls, Auth::Password).await;
    }
}

/// A shared test body (see the module docs).
pub async fn every_authenticator_once<R: Runtime>() {
    push_then_pull::<R>(Tls::Anonymous, Auth::None).await;
    push_then_pull::<R>(Tls::Off, Auth::Password).await;
    push_then_pull::<R>(Tls::CaSigned, Auth::ClientCertificate).await;
}

/// A shared test body (see the module docs).
pub async fn anonymous_identity_is_reused_after_a_restart<R: Runtime>() {
    let dir = tempfile::tempdir().unwrap();
    let b = memory("b", 13);
    let config = ListenerConfig::new(b.handle.clone())
        .network_interface("127.0.0.1")
        .identity_dir(dir.path());
    let first = Listener::<R>::start(config.clone()).await.unwrap();
    let fingerprint = first.tls_identity().unwrap().sha256_fingerprint();
    let port = first.port();
    first.stop().await;
    drop(first);
    let second = Listener::<R>::start(config.port(port)).await.unwrap();
    assert_eq!(second.port(), port, "restarted on the same port");
    assert_eq!(
        second.tls_identity().unwrap().sha256_fingerprint(),
        fingerprint,
        "the anonymous identity was reused"
    );
    // And a replicator pinning the first run's certificate trusts the second.
    let a = memory("a", 14);
    a.write(0..5).await;
    let mut rc = ReplicatorConfig::new(a.handle.clone(), second.urls()[0].clone())
        .replicator_type(ReplicatorType::Push);
    rc.pinned_server_certificate = Some(second.tls_identity().unwrap().leaf().clone());
    let replicator = Replicator::<R>::new(rc).unwrap();
    replicator.start(false).unwrap();
    let status = wait_stopped(&replicator).await;
    assert!(status.error.is_none(), "{status:?}");
    assert_eq!(b.count().await, 5);
    second.stop().await;
}
