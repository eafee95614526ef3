//! The storage encoding of a [`RevTree`]: versioned CBOR.
//!
//! The format is described on [`RevTree::encode`].

use ciborium::Value;

use super::{Node, RevTree, RevTreeError};
use crate::rev::RevId;
use crate::value::cbor::{DirectReader, MAJOR_ARRAY, MAJOR_TEXT, MAJOR_UINT, write_head};

/// The format version [`RevTree::encode`] writes, and the only one [`RevTree::decode`] reads.
pub const TREE_FORMAT_VERSION: u64 = 1;

const FLAG_DELETED: u64 = 1;
const FLAG_HAS_BODY: u64 = 2;
/// Nesting is three levels deep; anything deeper is corrupt.
const RECURSION_LIMIT: usize = 8;

impl RevTree {
    /// Encodes the tree for storage. The same tree always gives the same bytes, and
    /// [`RevTree::decode`] gives back an equal tree.
    ///
    /// Format version 1 is one CBOR array of three items:
    ///
    /// ```text
    /// [ 1,                                   ; format version
    ///   [ [rev, parent_back, flags], ... ],  ; nodes, parents before children
    ///   [ [remote_id, node], ... ] ]         ; remote ancestors, by increasing remote ID
    /// ```
    ///
    /// - `rev` is the revision ID as text;
    /// - `parent_back` is `0` for a root, else how many places before this node its parent is
    ///   (so a parent always comes first, and a chain encodes as small numbers);
    /// - `flags` has bit 0 = deleted, bit 1 = has a body; other bits must be clear;
    /// - `node` is the index of the remote ancestor's node.
    ///
    /// Leaf status and the current revision are derived, not stored.
    pub fn encode(&self) -> Vec<u8> {
        // Written directly, byte for byte what ciborium writes for the equivalent `Value`
        // (definite lengths, shortest heads): a tree is encoded on every stored revision.
        let text_len: usize = self.nodes.iter().map(|n| n.rev.as_str().len()).sum();
        let mut out =
            Vec::with_capacity(8 + text_len + self.nodes.len() * 12 + self.remotes.len() * 12);
        write_head(MAJOR_ARRAY, 3, &mut out);
        write_head(MAJOR_UINT, TREE_FORMAT_VERSION, &mut out);
        write_head(MAJOR_ARRAY, self.nodes.len() as u64, &mut out);
        for (idx, n) in self.nodes.iter().enumerate() {
            let back = n.parent.map_or(0, |p| idx - p);
            let flags = u64::from(n.deleted) * FLAG_DELETED + u64::from(n.has_body) * FLAG_HAS_BODY;
            let rev = n.rev.as_str();
            write_head(MAJOR_ARRAY, 3, &mut out);
            write_head(MAJOR_TEXT, rev.len() as u64, &mut out);
            out.extend_from_slice(rev.as_bytes());
            write_head(MAJOR_UINT, back as u64, &mut out);
            write_head(MAJOR_UINT, flags, &mut out);
        }
        write_head(MAJOR_ARRAY, self.remotes.len() as u64, &mut out);
        for (&id, &idx) in &self.remotes {
            write_head(MAJOR_ARRAY, 2, &mut out);
            write_head(MAJOR_UINT, u64::from(id), &mut out);
            write_head(MAJOR_UINT, idx as u64, &mut out);
        }
        out
    }

    /// Decodes bytes from [`RevTree::encode`], validating everything: the format version
    /// ([`RevTreeError::UnsupportedVersion`]), the structure, every revision ID, parents
    /// before children, each child's generation being its parent's plus one, no duplicate
    /// revision, remote ancestors naming existing nodes in increasing remote-ID order, and no
    /// trailing bytes (all [`RevTreeError::Corrupt`]). Never panics.
    pub fn decode(bytes: &[u8]) -> Result<RevTree, RevTreeError> {
        // The fast path reads what `encode` writes straight from the bytes; anything else
        // (an error, or CBOR that is valid but not in that exact form) takes the general
        // path below, which gives the same tree or the precise error.
        match decode_direct(bytes) {
            Some(tree) => Ok(tree),
            None => decode_general(bytes),
        }
    }
}

