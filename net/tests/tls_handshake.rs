//! Real rustls handshakes between Ferry's configurations, in memory (no sockets).

mod common;

use std::sync::Arc;

use common::{Side, TestCa, expired_self_signed, handshake, key_der, self_signed};
use ferry_net::rustls::{self, ProtocolVersion};
use ferry_net::tls::{
    self, PROTOCOL_VERSIONS, PinnedServerVerifier, SelfSignedServerVerifier, ServerTrust,
    client_config, server_config,
};
use ferry_net::{Authenticator, ConnectError, Fingerprint, TlsIdentity};

fn no_auth() -> Authenticator {
    Authenticator::None
}

fn assert_certificate_error(
    result: Result<impl Sized, (Side, rustls::Error)>,
    side: Side,
    needle: &str,
) {
    let Err((failed, err)) = result else {
        panic!("the handshake must fail ({needle})");
    };
    assert_eq!(failed, side, "{err}");
    let classified = ConnectError::from_tls(&err);
    let text = classified.to_string();
    assert!(text.contains(needle), "{text:?} should mention {needle:?}");
    assert!(
        matches!(classified, ConnectError::TlsCertificate { .. }),
        "{classified:?}"
    );
    assert!(
        !classified.is_transient(),
        "certificate errors are permanent"
    );
}

#[test]
fn trusted_root_accepts_a_ca_signed_chain_by_name_and_by_ip() {
    let ca = TestCa::new("Ferry Test CA");
    let server =
        server_config(&ca.server_identity(&["localhost", "127.0.0.1"]), &no_auth()).unwrap();
    let client = client_config(&ServerTrust::TrustedRoots(vec![ca.der.clone()]), None).unwrap();
    let (conn, _) = handshake(client.clone(), server.clone(), "localhost").unwrap();
    assert_eq!(conn.protocol_version(), Some(ProtocolVersion::TLSv1_3));
    handshake(client.clone(), server.clone(), "127.0.0.1").expect("IP SAN matches");

    assert_certificate_error(
        handshake(client, server, "elsewhere.example"),
        Side::Client,
        "not valid for name",
    );
}

#[test]
fn trusted_root_rejects_another_ca_and_a_self_signed_server() {
    let ca = TestCa::new("Ferry Test CA");
    let other = TestCa::new("Someone else");
    let client = client_config(&ServerTrust::TrustedRoots(vec![ca.der.clone()]), None).unwrap();
    let server = server_config(&other.server_identity(&["localhost"]), &no_auth()).unwrap();
    assert_certificate_error(
        handshake(client.clone(), server, "localhost"),
        Side::Client,
        "UnknownIssuer",
    );
    let server = server_config(&self_signed("localhost"), &no_auth()).unwrap();
    assert!(handshake(client, server, "localhost").is_err());
}

#[test]
fn trusted_roots_mode_needs_roots() {
    assert!(matches!(
        client_config(&ServerTrust::TrustedRoots(Vec::new()), None),
        Err(ferry_net::TlsError::NoTrustedRoots)
    ));
}

#[test]
fn pinned_certificate_accepts_exactly_that_leaf() {
    let identity = self_signed("listener");
    let server = server_config(&identity, &no_auth()).unwrap();
    let pinned = client_config(&ServerTrust::Pinned(identity.sha256_fingerprint()), None).unwrap();
    // The pin is the trust: any server name, no hostname check.
    handshake(pinned.clone(), server.clone(), "any.name.invalid").expect("pin matches");

    // A CA-signed leaf whose name does not match can be pinned too.
    let ca = TestCa::new("CA");
    let ca_signed = ca.server_identity(&["elsewhere.example"]);
    let pin_ca_signed =
        client_config(&ServerTrust::Pinned(ca_signed.sha256_fingerprint()), None).unwrap();
    handshake(
        pin_ca_signed.clone(),
        server_config(&ca_signed, &no_auth()).unwrap(),
        "localhost",
    )
    .expect("pinned CA-signed leaf");

    // Any other certificate is refused, naming both fingerprints.
    let other = self_signed("impostor");
    let result = handshake(
        pinned,
        server_config(&other, &no_auth()).unwrap(),
        "listener",
    );
    assert_certificate_error(
        result,
        Side::Client,
        "does not match the pinned certificate",
    );
    let Err((_, err)) = handshake(pin_ca_signed, server, "x") else {
        unreachable!()
    };
    assert!(
        ConnectError::from_tls(&err)
            .to_string()
            .contains(&identity.sha256_fingerprint().to_hex())
    );
}

