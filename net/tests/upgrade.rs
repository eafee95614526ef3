//! The WebSocket upgrade, both sides, and the classification of connection failures.

mod common;

use ferry_engine::repl::{DATABASE_UUID_HEADER, Profile, RemoteIdentity};
use ferry_net::upgrade::{BASIC_CHALLENGE, accept_key, http_error};
use ferry_net::{
    Authenticator, BasicCredentials, ClientHandshake, ConnectError, Endpoint, Fingerprint,
    ServerHandshake,
};
use http::{Request, Response, StatusCode, header};

const UUID: [u8; 16] = [
    0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10,
];
const UUID_HEX: &str = "0123456789abcdeffedcba9876543210";
const RFC_KEY: &str = "dGhlIHNhbXBsZSBub25jZQ==";

fn request(path: &str, protocols: Option<&str>) -> http::request::Builder {
    let builder = Request::get(path)
        .header(header::HOST, "127.0.0.1:4984")
        .header(header::UPGRADE, "websocket")
        .header(header::CONNECTION, "keep-alive, Upgrade")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, RFC_KEY);
    match protocols {
        Some(p) => builder.header(header::SEC_WEBSOCKET_PROTOCOL, p),
        None => builder,
    }
}

fn ferry_offer(path: &str) -> Request<()> {
    request(path, Some("BLIP_3+Ferry_1,BLIP_3+CBMobile_3"))
        .body(())
        .unwrap()
}

fn open() -> ServerHandshake {
    ServerHandshake::new("db", UUID, Authenticator::None)
}

fn password() -> ServerHandshake {
    ServerHandshake::new(
        "db",
        UUID,
        Authenticator::password(|user, pass| {
            user == "alice" && ferry_net::auth::constant_time_eq(pass.as_bytes(), b"s3cret")
        }),
    )
}

