//! Failures a user must be told about clearly: permanent ones stop the replicator at once
//! (no retries); refused upgrades are plain HTTP answers with a reason.

use crate::common::{TestCa, memory, password, plain_listener, self_signed, wait_stopped};
use ferry_net::api::{
    ActivityLevel, ConnectionError, ListenerConfig, ReplicatorAuthenticator, ReplicatorConfig,
    ReplicatorType,
};
use ferry_net::driver::{Listener, Replicator, Runtime};
use futures_util::io::{AsyncReadExt, AsyncWriteExt};

/// A shared test body (see the module docs).
pub async fn wrong_password_stops_at_once_without_retrying<R: Runtime>() {
    let (a, b) = (memory("a", 21), memory("b", 22));
    let listener = Listener::<R>::start(plain_listener(&b).authenticator(password()))
        .await
        .unwrap();
    let replicator = Replicator::<R>::new(
        ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
            .authenticator(ReplicatorAuthenticator::basic("user", "wrong")),
    )
    .unwrap();
    replicator.start(false).unwrap();
    let status = wait_stopped(&replicator).await;
    assert_eq!(status.activity, ActivityLevel::Stopped);
    assert_eq!(status.error, Some(ConnectionError::Http(401)), "{status:?}");
    assert!(!status.error.as_ref().unwrap().is_transient());
    assert_eq!(status.attempts, 1, "a permanent error is not retried");
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn pinned_certificate_mismatch_is_permanent<R: Runtime>() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = (memory("a", 23), memory("b", 24));
    let listener = Listener::<R>::start(
        ListenerConfig::new(b.handle.clone())
            .network_interface("127.0.0.1")
            .identity_dir(dir.path()),
    )
    .await
    .unwrap();
    let other = self_signed("someone else");
    let replicator = Replicator::<R>::new(
        ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
            .pinned_server_certificate(other.leaf().clone()),
    )
    .unwrap();
    replicator.start(false).unwrap();
    let status = wait_stopped(&replicator).await;
    match &status.error {
        Some(ConnectionError::Tls(reason)) => {
            assert!(!reason.is_empty());
        }
        other => panic!("expected a TLS error, got {other:?}"),
    }
    assert_eq!(status.attempts, 1);
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn accept_only_self_signed_refuses_a_ca_signed_listener<R: Runtime>() {
    let ca = TestCa::new("CA");
    let (a, b) = (memory("a", 25), memory("b", 26));
    let listener = Listener::<R>::start(
        ListenerConfig::new(b.handle.clone())
            .network_interface("127.0.0.1")
            .tls_identity(ca.server()),
    )
    .await
    .unwrap();
    let replicator = Replicator::<R>::new(
        ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
            .accept_only_self_signed_server_certificate(true),
    )
    .unwrap();
    replicator.start(false).unwrap();
    let status = wait_stopped(&replicator).await;
    assert!(
        matches!(status.error, Some(ConnectionError::Tls(_))),
        "{status:?}"
    );
    assert_eq!(status.attempts, 1);
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn read_only_listener_serves_pulls_and_refuses_pushes<R: Runtime>() {
    let (a, b) = (memory("a", 27), memory("b", 28));
    a.write(0..10).await;
    b.write(100..120).await;
    let listener = Listener::<R>::start(plain_listener(&b).read_only(true))
        .await
        .unwrap();
    let url = listener.urls()[0].clone();

    let pull = Replicator::<R>::new(
        ReplicatorConfig::new(a.handle.clone(), url.clone()).replicator_type(ReplicatorType::Pull),
    )
    .unwrap();
    pull.start(false).unwrap();
    let status = wait_stopped(&pull).await;
    assert!(
        status.error.is_none(),
        "pull from a read-only listener: {status:?}"
    );
    assert_eq!(a.count().await, 30);

    let push = Replicator::<R>::new(
        ReplicatorConfig::new(a.handle.clone(), url).replicator_type(ReplicatorType::Push),
    )
    .unwrap();
    let mut events = push.document_events();
    push.start(false).unwrap();
    let status = wait_stopped(&push).await;
    assert_eq!(
        b.count().await,
        20,
        "nothing was stored on the read-only side"
    );
    let error = status
        .error
        .as_ref()
        .expect("the push stopped with an error");
    assert!(matches!(error, ConnectionError::Session(_)), "{error:?}");
    let text = error.to_string();
    assert!(
        text.contains("403") && text.contains("read-only"),
        "a clear refusal: {text}"
    );
    assert!(!error.is_transient(), "not retried");
    assert_eq!(status.attempts, 1);
    assert!(
        events.try_recv().is_none(),
        "no document was reported replicated"
    );
    listener.stop().await;
}

/// Sends `request` over a raw TCP connection and returns the response text.
async fn raw<R: Runtime>(port: u16, request: &str) -> String {
    let mut stream = crate::common::raw_connect::<R>(port).await;
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    crate::within::<R, _>(crate::common::DEADLINE, stream.read_to_end(&mut out))
        .await
        .expect("the listener answers and closes")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// A shared test body (see the module docs).
pub async fn refused_upgrades_are_clear_http_answers<R: Runtime>() {
    let b = memory("db", 29);
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let port = listener.port();
    let upgrade = |path: &str, protocol: &str| {
        format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
             Sec-WebSocket-Protocol: {protocol}\r\n\r\n"
        )
    };

    let answer = raw::<R>(port, &upgrade("/db/_blipsync", "chat")).await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(
        answer.contains("BLIP_3+CBMobile_3"),
        "names what it speaks: {answer}"
    );

    let answer = raw::<R>(port, &upgrade("/other/_blipsync", "BLIP_3+Ferry_1")).await;
    assert!(answer.starts_with("HTTP/1.1 404"), "{answer}");
    assert!(
        answer.contains("/db/_blipsync"),
        "names what it serves: {answer}"
    );

    let answer = raw::<R>(
        port,
        "GET /db/_blipsync HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 426"), "{answer}");
    assert!(answer.to_lowercase().contains("websocket"), "{answer}");

    let answer = raw::<R>(port, "hello\r\n\r\n").await;
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");

    // And the right request is upgraded.
    let answer_head = {
        let mut stream = crate::common::raw_connect::<R>(port).await;
        stream
            .write_all(upgrade("/db/_blipsync", "BLIP_3+CBMobile_3").as_bytes())
            .await
            .unwrap();
        let mut buf = vec![0u8; 1024];
        let n = stream.read(&mut buf).await.unwrap();
        String::from_utf8_lossy(&buf[..n]).into_owned()
    };
    assert!(answer_head.starts_with("HTTP/1.1 101"), "{answer_head}");
    assert!(
        answer_head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
        "{answer_head}"
    );
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn a_text_message_is_a_protocol_error_closed_with_1002<R: Runtime>() {
    let b = memory("db", 30);
    let listener = Listener::<R>::start(plain_listener(&b)).await.unwrap();
    let mut stream = crate::common::raw_connect::<R>(listener.port()).await;
    let request = "GET /db/_blipsync HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
                   Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
                   Sec-WebSocket-Protocol: BLIP_3+Ferry_1\r\n\r\n";
    stream.write_all(request.as_bytes()).await.unwrap();
    // Read the 101 head.
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        stream.read_exact(&mut byte).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    // A masked text frame "hi".
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | 2];
    frame.extend_from_slice(&mask);
    frame.extend(b"hi".iter().zip(mask).map(|(b, m)| b ^ m));
    stream.write_all(&frame).await.unwrap();
    // The listener answers with a close frame carrying 1002.
    let mut answer = [0u8; 4];
    crate::within::<R, _>(crate::common::DEADLINE, stream.read_exact(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(answer[0], 0x88, "a close frame");
    assert_eq!(u16::from_be_bytes([answer[2], answer[3]]), 1002);
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn a_listener_wanting_client_certificates_refuses_a_replicator_without_one<R: Runtime>() {
    let ca = TestCa::new("CA");
    let (a, b) = (memory("a", 33), memory("b", 34));
    let listener = Listener::<R>::start(
        ListenerConfig::new(b.handle.clone())
            .network_interface("127.0.0.1")
            .tls_identity(ca.server())
            .authenticator(ferry_net::api::Authenticator::client_certificate_roots(
                vec![ca.der.clone()],
            )),
    )
    .await
    .unwrap();
    // No client certificate at all, then one from another CA.
    let stranger = TestCa::new("another CA").client("stranger");
    for auth in [
        None,
        Some(ReplicatorAuthenticator::ClientCertificate(stranger)),
    ] {
        let mut config = ReplicatorConfig::new(a.handle.clone(), listener.urls()[0].clone())
            .trusted_root_certificates(vec![ca.der.clone()]);
        config.authenticator = auth.clone();
        let replicator = Replicator::<R>::new(config).unwrap();
        replicator.start(false).unwrap();
        let status = wait_stopped(&replicator).await;
        let error = status.error.as_ref().expect("refused");
        assert!(
            !error.is_transient(),
            "{:?}: permanent: {error:?}",
            auth.is_some()
        );
        assert_eq!(status.attempts, 1);
    }
    assert_eq!(b.count().await, 0);
    listener.stop().await;
}

/// A shared test body (see the module docs).
pub async fn database_calls_name_the_wrong_store_type<R: Runtime>() {
    let a = memory("a", 35);
    let wrong = a
        .handle
        .with::<ferry_store_sqlite::SqliteStore, _>(|_| ())
        .await;
    assert!(
        matches!(wrong, Err(ferry_net::api::Error::WrongStoreType(_))),
        "{wrong:?}"
    );
    let rev = a
        .handle
        .put("doc", ferry_engine::value::Value::empty_object(), None)
        .await
        .unwrap();
    assert_eq!(a.handle.get("doc").await.unwrap().unwrap().rev, rev);
    a.handle.delete("doc", rev).await.unwrap();
    assert!(a.handle.get("doc").await.unwrap().is_none());
    let recreated = a
        .handle
        .put("doc", ferry_engine::value::Value::empty_object(), None)
        .await;
    assert!(
        recreated.is_ok(),
        "recreating a deleted document: {recreated:?}"
    );
}