#[test]
fn accept_only_self_signed_accepts_self_signed_and_rejects_ca_signed() {
    let client = client_config(&ServerTrust::AcceptOnlySelfSigned, None).unwrap();
    let anon = self_signed("anonymous");
    handshake(
        client.clone(),
        server_config(&anon, &no_auth()).unwrap(),
        "10.0.0.7",
    )
    .expect("self-signed accepted without a host-name check");

    let ca = TestCa::new("CA");
    // The server sends [leaf, CA].
    let chain = ca.server_identity(&["localhost"]);
    assert_certificate_error(
        handshake(
            client.clone(),
            server_config(&chain, &no_auth()).unwrap(),
            "localhost",
        ),
        Side::Client,
        "chain of 2 certificates",
    );
    // The server sends only its CA-signed leaf.
    let leaf_only = TlsIdentity::from_der(
        vec![chain.leaf().clone()],
        ferry_net::pki_types::PrivateKeyDer::from(ferry_net::pki_types::PrivatePkcs8KeyDer::from(
            Vec::new(),
        )),
    );
    assert!(leaf_only.is_err(), "an empty key is refused");
    let (leaf, key) = ca.sign(&["localhost"], rcgen::ExtendedKeyUsagePurpose::ServerAuth);
    let leaf_only = TlsIdentity::from_der(vec![leaf], key_der(&key)).unwrap();
    assert_certificate_error(
        handshake(
            client.clone(),
            server_config(&leaf_only, &no_auth()).unwrap(),
            "localhost",
        ),
        Side::Client,
        "CA-signed",
    );

    // An expired self-signed certificate is refused too.
    let expired = expired_self_signed();
    assert_certificate_error(
        handshake(client, server_config(&expired, &no_auth()).unwrap(), "x"),
        Side::Client,
        "Expired",
    );
}

/// A server that presents `certificate` but signs with another key: custom verifiers must still
/// check the handshake signature and refuse it.
#[derive(Debug)]
struct WrongKey(Arc<rustls::sign::CertifiedKey>);

impl rustls::server::ResolvesServerCert for WrongKey {
    fn resolve(
        &self,
        _hello: rustls::server::ClientHello<'_>,
    ) -> Option<Arc<rustls::sign::CertifiedKey>> {
        Some(self.0.clone())
    }
}

fn impostor_server(presented: &TlsIdentity) -> Arc<rustls::ServerConfig> {
    let impostor_key = rcgen::KeyPair::generate().unwrap();
    let provider = tls::provider();
    let signing = provider
        .key_provider
        .load_private_key(key_der(&impostor_key))
        .unwrap();
    let certified =
        rustls::sign::CertifiedKey::new(presented.certificate_chain().to_vec(), signing);
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(PROTOCOL_VERSIONS)
        .unwrap()
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(WrongKey(Arc::new(certified))));
    Arc::new(config)
}

#[test]
fn custom_verifiers_still_verify_handshake_signatures() {
    let genuine = self_signed("genuine");
    for trust in [
        ServerTrust::Pinned(genuine.sha256_fingerprint()),
        ServerTrust::AcceptOnlySelfSigned,
    ] {
        for versions in [
            &[&rustls::version::TLS13][..],
            &[&rustls::version::TLS12][..],
        ] {
            let ours = client_config(&trust, None).unwrap();
            let client = rustls::ClientConfig::builder_with_provider(tls::provider())
                .with_protocol_versions(versions)
                .unwrap()
                .dangerous()
                .with_custom_certificate_verifier(match &trust {
                    ServerTrust::Pinned(pin) => {
                        Arc::new(PinnedServerVerifier::new(*pin, tls::provider()))
                            as Arc<dyn rustls::client::danger::ServerCertVerifier>
                    }
                    _ => Arc::new(SelfSignedServerVerifier::new(tls::provider())),
                })
                .with_no_client_auth();
            // The genuine server passes with both our config and the version-limited one...
            let genuine_server = server_config(&genuine, &no_auth()).unwrap();
            handshake(ours, genuine_server.clone(), "peer").unwrap();
            handshake(Arc::new(client.clone()), genuine_server, "peer").unwrap();
            // ...an impostor holding the certificate but not its key does not.
            let Err((side, err)) = handshake(Arc::new(client), impostor_server(&genuine), "peer")
            else {
                panic!("{trust:?} {versions:?}: impostor accepted");
            };
            assert_eq!(side, Side::Client, "{err}");
            assert!(
                matches!(
                    err,
                    rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature)
                ),
                "{trust:?}: {err:?}"
            );
        }
    }
}

