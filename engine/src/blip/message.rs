//! BLIP messages: properties and body, and their encoding as a message's data.
//!
//! A message's data (the concatenated, uncompressed data of its frames) is
//! `varint len(properties)`, then the property block — NUL-terminated UTF-8 strings alternating
//! key and value — then the body, raw bytes to the end.

use super::error::{ProtocolError, SendError};
use super::varint;

/// The property naming a request's type.
pub const PROFILE: &str = "Profile";
/// The property of an `ERR` message naming its error domain.
pub const ERROR_DOMAIN: &str = "Error-Domain";
/// The property of an `ERR` message holding its numeric error code.
pub const ERROR_CODE: &str = "Error-Code";

/// The room a property block built here gets first, in bytes: enough for a `rev` message's.
const TYPICAL_BLOCK: usize = 160;
/// The same, in properties.
const TYPICAL_PROPERTIES: usize = 8;

/// A message's properties, in the order they were added or received.
///
/// Order is kept (and sent) as given; [`Properties::insert`] replaces an existing key in place.
/// They are kept as one text, laid out as the property block is sent (each key and value
/// followed by a NUL), with where each property ends: a received block is one copy, and an
/// encoded one is one copy when no key or value holds a NUL.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Properties {
    /// Each key and value followed by a NUL.
    text: String,
    /// For each property, in order: where its key ends and where its value ends in `text`
    /// (each at the NUL that follows it).
    ends: Vec<(usize, usize)>,
}

impl Properties {
    /// No properties.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// The value of the first property named `key`.
    #[must_use]
    pub fn get(&self, key: &str) -> Option<&str> {
        let (key_end, value_end) = self.ends[self.position(key)?];
        Some(&self.text[key_end + 1..value_end])
    }

    /// The index of the first property named `key`.
    fn position(&self, key: &str) -> Option<usize> {
        let mut start = 0;
        self.ends.iter().position(|&(key_end, value_end)| {
            // Bytes: a key's bounds are ASCII NULs, so no character boundary needs a check.
            let found = self.text.as_bytes()[start..key_end] == *key.as_bytes();
            start = value_end + 1;
            found
        })
    }

    /// Sets `key` to `value`, replacing the first existing value in place or appending.
    pub fn insert(&mut self, key: impl AsRef<str>, value: impl AsRef<str>) {
        let (key, value) = (key.as_ref(), value.as_ref());
        let Some(at) = self.position(key) else {
            return self.append(key, value.len(), |text| text.push_str(value));
        };
        let (key_end, value_end) = self.ends[at];
        self.text.replace_range(key_end + 1..value_end, value);
        let shift = |end: usize| end + value.len() + key_end + 1 - value_end;
        self.ends[at].1 = shift(value_end);
        for (k, v) in &mut self.ends[at + 1..] {
            (*k, *v) = (shift(*k), shift(*v));
        }
    }

    /// [`Properties::insert`] of `value`'s text, written in place when `key` is new.
    pub fn insert_display(&mut self, key: impl AsRef<str>, value: impl std::fmt::Display) {
        use std::fmt::Write;
        let key = key.as_ref();
        if self.position(key).is_some() {
            return self.insert(key, value.to_string());
        }
        self.append(key, 0, |text| {
            write!(text, "{value}").expect("writing to a String");
        });
    }

    /// Appends a property named `key` whose value `write_value` writes (about `value_len`
    /// bytes).
    fn append(&mut self, key: &str, value_len: usize, write_value: impl FnOnce(&mut String)) {
        if self.ends.is_empty() {
            // Most blocks are short: one allocation each for the text and the ends.
            self.text
                .reserve(TYPICAL_BLOCK.max(key.len() + value_len + 2));
            self.ends.reserve(TYPICAL_PROPERTIES);
        }
        self.text.push_str(key);
        self.text.push('\0');
        let key_end = self.text.len() - 1;
        write_value(&mut self.text);
        self.text.push('\0');
        self.ends.push((key_end, self.text.len() - 1));
    }

