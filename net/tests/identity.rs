//! TLS identities: creation, the identity directory, import, the anonymous identity.

mod common;

use std::time::{Duration, SystemTime};

use common::{TestCa, key_der};
use ferry_net::identity::{ANONYMOUS_LABEL, store};
use ferry_net::{IdentityAttributes, IdentityError, KeyUsage, TlsIdentity};

fn attrs(cn: &str) -> IdentityAttributes {
    IdentityAttributes {
        common_name: cn.into(),
        subject_alt_names: vec!["peer.local".into(), "192.168.1.20".into(), "fe80::1".into()],
        valid_for: Duration::from_secs(30 * 86_400),
        key_usage: KeyUsage::Server,
    }
}

#[test]
fn create_save_load_round_trip_keeps_the_identity() {
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("identities");
    let created = TlsIdentity::create_self_signed(&attrs("listener")).unwrap();
    assert_eq!(created.certificate_chain().len(), 1);
    assert!(created.is_valid_self_signed_at(SystemTime::now()));
    created.save(&ids, "main").unwrap();

    let loaded = TlsIdentity::load(&ids, "main").unwrap();
    assert_eq!(loaded.sha256_fingerprint(), created.sha256_fingerprint());
    assert_eq!(loaded.certificate_chain(), created.certificate_chain());
    assert!(store::exists(&ids, "main"));

    let again = created.save(&ids, "main");
    assert!(matches!(again, Err(IdentityError::AlreadyExists { ref label }) if label == "main"));
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&ids)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(sorted, ["main.cert.pem", "main.key.pem"], "{names:?}");
}

#[cfg(unix)]
#[test]
fn key_file_is_private_and_an_exposed_key_is_refused() {
    use std::os::unix::fs::PermissionsExt as _;
    let dir = tempfile::tempdir().unwrap();
    let ids = dir.path().join("ids");
    TlsIdentity::create_self_signed(&attrs("l"))
        .unwrap()
        .save(&ids, "l")
        .unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&store::key_path(&ids, "l")), 0o600);
    assert_eq!(
        mode(&ids),
        0o700,
        "a directory the crate creates is private"
    );
    let cert_mode = mode(&store::certificate_path(&ids, "l"));
    assert_eq!(cert_mode & 0o600, 0o600, "{cert_mode:o}");
    assert_eq!(cert_mode & 0o022, 0, "{cert_mode:o}");

    std::fs::set_permissions(
        store::key_path(&ids, "l"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    match TlsIdentity::load(&ids, "l") {
        Err(IdentityError::InsecureKeyFile { mode, .. }) => assert_eq!(mode, 0o644),
        other => panic!("expected InsecureKeyFile, got {other:?}"),
    }
}

#[test]
fn anonymous_identity_is_created_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let first = TlsIdentity::anonymous(dir.path()).unwrap();
    let second = TlsIdentity::anonymous(dir.path()).unwrap();
    assert_eq!(first.sha256_fingerprint(), second.sha256_fingerprint());
    assert!(store::exists(dir.path(), ANONYMOUS_LABEL));
    assert!(first.is_valid_self_signed_at(SystemTime::now()));

    // Another directory, another identity.
    let elsewhere = tempfile::tempdir().unwrap();
    let third = TlsIdentity::anonymous(elsewhere.path()).unwrap();
    assert_ne!(third.sha256_fingerprint(), first.sha256_fingerprint());
}

#[test]
fn anonymous_identity_about_to_expire_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let mut short = IdentityAttributes::anonymous();
    short.valid_for = Duration::from_secs(3600);
    let old = TlsIdentity::create_self_signed(&short).unwrap();
    old.save(dir.path(), ANONYMOUS_LABEL).unwrap();
    let renewed = TlsIdentity::anonymous(dir.path()).unwrap();
    assert_ne!(renewed.sha256_fingerprint(), old.sha256_fingerprint());
    assert_eq!(
        TlsIdentity::anonymous(dir.path())
            .unwrap()
            .sha256_fingerprint(),
        renewed.sha256_fingerprint()
    );
}