#[test]
fn client_certificate_from_trusted_roots_is_required() {
    let server_ca = TestCa::new("Server CA");
    let client_ca = TestCa::new("Client CA");
    let auth = Authenticator::client_certificate_roots(vec![client_ca.der.clone()]);
    let server = server_config(&server_ca.server_identity(&["localhost"]), &auth).unwrap();
    let trust = ServerTrust::TrustedRoots(vec![server_ca.der.clone()]);

    let alice = client_ca.client_identity("alice");
    let with_cert = client_config(&trust, Some(&alice)).unwrap();
    let (_, server_conn) = handshake(with_cert, server.clone(), "localhost").unwrap();
    let presented = server_conn.peer_certificates().expect("client certificate");
    assert_eq!(Fingerprint::of(&presented[0]), alice.sha256_fingerprint());

    let without = client_config(&trust, None).unwrap();
    let Err((side, err)) = handshake(without, server.clone(), "localhost") else {
        panic!("a client without a certificate must be refused");
    };
    assert_eq!(side, Side::Server);
    assert_eq!(err, rustls::Error::NoCertificatesPresented);

    let stranger = TestCa::new("Stranger CA").client_identity("mallory");
    let wrong = client_config(&trust, Some(&stranger)).unwrap();
    assert_certificate_error(
        handshake(wrong, server, "localhost"),
        Side::Server,
        "UnknownIssuer",
    );
}

#[test]
fn client_certificate_callback_decides_on_the_presented_chain() {
    let allowed = self_signed("allowed-client");
    let allowed_fp = allowed.sha256_fingerprint();
    let auth = Authenticator::client_certificate_callback(move |chain| {
        chain.first().is_some_and(|leaf| allowed_fp.matches(leaf))
    });
    let server_identity = self_signed("listener");
    let server = server_config(&server_identity, &auth).unwrap();
    let trust = ServerTrust::Pinned(server_identity.sha256_fingerprint());

    handshake(
        client_config(&trust, Some(&allowed)).unwrap(),
        server.clone(),
        "l",
    )
    .unwrap();
    let refused = self_signed("other-client");
    assert_certificate_error(
        handshake(
            client_config(&trust, Some(&refused)).unwrap(),
            server.clone(),
            "l",
        ),
        Side::Server,
        "refused by the listener's authenticator",
    );
    let Err((Side::Server, err)) = handshake(client_config(&trust, None).unwrap(), server, "l")
    else {
        panic!("no certificate must be refused by the server");
    };
    assert_eq!(err, rustls::Error::NoCertificatesPresented);
}

#[test]
fn tls_1_2_only_client_works_and_nothing_older_exists() {
    let identity = self_signed("listener");
    let server = server_config(&identity, &no_auth()).unwrap();
    let tls12_only = rustls::ClientConfig::builder_with_provider(tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(PinnedServerVerifier::new(
            identity.sha256_fingerprint(),
            tls::provider(),
        )))
        .with_no_client_auth();
    let (client, server_conn) = handshake(Arc::new(tls12_only), server.clone(), "l").unwrap();
    assert_eq!(client.protocol_version(), Some(ProtocolVersion::TLSv1_2));
    assert_eq!(
        server_conn.protocol_version(),
        Some(ProtocolVersion::TLSv1_2)
    );

    // By construction: rustls implements no version below 1.2, so no configuration can offer one.
    assert!(rustls::ALL_VERSIONS.iter().all(|v| matches!(
        v.version,
        ProtocolVersion::TLSv1_2 | ProtocolVersion::TLSv1_3
    )));
    let ours: Vec<_> = PROTOCOL_VERSIONS.iter().map(|v| v.version).collect();
    assert_eq!(ours, [ProtocolVersion::TLSv1_3, ProtocolVersion::TLSv1_2]);

    // And on the wire: a TLS 1.1 ClientHello is refused by our server.
    let mut conn = rustls::ServerConnection::new(server).unwrap();
    let hello = tls11_client_hello();
    let mut rd = &hello[..];
    conn.read_tls(&mut rd).unwrap();
    let err = conn.process_new_packets().expect_err("TLS 1.1 refused");
    assert!(matches!(err, rustls::Error::PeerIncompatible(_)), "{err:?}");
}

