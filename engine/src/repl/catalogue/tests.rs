//! Edge cases of catalogue parsing and encoding.

use super::*;

const P: Profile = Profile::CbMobile3;
const R1: &str = "1-6b1ccd815504bdc118033214b67018360704b84f";
const R2: &str = "2-01c1a48abadac396fa3910b830e69691f25f1da8";

fn rev(text: &str) -> RevId {
    RevId::parse(text).unwrap()
}

fn rev_msg(props: &[(&str, &str)]) -> Message {
    let mut msg = Message::request(names::REV).with_body("{}");
    for (k, v) in props {
        msg = msg.with_property(k, *v);
    }
    msg
}

#[test]
fn history_tolerates_spaces_and_empty_entries() {
    let spaced = format!(" {R2} ,  {R1},");
    let msg = rev_msg(&[("id", "d"), ("rev", "3-aa"), ("history", &spaced)]);
    let parsed = RevMessage::from_message(&msg).unwrap();
    assert_eq!(parsed.history, [rev(R2), rev(R1)]);
    let empty = rev_msg(&[("id", "d"), ("rev", "3-aa"), ("history", " , ,")]);
    assert_eq!(RevMessage::from_message(&empty).unwrap().history, []);
    let bad = rev_msg(&[("id", "d"), ("rev", "3-aa"), ("history", "2-zz")]);
    assert!(matches!(
        RevMessage::from_message(&bad),
        Err(CatalogueError::BadProperty {
            property: "history",
            ..
        })
    ));
}

#[test]
fn boolean_properties_accept_1_and_true() {
    for (text, expected) in [
        ("1", true),
        ("true", true),
        ("0", false),
        ("false", false),
        ("", false),
    ] {
        let msg = rev_msg(&[
            ("id", "d"),
            ("rev", R1),
            ("deleted", text),
            ("noconflicts", text),
        ]);
        let parsed = RevMessage::from_message(&msg).unwrap();
        assert_eq!((parsed.deleted, parsed.no_conflicts), (expected, expected));
    }
    // Written the way LiteCore writes them.
    let msg = RevMessage {
        doc_id: "d".into(),
        rev: rev(R2),
        history: vec![rev(R1)],
        deleted: true,
        sequence: Some(RemoteSeq::number(9)),
        delta_src: None,
        no_conflicts: true,
        body: b"{}".to_vec(),
    }
    .to_message();
    let props: Vec<_> = msg.properties.iter().collect();
    assert_eq!(
        props,
        [
            ("Profile", "rev"),
            ("id", "d"),
            ("rev", R2),
            ("sequence", "9"),
            ("noconflicts", "1"),
            ("deleted", "1"),
            ("history", R1),
        ]
    );
}

#[test]
fn remote_sequences_keep_their_text() {
    // Canonical numbers are numbers; every other text goes back exactly as it came.
    for (text, number) in [
        ("0", Some(0)),
        ("42", Some(42)),
        ("18446744073709551615", Some(u64::MAX)),
        ("007", Some(7)),
        ("+7", Some(7)),
        ("18446744073709551616", None),
        ("12:34", None),
        ("-1", None),
    ] {
        let seq = RemoteSeq::from_property(text).unwrap();
        assert_eq!(seq.to_string(), text);
        assert_eq!(seq.as_number(), number, "{text}");
        assert_eq!(format!("{seq:?}"), format!("RemoteSeq({text})"));
    }
    assert_eq!(RemoteSeq::from_property("42"), Some(RemoteSeq::number(42)));
    assert_ne!(RemoteSeq::from_property("042"), Some(RemoteSeq::number(42)));
    assert_eq!(RemoteSeq::from_property(""), None);
    assert_eq!(RemoteSeq::from_property("1\0"), None);
}

#[test]
fn changes_rows_accept_string_sequences_and_loose_flags() {
    let body = format!(
        r#"[["12:34","a","{R1}"],[7,"b","{R2}",true,30],[8,"c","{R1}",1],[9,"d","{R1}",0,5]]"#
    );
    let rows = decode_changes(P, body.as_bytes()).unwrap();
    assert_eq!(rows.len(), 4);
    assert_eq!(rows[0].seq.to_string(), "12:34");
    assert_eq!(rows[0].seq.as_number(), None);
    assert_eq!(rows[0].seq.to_value(), Value::String("12:34".into()));
    assert!(!rows[0].deleted && rows[0].body_size == 0);
    assert!(rows[1].deleted && rows[1].body_size == 30);
    assert!(rows[2].deleted);
    assert!(!rows[3].deleted);
    // Encoded back: string sequences stay strings, numbers stay numbers, rows have 5 items.
    let json = Value::from_json(&encode_changes(P, &rows)).unwrap();
    let expected = format!(
        r#"[["12:34","a","{R1}",0,0],[7,"b","{R2}",1,30],[8,"c","{R1}",1,0],[9,"d","{R1}",0,5]]"#
    );
    assert_eq!(json, Value::from_json(expected.as_bytes()).unwrap());
    // Empty bodies and `[]` are "caught up"; anything else malformed is an error.
    assert_eq!(decode_changes(P, b"").unwrap(), []);
    assert_eq!(decode_changes(P, b"[]").unwrap(), []);
    for bad in [
        r#"{}"#,
        r#"[1]"#,
        r#"[[1,"a"]]"#,
        r#"[[null,"a","1-aa"]]"#,
        r#"[[1,2,"1-aa"]]"#,
        r#"[[1,"a",3]]"#,
        r#"[["","a","1-aa"]]"#,
    ] {
        assert!(decode_changes(P, bad.as_bytes()).is_err(), "{bad}");
    }
}