#[test]
fn delete_removes_the_identity() {
    let dir = tempfile::tempdir().unwrap();
    TlsIdentity::create_self_signed(&attrs("x"))
        .unwrap()
        .save(dir.path(), "x")
        .unwrap();
    TlsIdentity::delete(dir.path(), "x").unwrap();
    assert!(!store::exists(dir.path(), "x"));
    assert!(matches!(
        TlsIdentity::load(dir.path(), "x"),
        Err(IdentityError::NotFound { .. })
    ));
    assert!(matches!(
        TlsIdentity::delete(dir.path(), "x"),
        Err(IdentityError::NotFound { .. })
    ));
    assert!(matches!(
        TlsIdentity::delete(dir.path(), "../escape"),
        Err(IdentityError::InvalidLabel { .. })
    ));
}

#[test]
fn imports_ca_signed_pem_chain_and_der() {
    let dir = tempfile::tempdir().unwrap();
    let ca = TestCa::new("Import CA");
    let (leaf, key) = ca.sign(
        &["server.example"],
        rcgen::ExtendedKeyUsagePurpose::ServerAuth,
    );
    let pem = |label: &str, der: &[u8]| {
        use base64::Engine as _;
        let b64 = base64::engine::general_purpose::STANDARD.encode(der);
        let lines: Vec<&str> = b64
            .as_bytes()
            .chunks(64)
            .map(|c| std::str::from_utf8(c).unwrap())
            .collect();
        format!(
            "-----BEGIN {label}-----\n{}\n-----END {label}-----\n",
            lines.join("\n")
        )
    };
    let chain_pem = format!(
        "{}{}",
        pem("CERTIFICATE", &leaf),
        pem("CERTIFICATE", &ca.der)
    );
    let cert_path = dir.path().join("chain.pem");
    let key_path = dir.path().join("key.pem");
    std::fs::write(&cert_path, chain_pem).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let imported = TlsIdentity::from_pem_files(&cert_path, &key_path).unwrap();
    assert_eq!(imported.certificate_chain().len(), 2);
    // The same file read as certificates only (trusted roots): both, in order.
    assert_eq!(
        ferry_net::identity::certificates_from_pem_file(&cert_path).unwrap(),
        imported.certificate_chain()
    );
    assert!(matches!(
        ferry_net::identity::certificates_from_pem_file(&key_path),
        Err(IdentityError::NoCertificate { .. })
    ));
    assert_eq!(imported.leaf(), &leaf);
    assert_eq!(
        imported.sha256_fingerprint(),
        ferry_net::Fingerprint::of(&leaf)
    );
    assert!(
        !imported.is_valid_self_signed_at(SystemTime::now()),
        "CA-signed"
    );

    // Saved and loaded with its whole chain.
    imported.save(dir.path().join("ids"), "ca-signed").unwrap();
    let loaded = TlsIdentity::load(dir.path().join("ids"), "ca-signed").unwrap();
    assert_eq!(loaded.certificate_chain(), imported.certificate_chain());

    // DER files: one certificate, the PKCS#8 key.
    std::fs::write(dir.path().join("leaf.der"), &leaf).unwrap();
    std::fs::write(dir.path().join("key.der"), key.serialize_der()).unwrap();
    let der = TlsIdentity::from_der_files(dir.path().join("leaf.der"), dir.path().join("key.der"))
        .unwrap();
    assert_eq!(der.sha256_fingerprint(), imported.sha256_fingerprint());
}

