//! The conformance suite every [`super::Store`] implementation runs.
