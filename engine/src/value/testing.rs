//! proptest strategies for [`Value`], shared by every unit-test module of the crate.
//!
//! Compiled only for the crate's own tests (`#[cfg(test)]`). Use from any module:
//!
//! ```ignore
//! use crate::value::testing::arb_value;
//! proptest! { #[test] fn my_property(v in arb_value()) { /* ... */ } }
//! ```

use proptest::prelude::*;

use super::{Map, Number, Value};

/// Any finite float, biased towards the interesting ones (±0, integral, binary16/32 exact,
/// subnormal, extremes).
pub(crate) fn arb_finite_f64() -> impl Strategy<Value = f64> {
    prop_oneof![
        Just(0.0),
        Just(-0.0),
        Just(1.0),
        Just(f64::MAX),
        Just(f64::MIN_POSITIVE),
        Just(5e-324),
        Just(65504.0),
        Just(5.960464477539063e-8),
        (-1000i32..1000).prop_map(f64::from),
        any::<f32>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(f64::from),
        any::<u16>()
            .prop_map(super::cbor::f16_to_f64)
            .prop_filter("finite", |f| f.is_finite()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
    ]
}

/// Any number: `i64`, `u64` above `i64::MAX`, small integers, or a finite float.
pub(crate) fn arb_number() -> impl Strategy<Value = Number> {
    prop_oneof![
        any::<i64>().prop_map(Number::from_i64),
        any::<u64>().prop_map(Number::from_u64),
        (-30i64..30).prop_map(Number::from_i64),
        Just(Number::from_i64(i64::MIN)),
        Just(Number::from_u64(u64::MAX)),
        arb_finite_f64().prop_filter_map("finite", |f| Number::from_f64(f).ok()),
    ]
}

/// A scalar: null, a bool, a number or a unicode string.
pub(crate) fn arb_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        arb_number().prop_map(Value::Number),
        "\\PC{0,12}".prop_map(Value::String),
        any::<String>().prop_map(Value::String),
    ]
}

/// Map keys: short unicode strings, some of differing lengths so encoded-key order differs
/// from byte order.
pub(crate) fn arb_key() -> impl Strategy<Value = String> {
    prop_oneof!["[a-c]{0,3}", "\\PC{0,6}", any::<String>()]
}

/// Any value, nested up to 4 levels, at most ~64 nodes.
pub(crate) fn arb_value() -> impl Strategy<Value = Value> {
    arb_scalar().prop_recursive(4, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(arb_key(), inner, 0..8)
                .prop_map(|m: Map| Value::Object(m)),
        ]
    })
}