#[test]
fn bad_inputs_give_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    let good = TlsIdentity::create_self_signed(&attrs("good")).unwrap();
    let cert_pem = good.certificate_chain_pem();
    let key = rcgen::KeyPair::generate().unwrap();

    let bad_pem = "-----BEGIN CERTIFICATE-----\n!!!! not base64 !!!!\n-----END CERTIFICATE-----\n";
    assert!(matches!(
        TlsIdentity::from_pem(bad_pem.as_bytes(), key.serialize_pem().as_bytes()),
        Err(IdentityError::BadPem { .. })
    ));
    let unterminated = "-----BEGIN CERTIFICATE-----\nAAAA\n";
    assert!(matches!(
        TlsIdentity::from_pem(unterminated.as_bytes(), key.serialize_pem().as_bytes()),
        Err(IdentityError::BadPem { .. })
    ));
    assert!(matches!(
        TlsIdentity::from_pem(b"", key.serialize_pem().as_bytes()),
        Err(IdentityError::NoCertificate { .. })
    ));
    assert!(matches!(
        TlsIdentity::from_pem(cert_pem.as_bytes(), cert_pem.as_bytes()),
        Err(IdentityError::NoPrivateKey { .. })
    ));
    // A key that is not the certificate's.
    let mismatch = TlsIdentity::from_pem(cert_pem.as_bytes(), key.serialize_pem().as_bytes());
    assert!(
        matches!(mismatch, Err(IdentityError::KeyMismatch)),
        "{mismatch:?}"
    );
    assert!(matches!(
        TlsIdentity::from_der(good.certificate_chain().to_vec(), key_der(&key)),
        Err(IdentityError::KeyMismatch)
    ));
    // Garbage DER.
    assert!(matches!(
        TlsIdentity::from_der_bytes(b"\x30\x03\x02\x01\x01", &key.serialize_der()),
        Err(IdentityError::BadCertificate { .. })
    ));
    assert!(matches!(
        TlsIdentity::from_der_bytes(good.leaf(), b"not a key"),
        Err(IdentityError::BadKey { .. })
    ));
    assert!(matches!(
        TlsIdentity::from_der(Vec::new(), key_der(&key)),
        Err(IdentityError::NoCertificate { .. })
    ));
    // Missing files name the file.
    let missing = dir.path().join("missing.pem");
    match TlsIdentity::from_pem_files(&missing, &missing) {
        Err(IdentityError::NotFound { path }) => assert_eq!(path, missing),
        other => panic!("expected NotFound, got {other:?}"),
    }
    // Errors never show the key.
    let shown = format!("{good:?}");
    assert!(
        shown.contains("fingerprint") && !shown.contains("PRIVATE"),
        "{shown}"
    );
}

#[test]
fn attributes_are_validated() {
    let mut a = attrs("x");
    a.common_name = " ".into();
    assert!(matches!(
        TlsIdentity::create_self_signed(&a),
        Err(IdentityError::InvalidAttributes { .. })
    ));
    let mut a = attrs("x");
    a.valid_for = Duration::ZERO;
    assert!(matches!(
        TlsIdentity::create_self_signed(&a),
        Err(IdentityError::InvalidAttributes { .. })
    ));
    let mut a = attrs("x");
    a.subject_alt_names = vec!["not a name!".into()];
    assert!(matches!(
        TlsIdentity::create_self_signed(&a),
        Err(IdentityError::InvalidAttributes { .. })
    ));
    let mut a = attrs("x");
    a.subject_alt_names = vec!["*.peer.local".into(), "10.1.2.3".into()];
    assert!(TlsIdentity::create_self_signed(&a).is_ok(), "wildcard SAN");
    for label in ["", "a/b", "..", ".x"] {
        assert!(matches!(
            TlsIdentity::create_self_signed(&attrs("x"))
                .unwrap()
                .save(tempfile::tempdir().unwrap().path(), label),
            Err(IdentityError::InvalidLabel { .. })
        ));
    }
}

#[test]
fn key_usage_and_validity_reach_the_certificate() {
    // A client-only identity is not accepted as a server by the self-signed check (which wants
    // the server-auth usage), while a server-or-both one is.
    let now = SystemTime::now();
    let mut a = attrs("c");
    a.key_usage = KeyUsage::Client;
    let client_only = TlsIdentity::create_self_signed(&a).unwrap();
    let server =
        ferry_net::tls::server_config(&client_only, &ferry_net::Authenticator::None).unwrap();
    let trust =
        ferry_net::tls::client_config(&ferry_net::ServerTrust::AcceptOnlySelfSigned, None).unwrap();
    assert!(common::handshake(trust, server, "c").is_err());
    // Validity: valid now, not after `valid_for`, not before creation (minus the backdate).
    let id = TlsIdentity::create_self_signed_at(&attrs("v"), now).unwrap();
    assert!(id.is_valid_self_signed_at(now));
    assert!(id.is_valid_self_signed_at(now + Duration::from_secs(29 * 86_400)));
    assert!(!id.is_valid_self_signed_at(now + Duration::from_secs(31 * 86_400)));
    assert!(!id.is_valid_self_signed_at(now - Duration::from_secs(3600)));
}