    /// The properties as key/value pairs, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        let mut start = 0;
        self.ends.iter().map(move |&(key_end, value_end)| {
            let pair = (
                &self.text[start..key_end],
                &self.text[key_end + 1..value_end],
            );
            start = value_end + 1;
            pair
        })
    }

    /// The number of properties.
    #[must_use]
    pub fn len(&self) -> usize {
        self.ends.len()
    }

    /// Whether there are no properties.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }

    /// The size of the encoded property block (without its length varint).
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        self.text.len()
    }

    /// The encoded property block, or the key of a property whose key or value holds a NUL
    /// (which the block cannot carry).
    fn block(&self) -> Result<&[u8], &str> {
        // Exactly the separators: two NULs a property.
        if self.text.bytes().filter(|&b| b == 0).count() == 2 * self.ends.len() {
            return Ok(self.text.as_bytes());
        }
        let (bad, _) = self
            .iter()
            .find(|(k, v)| k.contains('\0') || v.contains('\0'))
            .expect("a key or value holding a NUL");
        Err(bad)
    }
}

impl std::fmt::Debug for Properties {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<K: AsRef<str>, V: AsRef<str>> FromIterator<(K, V)> for Properties {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut props = Self::new();
        for (k, v) in iter {
            props.insert(k, v);
        }
        props
    }
}

/// A BLIP message: properties and a body. The same type serves requests, replies and errors.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Message {
    /// The message's properties.
    pub properties: Properties,
    /// The message's body (raw bytes; JSON or CBOR for replication profiles).
    pub body: Vec<u8>,
}

impl Message {
    /// An empty message (no properties, empty body): a plain successful reply.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// A request whose `Profile` property is `profile`.
    #[must_use]
    pub fn request(profile: &str) -> Self {
        Self::new().with_property(PROFILE, profile)
    }

    /// This message with a property set.
    #[must_use]
    pub fn with_property(mut self, key: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        self.properties.insert(key, value);
        self
    }

    /// This message with a property set to `value`'s text (see [`Properties::insert_display`]).
    #[must_use]
    pub fn with_property_display(
        mut self,
        key: impl AsRef<str>,
        value: impl std::fmt::Display,
    ) -> Self {
        self.properties.insert_display(key, value);
        self
    }

    /// This message with the given body.
    #[must_use]
    pub fn with_body(mut self, body: impl Into<Vec<u8>>) -> Self {
        self.body = body.into();
        self
    }

    /// The `Profile` property (the request type), if any.
    #[must_use]
    pub fn profile(&self) -> Option<&str> {
        self.properties.get(PROFILE)
    }

    /// The value of property `key`.
    #[must_use]
    pub fn property(&self, key: &str) -> Option<&str> {
        self.properties.get(key)
    }

    /// The size of [`Message::encode`]'s output.
    #[must_use]
    pub fn encoded_len(&self) -> usize {
        let props = self.properties.encoded_len();
        varint::encoded_len(props as u64) + props + self.body.len()
    }

    /// Encodes the message's data: property length, property block, body.
    ///
    /// Fails if a key or value contains a NUL byte.
    pub fn encode(&self) -> Result<Vec<u8>, SendError> {
        let block = self
            .properties
            .block()
            .map_err(|key| SendError::InvalidProperty(key.to_owned()))?;
        let mut out = Vec::with_capacity(self.encoded_len());
        varint::encode(block.len() as u64, &mut out);
        out.extend_from_slice(block);
        out.extend_from_slice(&self.body);
        Ok(out)
    }

    /// Decodes a complete message's data, refusing a property block over `max_properties`
    /// bytes.
    pub fn decode(data: &[u8], max_properties: usize) -> Result<Self, ProtocolError> {
        let (properties, body_at) = Self::decode_properties(data, max_properties)?;
        Ok(Self {
            properties,
            body: data[body_at..].to_vec(),
        })
    }