#[test]
fn valid_request_gets_a_complete_101() {
    let accepted = open().accept(&ferry_offer("/db/_blipsync"), None).unwrap();
    assert_eq!(accepted.profile, Profile::Ferry1);
    assert_eq!(accepted.user, None);
    let response = &accepted.response;
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    let h = response.headers();
    assert_eq!(
        h[header::SEC_WEBSOCKET_ACCEPT],
        "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
    );
    assert_eq!(h[header::SEC_WEBSOCKET_PROTOCOL], "BLIP_3+Ferry_1");
    assert_eq!(h[DATABASE_UUID_HEADER], UUID_HEX);
    assert_eq!(h[header::UPGRADE], "websocket");
    assert_eq!(h[header::CONNECTION], "Upgrade");
    assert_eq!(accept_key(RFC_KEY), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
}

#[test]
fn profile_negotiation_prefers_ferry_and_speaks_litecore() {
    let hs = open();
    let pick = |offer: &str| {
        hs.accept(
            &request("/db/_blipsync", Some(offer)).body(()).unwrap(),
            None,
        )
        .map(|a| a.profile)
    };
    assert_eq!(
        pick("BLIP_3+CBMobile_3,BLIP_3+Ferry_1").unwrap(),
        Profile::Ferry1
    );
    assert_eq!(
        pick("BLIP_3+CBMobile_3,BLIP_3+CBMobile_2").unwrap(),
        Profile::CbMobile3
    );
    // Offers split over several header lines count together.
    let split = request("/db/_blipsync", Some("BLIP_3+CBMobile_2"))
        .header(header::SEC_WEBSOCKET_PROTOCOL, "BLIP_3+CBMobile_3")
        .body(())
        .unwrap();
    assert_eq!(hs.accept(&split, None).unwrap().profile, Profile::CbMobile3);

    for offer in [Some("BLIP_3+CBMobile_2"), Some("chat, superchat"), None] {
        let refusal = hs
            .accept(&request("/db/_blipsync", offer).body(()).unwrap(), None)
            .expect_err("unknown subprotocols are refused");
        assert_eq!(refusal.status, StatusCode::BAD_REQUEST);
        assert!(
            refusal.reason.contains("BLIP_3+Ferry_1")
                && refusal.reason.contains("BLIP_3+CBMobile_3"),
            "{}",
            refusal.reason
        );
        let response = refusal.to_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(
            response
                .body()
                .as_deref()
                .unwrap()
                .contains("BLIP_3+CBMobile_3")
        );
    }
}

#[test]
fn wrong_path_or_database_is_404() {
    let hs = open();
    for path in [
        "/other/_blipsync",
        "/db",
        "/db/",
        "/db/_changes",
        "/db/_blipsync/x",
        "/",
        "/x/db/_blipsync",
    ] {
        let refusal = hs.accept(&ferry_offer(path), None).expect_err(path);
        assert_eq!(refusal.status, StatusCode::NOT_FOUND, "{path}");
    }
    // A query string does not change the path.
    assert!(
        hs.accept(&ferry_offer("/db/_blipsync?client=x"), None)
            .is_ok()
    );
}

#[test]
fn malformed_upgrades_are_refused_with_the_right_status() {
    let hs = open();
    let status = |req: Request<()>| hs.accept(&req, None).expect_err("refused");

    let post = Request::post("/db/_blipsync")
        .header(header::UPGRADE, "websocket")
        .body(())
        .unwrap();
    let r = status(post);
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.header(&header::ALLOW), Some("GET"));

    let plain = Request::get("/db/_blipsync").body(()).unwrap();
    let r = status(plain);
    assert_eq!(r.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(r.header(&header::UPGRADE), Some("websocket"));

    let no_connection = Request::get("/db/_blipsync")
        .header(header::UPGRADE, "websocket")
        .header(header::SEC_WEBSOCKET_VERSION, "13")
        .header(header::SEC_WEBSOCKET_KEY, RFC_KEY)
        .body(())
        .unwrap();
    assert_eq!(status(no_connection).status, StatusCode::BAD_REQUEST);

    let old_version = request("/db/_blipsync", Some("BLIP_3+Ferry_1"));
    let mut old_version = old_version.body(()).unwrap();
    old_version
        .headers_mut()
        .insert(header::SEC_WEBSOCKET_VERSION, "8".parse().unwrap());
    let r = status(old_version);
    assert_eq!(r.status, StatusCode::UPGRADE_REQUIRED);
    assert_eq!(r.header(&header::SEC_WEBSOCKET_VERSION), Some("13"));

    let mut no_version = ferry_offer("/db/_blipsync");
    no_version
        .headers_mut()
        .remove(header::SEC_WEBSOCKET_VERSION);
    assert_eq!(status(no_version).status, StatusCode::BAD_REQUEST);

    for key in [
        None,
        Some("short"),
        Some("AAAA"),
        Some("dGhlIHNhbXBsZSBub25jZQ"),
    ] {
        let mut req = ferry_offer("/db/_blipsync");
        req.headers_mut().remove(header::SEC_WEBSOCKET_KEY);
        if let Some(key) = key {
            req.headers_mut()
                .insert(header::SEC_WEBSOCKET_KEY, key.parse().unwrap());
        }
        assert_eq!(status(req).status, StatusCode::BAD_REQUEST, "{key:?}");
    }

    let mut http10 = ferry_offer("/db/_blipsync");
    *http10.version_mut() = http::Version::HTTP_10;
    assert_eq!(status(http10).status, StatusCode::BAD_REQUEST);
}

#[test]
fn password_authentication() {
    let hs = password();
    let with_auth = |value: Option<&str>| {
        let mut req = ferry_offer("/db/_blipsync");
        if let Some(v) = value {
            req.headers_mut()
                .insert(header::AUTHORIZATION, v.parse().unwrap());
        }
        hs.accept(&req, None)
    };
    let ok = with_auth(Some(
        &BasicCredentials::new("alice", "s3cret").authorization_header(),
    ))
    .expect("right credentials");
    assert_eq!(ok.user.as_deref(), Some("alice"));

    for (case, value) in [
        ("missing", None),
        (
            "wrong password",
            Some(BasicCredentials::new("alice", "nope").authorization_header()),
        ),
        (
            "unknown user",
            Some(BasicCredentials::new("bob", "s3cret").authorization_header()),
        ),
        (
            "malformed base64",
            Some("Basic %%%not-base64%%%".to_owned()),
        ),
        ("other scheme", Some("Bearer abc".to_owned())),
    ] {
        let refusal = with_auth(value.as_deref()).expect_err(case);
        assert_eq!(refusal.status, StatusCode::UNAUTHORIZED, "{case}");
        assert_eq!(
            refusal.header(&header::WWW_AUTHENTICATE),
            Some(BASIC_CHALLENGE),
            "{case}"
        );
        assert_eq!(BASIC_CHALLENGE, "Basic realm=\"Ferry\"");
        assert!(!refusal.reason.contains("nope") && !refusal.reason.contains("s3cret"));
        let response = refusal.to_response();
        assert_eq!(
            response.headers()[header::WWW_AUTHENTICATE],
            BASIC_CHALLENGE
        );
    }
}

#[test]
fn client_certificate_authentication_needs_a_certificate() {
    let hs = ServerHandshake::new(
        "db",
        UUID,
        Authenticator::client_certificate_callback(|_| true),
    );
    let refusal = hs
        .accept(&ferry_offer("/db/_blipsync"), None)
        .expect_err("no cert");
    assert_eq!(refusal.status, StatusCode::FORBIDDEN);
    let identity = common::self_signed("client");
    let accepted = hs
        .accept(
            &ferry_offer("/db/_blipsync"),
            Some(identity.certificate_chain()),
        )
        .unwrap();
    assert_eq!(
        accepted.client_certificate,
        Some(identity.sha256_fingerprint())
    );
}

#[test]
fn accepted_decisions_can_be_applied_to_a_prepared_response() {
    // What async-tungstenite's callback receives: a 101 it built itself.
    let mut prepared = Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::SEC_WEBSOCKET_ACCEPT, accept_key(RFC_KEY))
        .body(())
        .unwrap();
    let accepted = open().accept(&ferry_offer("/db/_blipsync"), None).unwrap();
    accepted.apply_to(&mut prepared);
    assert_eq!(
        prepared.headers()[header::SEC_WEBSOCKET_PROTOCOL],
        "BLIP_3+Ferry_1"
    );
    assert_eq!(prepared.headers()[DATABASE_UUID_HEADER], UUID_HEX);
}