/// Decodes through ciborium's generic `Value`: accepts any well-formed CBOR of the right
/// shape and explains what is wrong otherwise.
pub(super) fn decode_general(bytes: &[u8]) -> Result<RevTree, RevTreeError> {
    let mut reader = bytes;
    let top: Value = ciborium::de::from_reader_with_recursion_limit(&mut reader, RECURSION_LIMIT)
        .map_err(|e| corrupt(format!("not CBOR: {e}")))?;
    if !reader.is_empty() {
        return Err(corrupt(format!("{} trailing bytes", reader.len())));
    }
    let Value::Array(top) = top else {
        return Err(corrupt("the top level is not an array"));
    };
    let version = match top.first() {
        Some(v) => uint(v, "the format version")?,
        None => return Err(corrupt("the top-level array is empty")),
    };
    if version != TREE_FORMAT_VERSION {
        return Err(RevTreeError::UnsupportedVersion(version));
    }
    let [_, Value::Array(nodes), Value::Array(remotes)] = top.as_slice() else {
        return Err(corrupt("the top level is not [version, nodes, remotes]"));
    };
    let mut tree = RevTree::new();
    for (idx, item) in nodes.iter().enumerate() {
        let node = decode_node(&tree, idx, item)?;
        tree.push_node(node.parent, node.rev, node.deleted, node.has_body);
    }
    let mut last_id: Option<u32> = None;
    for item in remotes {
        let (id, idx) = decode_remote(item, tree.nodes.len())?;
        if last_id.is_some_and(|last| last >= id) {
            return Err(corrupt(format!("remote {id} is out of order or repeated")));
        }
        last_id = Some(id);
        tree.remotes.insert(id, idx);
    }
    tree.update_current();
    Ok(tree)
}

/// The encoding through ciborium's generic `Value`, as `encode` once built it: the direct
/// encoder must give the same bytes.
#[cfg(test)]
pub(super) fn encode_generic(tree: &RevTree) -> Vec<u8> {
    let int = |i: u64| Value::Integer(i.into());
    let nodes = tree
        .nodes
        .iter()
        .enumerate()
        .map(|(idx, n)| {
            let back = n.parent.map_or(0, |p| idx - p);
            let flags = u64::from(n.deleted) * FLAG_DELETED + u64::from(n.has_body) * FLAG_HAS_BODY;
            Value::Array(vec![
                Value::Text(n.rev.as_str().to_owned()),
                int(back as u64),
                int(flags),
            ])
        })
        .collect();
    let remotes = tree
        .remotes
        .iter()
        .map(|(&id, &idx)| Value::Array(vec![int(id.into()), int(idx as u64)]))
        .collect();
    let top = Value::Array(vec![
        int(TREE_FORMAT_VERSION),
        Value::Array(nodes),
        Value::Array(remotes),
    ]);
    let mut out = Vec::new();
    ciborium::into_writer(&top, &mut out).expect("CBOR encoding into memory cannot fail");
    out
}

/// Decodes exactly the form [`RevTree::encode`] writes, with every check of the general path;
/// `None` for anything else (the general path then decides, and explains).
fn decode_direct(bytes: &[u8]) -> Option<RevTree> {
    let mut r = DirectReader::new(bytes);
    if r.head(MAJOR_ARRAY)? != 3 || r.uint()? != TREE_FORMAT_VERSION {
        return None;
    }
    let count = r.head(MAJOR_ARRAY)?;
    let mut tree = RevTree::new();
    // Every node takes at least 4 bytes: never reserve more than the input could hold.
    tree.nodes
        .reserve(usize::try_from(count).ok()?.min(r.remaining() / 4));
    for idx in 0..count {
        let idx = usize::try_from(idx).ok()?;
        if r.head(MAJOR_ARRAY)? != 3 {
            return None;
        }
        let rev = RevId::parse(r.text()?).ok()?;
        let back = r.uint()?;
        let flags = r.uint()?;
        if flags & !(FLAG_DELETED | FLAG_HAS_BODY) != 0 {
            return None;
        }
        let parent = match back {
            0 => None,
            b if b <= idx as u64 => Some(idx - b as usize),
            _ => return None,
        };
        if let Some(p) = parent {
            if tree.nodes[p].rev.child_generation() != Some(rev.generation()) {
                return None;
            }
        }
        if tree.contains(&rev) {
            return None;
        }
        tree.push_node(
            parent,
            rev,
            flags & FLAG_DELETED != 0,
            flags & FLAG_HAS_BODY != 0,
        );
    }
    let remotes = r.head(MAJOR_ARRAY)?;
    let mut last_id: Option<u32> = None;
    for _ in 0..remotes {
        if r.head(MAJOR_ARRAY)? != 2 {
            return None;
        }
        let id = u32::try_from(r.uint()?).ok()?;
        let node = usize::try_from(r.uint()?).ok()?;
        if node >= tree.nodes.len() || last_id.is_some_and(|last| last >= id) {
            return None;
        }
        last_id = Some(id);
        tree.remotes.insert(id, node);
    }
    if !r.is_empty() {
        return None;
    }
    tree.update_current();
    Some(tree)
}

fn corrupt(msg: impl Into<String>) -> RevTreeError {
    RevTreeError::Corrupt(msg.into())
}