    /// [`Message::decode`] of data the caller owns: the body keeps `data`'s buffer, so a
    /// received body is not copied into a new one.
    pub fn decode_owned(mut data: Vec<u8>, max_properties: usize) -> Result<Self, ProtocolError> {
        let (properties, body_at) = Self::decode_properties(&data, max_properties)?;
        data.drain(..body_at);
        Ok(Self {
            properties,
            body: data,
        })
    }

    /// The properties at the start of a message's data, and where its body starts.
    fn decode_properties(
        data: &[u8],
        max_properties: usize,
    ) -> Result<(Properties, usize), ProtocolError> {
        let (len, used) =
            varint::decode(data).map_err(|e| ProtocolError::varint("property block length", e))?;
        if len > max_properties as u64 {
            return Err(ProtocolError::PropertiesTooLarge {
                size: len,
                limit: max_properties,
            });
        }
        let rest = &data[used..];
        let block = usize::try_from(len)
            .ok()
            .and_then(|len| rest.get(..len))
            .ok_or(ProtocolError::TruncatedProperties {
                announced: len,
                available: rest.len(),
            })?;
        Ok((decode_properties(block)?, used + block.len()))
    }
}

/// Decodes a property block (without its length varint).
fn decode_properties(block: &[u8]) -> Result<Properties, ProtocolError> {
    if block.is_empty() {
        return Ok(Properties::new());
    }
    if block.last() != Some(&0) {
        return Err(ProtocolError::MissingNul);
    }
    // One check for the whole block: a NUL is a character of its own, so each string between
    // NULs is UTF-8 when the block is.
    let text = std::str::from_utf8(block).map_err(|_| ProtocolError::InvalidUtf8Property)?;
    let mut ends = Vec::with_capacity(TYPICAL_PROPERTIES);
    let mut key_end = None;
    for (at, _) in block.iter().enumerate().filter(|(_, b)| **b == 0) {
        match key_end.take() {
            None => key_end = Some(at),
            Some(key_end) => ends.push((key_end, at)),
        }
    }
    if let Some(key_end) = key_end {
        let start = ends.last().map_or(0, |&(_, value_end)| value_end + 1);
        return Err(ProtocolError::UnpairedProperty(
            text[start..key_end].to_owned(),
        ));
    }
    Ok(Properties {
        text: text.to_owned(),
        ends,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn encodes_like_litecore() {
        // The first frame of the `push-3` recording, without header and CRC.
        let msg = Message::request("getCheckpoint")
            .with_property("client", "cp-nOPUHLbiP8ilcMZKGcJvyrzKxos=");
        let data = msg.encode().unwrap();
        assert_eq!(data[0], 0x3d);
        assert_eq!(&data[1..9], b"Profile\0");
        assert_eq!(data.len(), msg.encoded_len());
        assert_eq!(Message::decode(&data, 1000), Ok(msg));
    }

    #[test]
    fn empty_message_is_one_zero_byte() {
        assert_eq!(Message::new().encode().unwrap(), [0]);
        assert_eq!(Message::decode(&[0], 0), Ok(Message::new()));
        assert_eq!(Message::decode(&[0, b'x'], 0).unwrap().body, b"x");
    }

    #[test]
    fn rejects_bad_property_blocks() {
        assert_eq!(
            Message::decode(&[], 10),
            Err(ProtocolError::TruncatedVarint("property block length"))
        );
        assert_eq!(
            Message::decode(&[5, b'a', 0], 10),
            Err(ProtocolError::TruncatedProperties {
                announced: 5,
                available: 2
            })
        );
        assert_eq!(
            Message::decode(&[3, b'a', 0, b'b'], 10),
            Err(ProtocolError::MissingNul)
        );
        assert_eq!(
            Message::decode(&[2, b'a', 0], 10),
            Err(ProtocolError::UnpairedProperty("a".into()))
        );
        assert_eq!(
            Message::decode(&[4, 0xff, 0, b'b', 0], 10),
            Err(ProtocolError::InvalidUtf8Property)
        );
        assert_eq!(
            Message::decode(&[4, b'a', 0, b'b', 0], 3),
            Err(ProtocolError::PropertiesTooLarge { size: 4, limit: 3 })
        );
        assert_eq!(
            Message::new().with_property("a\0b", "c").encode(),
            Err(SendError::InvalidProperty("a\0b".into()))
        );
    }

    #[test]
    fn insert_replaces_in_place() {
        let mut p: Properties = [("a", "1"), ("b", "2")].into_iter().collect();
        p.insert("a", "3");
        assert_eq!(p.iter().collect::<Vec<_>>(), [("a", "3"), ("b", "2")]);
        assert_eq!((p.len(), p.get("b"), p.get("c")), (2, Some("2"), None));
    }

    proptest! {
        #[test]
        fn messages_round_trip(
            props in proptest::collection::btree_map("[^\0]{0,12}", "[^\0]{0,20}", 0..6),
            body in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let msg = Message { properties: props.into_iter().collect(), body };
            let data = msg.encode().unwrap();
            prop_assert_eq!(Message::decode_owned(data.clone(), usize::MAX), Ok(msg.clone()));
            prop_assert_eq!(Message::decode(&data, usize::MAX), Ok(msg));
        }

        #[test]
        fn properties_behave_like_a_list_of_pairs(
            inserts in proptest::collection::vec(
                ("[a-d]{0,2}", "[x-z\0]{0,6}", any::<bool>()),
                0..12,
            ),
        ) {
            // The model: pairs in order, an insert of a present key replacing its value.
            let mut model: Vec<(String, String)> = Vec::new();
            let mut props = Properties::new();
            for (k, v, display) in inserts {
                match model.iter_mut().find(|(mk, _)| *mk == k) {
                    Some(slot) => slot.1 = v.clone(),
                    None => model.push((k.clone(), v.clone())),
                }
                if display {
                    props.insert_display(k, &v);
                } else {
                    props.insert(k, v);
                }
                let pairs: Vec<(&str, &str)> = props.iter().collect();
                let expected: Vec<(&str, &str)> =
                    model.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                prop_assert_eq!(pairs, expected);
                prop_assert_eq!(props.len(), model.len());
                for (k, v) in &model {
                    prop_assert_eq!(props.get(k), Some(v.as_str()));
                }
                prop_assert_eq!(
                    props.encoded_len(),
                    model.iter().map(|(k, v)| k.len() + v.len() + 2).sum::<usize>()
                );
                // Encoded and decoded back, unless a value holds a NUL (then refused).
                let msg = Message { properties: props.clone(), body: b"b".to_vec() };
                let bad = model.iter().find(|(_, v)| v.contains('\0'));
                match (msg.encode(), bad) {
                    (Ok(data), None) => prop_assert_eq!(Message::decode(&data, usize::MAX), Ok(msg)),
                    (Err(SendError::InvalidProperty(key)), Some((bad, _))) => prop_assert_eq!(&key, bad),
                    (other, bad) => prop_assert!(false, "{:?} with {:?}", other, bad),
                }
            }
        }

        #[test]
        fn arbitrary_data_never_panics(data in proptest::collection::vec(any::<u8>(), 0..48)) {
            // Both decoders give the same message or the same error.
            prop_assert_eq!(Message::decode_owned(data.clone(), 64), Message::decode(&data, 64));
            if let Ok(msg) = Message::decode(&data, 64) {
                // Whatever decodes re-encodes to the same bytes (for minimal length varints).
                let again = msg.encode().unwrap();
                prop_assert_eq!(Message::decode(&again, 64), Ok(msg));
            }
        }
    }
}