#[test]
fn endpoint_urls_parse_or_fail_clearly() {
    let e = Endpoint::parse("ws://localhost:4984/db").unwrap();
    assert_eq!(
        (e.secure, e.host.as_str(), e.port, e.database.as_str()),
        (false, "localhost", 4984, "db")
    );
    assert_eq!(e.path(), "/db/_blipsync");
    assert_eq!(e.to_string(), "ws://localhost:4984/db");
    let e = Endpoint::parse("WSS://[::1]:4984/travel-sample/").unwrap();
    assert_eq!(
        (e.secure, e.host.as_str(), e.database.as_str()),
        (true, "::1", "travel-sample")
    );
    assert_eq!(e.authority(), "[::1]:4984");
    assert_eq!(Endpoint::parse("wss://10.0.0.2/db").unwrap().port, 443);
    assert_eq!(Endpoint::parse("ws://10.0.0.2/db").unwrap().port, 80);

    for (url, needle) in [
        ("http://host/db", "scheme"),
        ("host:4984/db", "scheme"),
        ("ws://host:4984", "missing database"),
        ("ws://host:4984/", "missing database"),
        ("ws://alice:hunter2@host/db", "credentials"),
        ("ws://host:0/db", "port"),
        ("ws://host:99999/db", "port"),
        ("ws://host:port/db", "port"),
        ("ws://host/a/b", "database name alone"),
        ("ws://host/db?x=1", "query"),
        ("ws://::1/db", "brackets"),
        ("ws://[::1/db", "'['"),
        ("ws://[host]/db", "IPv6"),
        ("ws:///db", "host"),
        ("ws://bad host/db", "host name"),
        ("ws://host/d%20b", "characters"),
    ] {
        let err = Endpoint::parse(url).expect_err(url);
        assert!(
            matches!(err, ConnectError::InvalidUrl { .. }),
            "{url}: {err:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(needle),
            "{url}: {text:?} should mention {needle:?}"
        );
        assert!(!text.contains("hunter2"), "{text}");
        assert!(!err.is_transient());
    }
}