fn uint(v: &Value, what: &str) -> Result<u64, RevTreeError> {
    match v {
        Value::Integer(i) => {
            u64::try_from(*i).map_err(|_| corrupt(format!("{what} is not an unsigned integer")))
        }
        _ => Err(corrupt(format!("{what} is not an integer"))),
    }
}

fn decode_node(tree: &RevTree, idx: usize, item: &Value) -> Result<Node, RevTreeError> {
    let Value::Array(fields) = item else {
        return Err(corrupt(format!("node {idx} is not an array")));
    };
    let [Value::Text(text), back, flags] = fields.as_slice() else {
        return Err(corrupt(format!("node {idx} is not [rev, parent, flags]")));
    };
    let rev = RevId::parse(text).map_err(|e| corrupt(format!("node {idx}: {e}")))?;
    let back = uint(back, "a parent offset")?;
    let flags = uint(flags, "node flags")?;
    if flags & !(FLAG_DELETED | FLAG_HAS_BODY) != 0 {
        return Err(corrupt(format!("node {idx} has unknown flags {flags:#x}")));
    }
    let parent = match back {
        0 => None,
        b if b <= idx as u64 => Some(idx - b as usize),
        b => {
            return Err(corrupt(format!(
                "node {idx}'s parent is {b} places back, before the first"
            )));
        }
    };
    if let Some(p) = parent {
        let expected = tree.nodes[p].rev.child_generation();
        if expected != Some(rev.generation()) {
            return Err(corrupt(format!(
                "node {idx} ({rev}) is not one generation after its parent"
            )));
        }
    }
    if tree.contains(&rev) {
        return Err(corrupt(format!("node {idx} ({rev}) is a duplicate")));
    }
    Ok(Node {
        rev,
        parent,
        deleted: flags & FLAG_DELETED != 0,
        has_body: flags & FLAG_HAS_BODY != 0,
        children: 0,
    })
}