/// A minimal ClientHello that offers TLS 1.1 only (no supported_versions extension).
fn tls11_client_hello() -> Vec<u8> {
    let mut body = vec![0x03, 0x02]; // client_version TLS 1.1
    body.extend([0x42; 32]); // random
    body.push(0); // no session id
    body.extend([0x00, 0x04, 0xc0, 0x13, 0x00, 0x2f]); // two CBC suites
    body.extend([0x01, 0x00]); // null compression
    let mut handshake = vec![0x01, 0x00, 0x00, body.len() as u8];
    handshake.extend(body);
    let mut record = vec![0x16, 0x03, 0x01, 0x00, handshake.len() as u8];
    record.extend(handshake);
    record
}

#[test]
fn server_names_distinguish_ip_addresses() {
    use ferry_net::pki_types::ServerName;
    assert!(matches!(
        tls::server_name("127.0.0.1"),
        Ok(ServerName::IpAddress(_))
    ));
    assert!(matches!(
        tls::server_name("[::1]"),
        Ok(ServerName::IpAddress(_))
    ));
    assert!(matches!(
        tls::server_name("::1"),
        Ok(ServerName::IpAddress(_))
    ));
    assert!(matches!(
        tls::server_name("peer.local"),
        Ok(ServerName::DnsName(_))
    ));
    assert!(matches!(
        tls::server_name("not a host"),
        Err(ConnectError::InvalidUrl { .. })
    ));
}

/// A self-signed certificate made with rcgen directly: `ca` sets `basicConstraints CA:TRUE` (as
/// `openssl req -x509` does), `forge` signs it with another key under the same name, `expired`
/// dates it in 2000.
fn rcgen_self_signed(ca: bool, forge: bool, expired: bool) -> TlsIdentity {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec!["peer.local".to_owned()]).unwrap();
    let mut dn = rcgen::DistinguishedName::new();
    dn.push(rcgen::DnType::CommonName, "self-signed peer");
    params.distinguished_name = dn;
    if ca {
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    }
    if expired {
        params.not_before = rcgen::date_time_ymd(2000, 1, 1);
        params.not_after = rcgen::date_time_ymd(2001, 1, 1);
    }
    let cert = if forge {
        let other = rcgen::KeyPair::generate().unwrap();
        let issuer = rcgen::Issuer::new(params.clone(), other);
        params.signed_by(&key, &issuer).unwrap()
    } else {
        params.self_signed(&key).unwrap()
    };
    TlsIdentity::from_der(vec![cert.der().clone()], key_der(&key)).unwrap()
}

#[test]
fn accept_only_self_signed_checks_the_self_signature_itself() {
    let client = client_config(&ServerTrust::AcceptOnlySelfSigned, None).unwrap();
    let serve = |id: &TlsIdentity| server_config(id, &no_auth()).unwrap();
    for ca_flag in [false, true] {
        let genuine = rcgen_self_signed(ca_flag, false, false);
        handshake(client.clone(), serve(&genuine), "peer.local")
            .unwrap_or_else(|e| panic!("CA flag {ca_flag}: genuine refused: {e:?}"));
        assert!(genuine.is_valid_self_signed_at(std::time::SystemTime::now()));

        // Issuer name equals subject name, but another key signed it: not self-signed.
        let forged = rcgen_self_signed(ca_flag, true, false);
        assert_certificate_error(
            handshake(client.clone(), serve(&forged), "peer.local"),
            Side::Client,
            "BadSignature",
        );
        assert!(!forged.is_valid_self_signed_at(std::time::SystemTime::now()));

        let expired = rcgen_self_signed(ca_flag, false, true);
        assert_certificate_error(
            handshake(client.clone(), serve(&expired), "peer.local"),
            Side::Client,
            "Expired",
        );
    }
}
