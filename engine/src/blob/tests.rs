use super::*;

#[test]
fn digests_round_trip_through_text() {
    // The digest of the 3,000-byte blob in the LiteCore `blob` recording.
    let text = "sha1-hqjN9QypF19sYikSwKaKZmSklwA=";
    let digest = parse_digest(text).unwrap();
    assert_eq!(digest_to_string(&digest), text);
    assert_eq!(
        digest_to_string(&digest_of(b"")),
        "sha1-2jmj7l5rSw0yVb/vlWAYkK/YBwk="
    );
}

#[test]
fn bad_digests_say_what_is_wrong() {
    for (text, reason) in [
        ("md5-AAAA", "sha1-"),
        ("sha1-not base64!", "base64"),
        ("sha1-AAAA", "20 bytes"),
    ] {
        let err = parse_digest(text).unwrap_err();
        assert!(err.to_string().contains(reason), "{text}: {err}");
    }
}

#[test]
fn references_are_found_at_any_depth_once_per_digest() {
    let a = BlobRef {
        digest: digest_of(b"a"),
        length: 1,
        content_type: Some("text/plain".into()),
    };
    let b = BlobRef {
        digest: digest_of(b"bb"),
        length: 2,
        content_type: None,
    };
    let body = Value::object([
        ("photo", a.to_value()),
        (
            "list",
            Value::Array(vec![Value::object([("inner", b.to_value())]), a.to_value()]),
        ),
        ("plain", Value::object([("@type", "not-a-blob")])),
    ]);
    let mut expected = vec![a.clone(), b.clone()];
    expected.sort();
    assert_eq!(blob_refs(&body).unwrap(), expected);
    assert_eq!(
        BlobRef::from_map(a.to_value().as_object().unwrap()).unwrap(),
        Some(a)
    );
}

#[test]
fn malformed_references_are_errors() {
    let cases = [
        Value::object([("@type", Value::from("blob"))]),
        Value::object([("@type", Value::from("blob")), ("digest", Value::from(3))]),
        Value::object([
            ("@type", Value::from("blob")),
            ("digest", Value::from(digest_to_string(&digest_of(b"x")))),
        ]),
        Value::object([
            ("@type", Value::from("blob")),
            ("digest", Value::from(digest_to_string(&digest_of(b"x")))),
            ("length", Value::from(-1)),
        ]),
    ];
    for case in cases {
        let body = Value::object([("b", case.clone())]);
        assert!(blob_refs(&body).is_err(), "{case:?} accepted");
    }
}

#[test]
fn proofs_hash_the_length_prefixed_nonce_then_the_blob() {
    let mut proof = AttachmentProof::new(b"nonce").unwrap();
    proof.update(b"hello ");
    proof.update(b"world");
    let mut input = vec![5u8];
    input.extend_from_slice(b"nonce");
    input.extend_from_slice(b"hello world");
    assert_eq!(proof.finish(), digest_to_string(&digest_of(&input)));
    assert_eq!(
        AttachmentProof::new(b"").unwrap_err(),
        BlobError::BadNonce { len: 0 }
    );
    assert!(AttachmentProof::new(&[0; 256]).is_err());
}

#[test]
fn the_hasher_matches_a_one_shot_digest() {
    let mut hasher = BlobHasher::new();
    hasher.update(b"abc");
    hasher.update(b"def");
    assert_eq!(hasher.length(), 6);
    assert_eq!(hasher.finish(), digest_of(b"abcdef"));
}