#[test]
fn replies_trim_trailing_zeros() {
    let answers = [
        ChangeAnswer::Send { known: vec![] },
        ChangeAnswer::Skip,
        ChangeAnswer::Send {
            known: vec![rev(R1)],
        },
        ChangeAnswer::Skip,
        ChangeAnswer::Skip,
    ];
    let body = encode_change_answers(P, &answers);
    assert_eq!(body, format!(r#"[[],0,["{R1}"]]"#).into_bytes());
    assert_eq!(decode_change_answers(P, &body, 5).unwrap(), answers);
    assert_eq!(
        encode_change_answers(P, &[ChangeAnswer::Skip, ChangeAnswer::Skip]),
        b"[]"
    );
    assert_eq!(
        decode_change_answers(P, b"[]", 2).unwrap(),
        [ChangeAnswer::Skip, ChangeAnswer::Skip]
    );
    assert!(decode_change_answers(P, b"[0,0,0]", 2).is_err(), "too many");
    assert!(decode_change_answers(P, b"[5]", 1).is_err(), "not 0");

    let proposals = [
        ProposalAnswer::Send,
        ProposalAnswer::AlreadyHave,
        ProposalAnswer::Conflict {
            current: Some(rev(R2)),
        },
        ProposalAnswer::Send,
    ];
    let body = encode_proposal_answers(P, &proposals);
    // JSON-equal to LiteCore's `{"status":409,"rev":…}`; Ferry's maps write keys sorted.
    assert_eq!(
        body,
        format!(r#"[0,304,{{"rev":"{R2}","status":409}}]"#).into_bytes()
    );
    assert_eq!(decode_proposal_answers(P, &body, 4).unwrap(), proposals);
    assert_eq!(
        encode_proposal_answers(P, &[ProposalAnswer::Send, ProposalAnswer::Send]),
        b"[]"
    );
    assert_eq!(
        decode_proposal_answers(P, b"[409,500]", 2).unwrap(),
        [
            ProposalAnswer::Conflict { current: None },
            ProposalAnswer::Status(500)
        ]
    );
    assert!(decode_proposal_answers(P, b"[-1]", 1).is_err());
    assert!(decode_proposal_answers(P, br#"[{"rev":"1-aa"}]"#, 1).is_err());
}

#[test]
fn proposals_treat_empty_server_revs_as_absent() {
    let body = format!(r#"[["a","{R1}","",8],["b","{R2}","{R1}"],["c","{R1}",null]]"#);
    let rows = decode_proposed(P, body.as_bytes()).unwrap();
    assert_eq!(rows[0].server_rev, None);
    assert_eq!(rows[1].server_rev, Some(rev(R1)));
    assert_eq!((rows[1].body_size, rows[2].server_rev.clone()), (0, None));
    let msg = propose_changes_message(P, &rows[..1]);
    assert_eq!(msg.property("conflictIncludesRev"), Some("true"));
    assert_eq!(msg.body, format!(r#"[["a","{R1}","",8]]"#).into_bytes());
}

#[test]
fn checkpoint_bodies() {
    let value = Value::from_json(
        br#"{"time":1795345063,"local":5,"localCompleted":[0,6,7,1],"remote":8,"x":1}"#,
    )
    .unwrap();
    let body = CheckpointBody::from_value(&value).unwrap();
    assert_eq!(body.local_completed, [(0, 6), (7, 1)]);
    assert_eq!(body.remote, Some(RemoteSeq::number(8)));
    let back = body.to_value();
    assert_eq!(back.get("localCompleted"), value.get("localCompleted"));
    assert_eq!(back.get("x"), None, "unknown keys are not modelled");
    for bad in [
        r#"[]"#,
        r#"{"local":"x"}"#,
        r#"{"localCompleted":[1]}"#,
        r#"{"localCompleted":[1,"a"]}"#,
        r#"{"remote":true}"#,
    ] {
        let v = Value::from_json(bad.as_bytes()).unwrap();
        assert!(CheckpointBody::from_value(&v).is_err(), "{bad}");
    }
    let remote = Value::from_json(br#"{"remote":"abc"}"#).unwrap();
    let body = CheckpointBody::from_value(&remote).unwrap();
    assert_eq!(body.remote.unwrap().to_string(), "abc");
}

#[test]
fn sub_changes_properties() {
    let msg = Message::request(names::SUB_CHANGES)
        .with_property("since", "17")
        .with_property("continuous", "true")
        .with_property("batch", "200")
        .with_property("activeOnly", "1")
        .with_body(r#"{"docIDs":["a","b"]}"#);
    let parsed = SubChanges::from_message(&msg, P).unwrap();
    assert_eq!(
        parsed.since.as_ref().and_then(RemoteSeq::as_number),
        Some(17)
    );
    assert!(parsed.continuous && parsed.active_only);
    assert_eq!(parsed.batch, Some(200));
    assert_eq!(parsed.doc_ids, Some(vec!["a".into(), "b".into()]));
    let empty_since = Message::request(names::SUB_CHANGES).with_property("since", "");
    assert_eq!(
        SubChanges::from_message(&empty_since, P).unwrap().since,
        None
    );
}

#[test]
fn norev_reasons_never_carry_nul() {
    let msg = NoRev {
        doc_id: "d".into(),
        rev: rev(R1),
        sequence: None,
        error: Some(404),
        reason: Some("gone\0away".into()),
    }
    .to_message();
    assert_eq!(msg.property("reason"), Some("gone away"));
    let parsed = NoRev::from_message(&msg).unwrap();
    assert_eq!(parsed.error, Some(404));
}
