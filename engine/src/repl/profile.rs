//! The two replication profiles (WebSocket subprotocols) and their body codecs.

use std::borrow::Cow;

use crate::value::{
    Value, ValueError, cbor_to_json, check_deterministic_cbor, check_deterministic_cbor_for_key,
    json_to_cbor,
};

/// A replication profile: the WebSocket subprotocol chosen in the handshake. Both use the same
/// message catalogue; they differ in how bodies are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// `BLIP_3+CBMobile_3`: Couchbase Lite's profile, JSON bodies.
    CbMobile3,
    /// `BLIP_3+Ferry_1`: Ferry's profile, deterministic CBOR bodies passed through from the store
    /// without re-encoding.
    Ferry1,
}

impl Profile {
    /// Subprotocols a Ferry replicator offers, in order of preference.
    pub const OFFERED: [&'static str; 2] = ["BLIP_3+Ferry_1", "BLIP_3+CBMobile_3"];

    /// The subprotocol name.
    pub const fn subprotocol(self) -> &'static str {
        match self {
            Profile::CbMobile3 => "BLIP_3+CBMobile_3",
            Profile::Ferry1 => "BLIP_3+Ferry_1",
        }
    }

    /// The profile named by a subprotocol, if Ferry speaks it.
    pub fn from_subprotocol(name: &str) -> Option<Profile> {
        match name.trim() {
            "BLIP_3+CBMobile_3" => Some(Profile::CbMobile3),
            "BLIP_3+Ferry_1" => Some(Profile::Ferry1),
            _ => None,
        }
    }

    /// What a listener picks from a client's `Sec-WebSocket-Protocol` offer (comma-separated):
    /// `Ferry_1` when offered, else `CBMobile_3`, else nothing.
    pub fn negotiate(offer: &str) -> Option<Profile> {
        let offered: Vec<Profile> = offer
            .split(',')
            .filter_map(Profile::from_subprotocol)
            .collect();
        [Profile::Ferry1, Profile::CbMobile3]
            .into_iter()
            .find(|p| offered.contains(p))
    }

    /// Whether the bulk messages of a sync (`rev`s and the `changes` / `proposeChanges` lists,
    /// hence their answers) are sent compressed. `CBMobile_3` compresses them as LiteCore does
    /// (JSON compresses well); `Ferry_1` sends them as they are: deflating and inflating them
    /// costs more CPU than it saves on a LAN (it was 8% of the engine's instructions for the
    /// change lists alone), and CBOR is already compact.
    pub fn compresses(self) -> bool {
        matches!(self, Profile::CbMobile3)
    }

    /// Encodes a structured (non-document) body: JSON or CBOR.
    pub fn encode_value(self, value: &Value) -> Vec<u8> {
        match self {
            Profile::CbMobile3 => value.to_json(),
            Profile::Ferry1 => value.to_cbor(),
        }
    }

    /// Decodes a structured body. An empty body decodes as `null`.
    pub fn decode_value(self, bytes: &[u8]) -> Result<Value, ValueError> {
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        match self {
            Profile::CbMobile3 => Value::from_json(bytes),
            Profile::Ferry1 => Value::from_cbor(bytes),
        }
    }

    /// A stored document body (deterministic CBOR) as this profile puts it on the wire.
    pub fn body_to_wire(self, stored: &[u8]) -> Result<Cow<'_, [u8]>, ValueError> {
        match self {
            Profile::CbMobile3 => Ok(Cow::Owned(cbor_to_json(stored)?)),
            Profile::Ferry1 => Ok(Cow::Borrowed(stored)),
        }
    }

    /// A document body received in this profile, as the store keeps it (deterministic CBOR).
    /// `Ferry_1` bodies must already be deterministic CBOR and are kept as they are.
    pub fn body_from_wire(self, wire: Vec<u8>) -> Result<Vec<u8>, ValueError> {
        self.body_from_wire_with_key(wire, None)
            .map(|(body, _)| body)
    }

    /// [`Profile::body_from_wire`], which also says whether some map of the body has the key
    /// `key`, when one is given and this profile checks the body item by item (`Ferry_1`);
    /// `None` when it did not look.
    pub(crate) fn body_from_wire_with_key(
        self,
        wire: Vec<u8>,
        key: Option<&str>,
    ) -> Result<(Vec<u8>, Option<bool>), ValueError> {
        match (self, key) {
            (Profile::CbMobile3, _) => Ok((json_to_cbor(&wire)?, None)),
            (Profile::Ferry1, None) => {
                check_deterministic_cbor(&wire)?;
                Ok((wire, None))
            }
            (Profile::Ferry1, Some(key)) => {
                let found = check_deterministic_cbor_for_key(&wire, key)?;
                Ok((wire, Some(found)))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listener_prefers_ferry_and_accepts_couchbase() {
        assert_eq!(
            Profile::negotiate("BLIP_3+Ferry_1,BLIP_3+CBMobile_3"),
            Some(Profile::Ferry1)
        );
        assert_eq!(
            Profile::negotiate("BLIP_3+CBMobile_3, BLIP_3+Ferry_1"),
            Some(Profile::Ferry1)
        );
        assert_eq!(
            Profile::negotiate("BLIP_3+CBMobile_3,BLIP_3+CBMobile_2"),
            Some(Profile::CbMobile3),
            "what LiteCore 3.0 offers"
        );
        assert_eq!(Profile::negotiate("BLIP_3+CBMobile_2"), None);
        assert_eq!(Profile::negotiate(""), None);
    }

    #[test]
    fn bodies_convert_between_profiles() {
        let stored = Value::from_json(br#"{"b":[1,2.5],"a":"x"}"#)
            .unwrap()
            .to_cbor();
        let json = Profile::CbMobile3.body_to_wire(&stored).unwrap();
        assert_eq!(&*json, br#"{"a":"x","b":[1,2.5]}"#);
        assert_eq!(
            Profile::CbMobile3.body_from_wire(json.to_vec()).unwrap(),
            stored
        );
        assert!(matches!(
            Profile::Ferry1.body_to_wire(&stored).unwrap(),
            Cow::Borrowed(_)
        ));
        assert_eq!(
            Profile::Ferry1.body_from_wire(stored.clone()).unwrap(),
            stored
        );
        assert!(
            Profile::Ferry1.body_from_wire(vec![0xa1, 0x61]).is_err(),
            "truncated CBOR"
        );
        assert!(
            Profile::CbMobile3
                .body_from_wire(b"{not json".to_vec())
                .is_err()
        );
    }
}