#[test]
fn client_request_carries_the_handshake_and_credentials() {
    let endpoint = Endpoint::parse("ws://127.0.0.1:4984/db").unwrap();
    let creds = BasicCredentials::new("alice", "s3cret");
    let extra = vec![
        ("X-Trace".to_owned(), "42".to_owned()),
        ("Cookie".to_owned(), "a=b".to_owned()),
    ];
    let hs = ClientHandshake::new(&endpoint, Some(&creds), &extra, [7; 16]).unwrap();
    let req = hs.request();
    assert_eq!(req.method(), http::Method::GET);
    assert_eq!(req.uri().path(), "/db/_blipsync");
    let h = req.headers();
    assert_eq!(h[header::HOST], "127.0.0.1:4984");
    assert_eq!(
        h[header::SEC_WEBSOCKET_PROTOCOL],
        "BLIP_3+Ferry_1,BLIP_3+CBMobile_3"
    );
    assert_eq!(h[header::SEC_WEBSOCKET_VERSION], "13");
    assert_eq!(h[header::AUTHORIZATION], creds.authorization_header());
    assert!(h[header::AUTHORIZATION].is_sensitive());
    assert_eq!(h["x-trace"], "42");
    assert_eq!(h[header::COOKIE], "a=b");

    // The whole exchange: our request, our listener, our reading of its answer.
    let accepted = password().accept(req, None).unwrap();
    let negotiated = hs.finish(&accepted.response).unwrap();
    assert_eq!(negotiated.profile, Profile::Ferry1);
    assert_eq!(negotiated.remote_uuid, Some(UUID));
    assert_eq!(
        negotiated.remote_identity(|| unreachable!()),
        RemoteIdentity::Uuid(UUID)
    );

    // Random keys differ.
    assert_ne!(
        ClientHandshake::random_key().unwrap(),
        ClientHandshake::random_key().unwrap()
    );

    for bad in [
        vec![("Sec-WebSocket-Protocol".to_owned(), "x".to_owned())],
        vec![("Host".to_owned(), "evil".to_owned())],
        vec![("Authorization".to_owned(), "Basic x".to_owned())],
        vec![("bad header".to_owned(), "x".to_owned())],
        vec![("X-Ok".to_owned(), "line\nbreak".to_owned())],
    ] {
        let err = ClientHandshake::new(&endpoint, Some(&creds), &bad, [0; 16]).unwrap_err();
        assert!(
            matches!(err, ConnectError::InvalidConfig { .. }),
            "{bad:?}: {err:?}"
        );
    }
    let colon = BasicCredentials::new("a:b", "x");
    assert!(matches!(
        ClientHandshake::new(&endpoint, Some(&colon), &[], [0; 16]),
        Err(ConnectError::InvalidConfig { .. })
    ));
}

#[test]
fn client_offers_only_the_profiles_asked_for() {
    let endpoint = Endpoint::parse("ws://127.0.0.1:4984/db").unwrap();
    // Couchbase Lite's profile only: a Ferry listener then answers with CBMobile_3.
    let hs = ClientHandshake::new(&endpoint, None, &[], [3; 16])
        .unwrap()
        .offering(&[Profile::CbMobile3])
        .unwrap();
    assert_eq!(
        hs.request().headers()[header::SEC_WEBSOCKET_PROTOCOL],
        "BLIP_3+CBMobile_3"
    );
    let accepted = open().accept(hs.request(), None).unwrap();
    assert_eq!(
        hs.finish(&accepted.response).unwrap().profile,
        Profile::CbMobile3
    );

    // A listener choosing the profile that was not offered is refused.
    let ferry_answer = open()
        .accept(
            ClientHandshake::new(&endpoint, None, &[], [3; 16])
                .unwrap()
                .request(),
            None,
        )
        .unwrap();
    assert!(matches!(
        hs.finish(&ferry_answer.response),
        Err(ConnectError::Protocol { .. })
    ));

    // Offering nothing is a configuration error.
    assert!(matches!(
        ClientHandshake::new(&endpoint, None, &[], [3; 16])
            .unwrap()
            .offering(&[]),
        Err(ConnectError::InvalidConfig { .. })
    ));
}

#[test]
fn client_reads_answers_and_refusals() {
    let endpoint = Endpoint::parse("ws://127.0.0.1:4984/db").unwrap();
    let hs = ClientHandshake::new(&endpoint, None, &[], [1; 16]).unwrap();
    let key = hs.request().headers()[header::SEC_WEBSOCKET_KEY]
        .to_str()
        .unwrap()
        .to_owned();
    let answer =
        |status: u16, accept: Option<String>, protocol: Option<&str>, uuid: Option<&str>| {
            let mut b = Response::builder().status(status);
            if let Some(a) = accept {
                b = b.header(header::SEC_WEBSOCKET_ACCEPT, a);
            }
            if let Some(p) = protocol {
                b = b.header(header::SEC_WEBSOCKET_PROTOCOL, p);
            }
            if let Some(u) = uuid {
                b = b.header(DATABASE_UUID_HEADER, u);
            }
            b.body(()).unwrap()
        };

    // A Couchbase Lite listener: CBMobile_3 and no UUID header.
    let cbl = hs
        .finish(&answer(
            101,
            Some(accept_key(&key)),
            Some("BLIP_3+CBMobile_3"),
            None,
        ))
        .unwrap();
    assert_eq!(cbl.profile, Profile::CbMobile3);
    assert_eq!(cbl.remote_uuid, None);
    assert_eq!(
        cbl.remote_identity(|| "db@sha256/abc".into()),
        RemoteIdentity::Name("db@sha256/abc".into())
    );

    let protocol_errors = [
        answer(101, None, Some("BLIP_3+Ferry_1"), None),
        answer(101, Some(accept_key("other")), Some("BLIP_3+Ferry_1"), None),
        answer(101, Some(accept_key(&key)), None, None),
        answer(101, Some(accept_key(&key)), Some("BLIP_3+CBMobile_2"), None),
        answer(
            101,
            Some(accept_key(&key)),
            Some("BLIP_3+Ferry_1"),
            Some("not-a-uuid"),
        ),
    ];
    for response in protocol_errors {
        let err = hs.finish(&response).unwrap_err();
        assert!(matches!(err, ConnectError::Protocol { .. }), "{err:?}");
        assert!(!err.is_transient());
    }

    for (status, transient) in [
        (401, false),
        (403, false),
        (404, false),
        (400, false),
        (503, true),
        (429, true),
    ] {
        let err = hs.finish(&answer(status, None, None, None)).unwrap_err();
        assert_eq!(err.http_status(), Some(status));
        assert_eq!(err.is_transient(), transient, "{status}");
    }
    let explained = http_error(
        StatusCode::BAD_REQUEST,
        Some(b"no supported WebSocket subprotocol\n"),
    );
    assert_eq!(
        explained.to_string(),
        "HTTP 400: no supported WebSocket subprotocol"
    );
}

