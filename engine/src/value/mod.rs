//! The document data model: [`Value`], its JSON and deterministic CBOR encodings.