fn decode_remote(item: &Value, len: usize) -> Result<(u32, usize), RevTreeError> {
    let Value::Array(fields) = item else {
        return Err(corrupt("a remote ancestor is not an array"));
    };
    let [id, node] = fields.as_slice() else {
        return Err(corrupt("a remote ancestor is not [remote, node]"));
    };
    let id =
        u32::try_from(uint(id, "a remote ID")?).map_err(|_| corrupt("a remote ID overflows"))?;
    let node = uint(node, "a remote ancestor's node")?;
    if node >= len as u64 {
        return Err(corrupt(format!(
            "remote {id} names node {node}, out of range"
        )));
    }
    Ok((id, node as usize))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rev::tree::testgen::rev;

    fn sample() -> RevTree {
        let mut t = RevTree::new();
        let _ = t
            .insert_with_history(&[rev("3-aa"), rev("2-aa"), rev("1-aa")], false)
            .unwrap();
        let _ = t
            .insert_with_history(&[rev("3-bb"), rev("2-aa")], true)
            .unwrap();
        let _ = t.set_remote_ancestor(4, &rev("2-aa")).unwrap();
        t
    }

    fn cbor(v: &Value) -> Vec<u8> {
        let mut out = Vec::new();
        ciborium::into_writer(v, &mut out).unwrap();
        out
    }

    fn int(i: u64) -> Value {
        Value::Integer(i.into())
    }

    fn node(rev: &str, back: u64, flags: u64) -> Value {
        Value::Array(vec![Value::Text(rev.into()), int(back), int(flags)])
    }

    fn doc(nodes: Vec<Value>, remotes: Vec<Value>) -> Vec<u8> {
        cbor(&Value::Array(vec![
            int(1),
            Value::Array(nodes),
            Value::Array(remotes),
        ]))
    }

    fn is_corrupt(bytes: &[u8], needle: &str) -> bool {
        matches!(RevTree::decode(bytes), Err(RevTreeError::Corrupt(m)) if m.contains(needle))
    }

    #[test]
    fn round_trips_exactly() {
        let t = sample();
        let bytes = t.encode();
        let back = RevTree::decode(&bytes).unwrap();
        assert_eq!(back, t);
        assert_eq!(back.current(), Some(&rev("3-aa")));
        assert_eq!(back.encode(), bytes, "encoding is deterministic");
        assert_eq!(
            RevTree::decode(&RevTree::new().encode()).unwrap(),
            RevTree::new()
        );
    }

    #[test]
    fn encoding_is_the_documented_layout() {
        let t = sample();
        let expected = doc(
            vec![
                node("1-aa", 0, 0),
                node("2-aa", 1, 0),
                node("3-aa", 1, 2),
                node("3-bb", 2, 3),
            ],
            vec![Value::Array(vec![int(4), int(1)])],
        );
        assert_eq!(t.encode(), expected);
    }

    #[test]
    fn long_heads_and_indefinite_lengths_still_decode() {
        let t = sample();
        let bytes = t.encode();
        // The version as a one-byte argument (0x18 0x01) instead of an immediate.
        let mut long = vec![bytes[0], 0x18, 0x01];
        long.extend_from_slice(&bytes[2..]);
        assert_eq!(RevTree::decode(&long).unwrap(), t);
        // The top-level array with an indefinite length.
        let mut indefinite = vec![0x9f];
        indefinite.extend_from_slice(&bytes[1..]);
        indefinite.push(0xff);
        assert_eq!(RevTree::decode(&indefinite).unwrap(), t);
        assert!(decode_direct(&long).is_none() && decode_direct(&indefinite).is_none());
        assert!(decode_direct(&bytes).is_some());
    }

    #[test]
    fn rejects_unknown_versions() {
        let bytes = cbor(&Value::Array(vec![
            int(2),
            Value::Array(vec![]),
            Value::Array(vec![]),
        ]));
        assert_eq!(
            RevTree::decode(&bytes),
            Err(RevTreeError::UnsupportedVersion(2))
        );
    }

    #[test]
    fn rejects_malformed_structure() {
        assert!(is_corrupt(&[], "not CBOR"));
        assert!(is_corrupt(&[0xff], "not CBOR"));
        let mut trailing = RevTree::new().encode();
        trailing.push(0);
        assert!(is_corrupt(&trailing, "trailing"));
        assert!(is_corrupt(&cbor(&int(1)), "not an array"));
        assert!(is_corrupt(&cbor(&Value::Array(vec![])), "empty"));
        assert!(is_corrupt(
            &cbor(&Value::Array(vec![Value::Text("1".into())])),
            "version"
        ));
        assert!(is_corrupt(
            &cbor(&Value::Array(vec![int(1)])),
            "[version, nodes, remotes]"
        ));
        assert!(is_corrupt(
            &doc(vec![int(3)], vec![]),
            "node 0 is not an array"
        ));
        assert!(is_corrupt(
            &doc(vec![Value::Array(vec![])], vec![]),
            "[rev, parent, flags]"
        ));
        // Huge declared lengths fail on the missing bytes without allocating them.
        let huge = [0xff; 8];
        for major in [0x9b, 0x7b, 0x5b, 0xbb] {
            let bytes: Vec<u8> = [0x83, 0x01, major].iter().chain(&huge).copied().collect();
            assert!(is_corrupt(&bytes, "not CBOR"), "header {major:#x}");
        }
        let deep = (0..20).fold(int(0), |v, _| Value::Array(vec![v]));
        assert!(is_corrupt(&cbor(&deep), "not CBOR"), "nesting is bounded");
    }

    #[test]
    fn rejects_bad_nodes() {
        assert!(is_corrupt(&doc(vec![node("1-zz", 0, 0)], vec![]), "node 0"));
        assert!(is_corrupt(
            &doc(vec![node("1-aa", 1, 0)], vec![]),
            "before the first"
        ));
        assert!(is_corrupt(
            &doc(vec![node("1-aa", 0, 4)], vec![]),
            "unknown flags"
        ));
        assert!(is_corrupt(
            &doc(vec![node("1-aa", 0, 0), node("3-aa", 1, 0)], vec![]),
            "one generation after"
        ));
        assert!(is_corrupt(
            &doc(vec![node("1-aa", 0, 0), node("1-aa", 0, 0)], vec![]),
            "duplicate"
        ));
        let negative = doc(
            vec![Value::Array(vec![
                Value::Text("1-aa".into()),
                Value::Integer((-1).into()),
                int(0),
            ])],
            vec![],
        );
        assert!(is_corrupt(&negative, "unsigned"));
    }

    #[test]
    fn rejects_bad_remote_ancestors() {
        let one = vec![node("1-aa", 0, 2)];
        let remote = |id: u64, n: u64| Value::Array(vec![int(id), int(n)]);
        assert!(is_corrupt(
            &doc(one.clone(), vec![remote(1, 1)]),
            "out of range"
        ));
        assert!(is_corrupt(
            &doc(one.clone(), vec![remote(1 << 33, 0)]),
            "overflows"
        ));
        assert!(is_corrupt(
            &doc(one.clone(), vec![remote(2, 0), remote(1, 0)]),
            "out of order"
        ));
        assert!(is_corrupt(
            &doc(one.clone(), vec![remote(2, 0), remote(2, 0)]),
            "repeated"
        ));
        assert!(is_corrupt(&doc(one.clone(), vec![int(0)]), "not an array"));
        assert!(is_corrupt(
            &doc(one.clone(), vec![Value::Array(vec![int(0)])]),
            "[remote, node]"
        ));
        assert!(RevTree::decode(&doc(one, vec![remote(2, 0)])).is_ok());
    }
}