#[test]
fn connect_errors_are_classified_as_couchbase_lite_does() {
    use std::io::{Error, ErrorKind};
    let http = |status| ConnectError::Http {
        status,
        reason: String::new(),
    };
    let closed = |code| ConnectError::Closed {
        code,
        reason: String::new(),
    };
    let table: Vec<(ConnectError, bool)> = vec![
        (
            ConnectError::from_io(&Error::from(ErrorKind::ConnectionRefused)),
            true,
        ),
        (
            ConnectError::from_io(&Error::from(ErrorKind::ConnectionReset)),
            true,
        ),
        (
            ConnectError::from_io(&Error::from(ErrorKind::ConnectionAborted)),
            true,
        ),
        (
            ConnectError::from_io(&Error::from(ErrorKind::TimedOut)),
            true,
        ),
        (
            ConnectError::from_io(&Error::from(ErrorKind::UnexpectedEof)),
            true,
        ),
        (
            ConnectError::from_io(&Error::from(ErrorKind::HostUnreachable)),
            true,
        ),
        (
            ConnectError::from_io(&Error::from(ErrorKind::NetworkUnreachable)),
            true,
        ),
        (
            ConnectError::from_io(&Error::from(ErrorKind::PermissionDenied)),
            false,
        ),
        (
            ConnectError::from_io(&Error::from(ErrorKind::InvalidInput)),
            false,
        ),
        (http(408), true),
        (http(429), true),
        (http(502), true),
        (http(503), true),
        (http(504), true),
        (http(500), false),
        (http(400), false),
        (http(401), false),
        (http(403), false),
        (http(404), false),
        (closed(1000), false),
        (closed(1001), true),
        (closed(1002), false),
        (closed(1006), true),
        (closed(1008), false),
        (closed(4001), true),
        (
            ConnectError::TlsCertificate {
                reason: String::new(),
            },
            false,
        ),
        (
            ConnectError::Tls {
                reason: String::new(),
            },
            false,
        ),
        (
            ConnectError::Protocol {
                reason: String::new(),
            },
            false,
        ),
        (
            ConnectError::InvalidUrl {
                reason: String::new(),
            },
            false,
        ),
    ];
    for (err, transient) in table {
        assert_eq!(err.is_transient(), transient, "{err:?}");
    }
    assert_eq!(
        ConnectError::from_io(&Error::from(ErrorKind::ConnectionRefused)),
        ConnectError::Refused
    );
    assert_eq!(
        ConnectError::from_io(&Error::from(ErrorKind::TimedOut)),
        ConnectError::TimedOut
    );

    // tokio-rustls / futures-rustls wrap rustls errors in io::Error: still classified as TLS.
    let wrapped = Error::new(
        ErrorKind::InvalidData,
        ferry_net::rustls::Error::InvalidCertificate(
            ferry_net::rustls::CertificateError::UnknownIssuer,
        ),
    );
    let err = ConnectError::from_io(&wrapped);
    assert!(
        matches!(err, ConnectError::TlsCertificate { .. }),
        "{err:?}"
    );
    assert!(!err.is_transient());
    let alert = ferry_net::rustls::Error::AlertReceived(
        ferry_net::rustls::AlertDescription::CertificateRequired,
    );
    assert!(matches!(
        ConnectError::from_tls(&alert),
        ConnectError::TlsCertificate { .. }
    ));
    let other = ferry_net::rustls::Error::HandshakeNotComplete;
    assert!(matches!(
        ConnectError::from_tls(&other),
        ConnectError::Tls { .. }
    ));
    let _ = Fingerprint::from_bytes([0; 32]);
}
