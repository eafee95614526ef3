//! [`Number`]: an integer over the whole `i64` and `u64` range, or a finite `f64`.

use std::fmt;
use std::hash::{Hash, Hasher};

use super::ValueError;

/// A number of the data model: an integer in `i64::MIN..=u64::MAX`, or a finite `f64`.
///
/// Each number has exactly one representation: integers that fit in an `i64` are stored as
/// one, larger ones as a `u64`; floats are finite (NaN and ±infinity cannot be built) and keep
/// their sign, so `-0.0` is not `0.0`. An integer is never equal to a float: `1` and `1.0` are
/// distinct values (they encode differently and give different revision IDs).
#[derive(Clone, Copy)]
pub struct Number(pub(super) N);

/// The private representation, normalised as documented on [`Number`].
#[derive(Clone, Copy, Debug)]
pub(super) enum N {
    /// Any integer that fits in an `i64`.
    Int(i64),
    /// An integer above `i64::MAX`.
    UInt(u64),
    /// A finite float.
    Float(f64),
}

impl Number {
    /// The integer `n`.
    pub const fn from_i64(n: i64) -> Self {
        Number(N::Int(n))
    }

    /// The integer `n` (stored as an `i64` when it fits).
    pub const fn from_u64(n: u64) -> Self {
        if n <= i64::MAX as u64 {
            Number(N::Int(n as i64))
        } else {
            Number(N::UInt(n))
        }
    }

    /// The float `f`, or [`ValueError::NonFiniteFloat`] if it is NaN or infinite.
    pub fn from_f64(f: f64) -> Result<Self, ValueError> {
        if f.is_finite() {
            Ok(Number(N::Float(f)))
        } else {
            Err(ValueError::NonFiniteFloat)
        }
    }

    /// Whether this is an integer (not a float, even an integral one such as `1.0`).
    pub fn is_integer(&self) -> bool {
        !self.is_float()
    }

    /// Whether this is a float.
    pub fn is_float(&self) -> bool {
        matches!(self.0, N::Float(_))
    }

    /// The integer, if this is an integer that fits in an `i64`.
    pub fn as_i64(&self) -> Option<i64> {
        match self.0 {
            N::Int(n) => Some(n),
            _ => None,
        }
    }

    /// The integer, if this is a non-negative integer.
    pub fn as_u64(&self) -> Option<u64> {
        match self.0 {
            N::Int(n) => u64::try_from(n).ok(),
            N::UInt(n) => Some(n),
            N::Float(_) => None,
        }
    }

    /// The float, if this is a float (integers give `None`; see [`Number::to_f64_lossy`]).
    pub fn as_f64(&self) -> Option<f64> {
        match self.0 {
            N::Float(f) => Some(f),
            _ => None,
        }
    }

    /// The nearest `f64` to this number, whatever its kind (large integers lose precision).
    pub fn to_f64_lossy(&self) -> f64 {
        match self.0 {
            N::Int(n) => n as f64,
            N::UInt(n) => n as f64,
            N::Float(f) => f,
        }
    }
}

impl PartialEq for Number {
    fn eq(&self, other: &Self) -> bool {
        match (self.0, other.0) {
            (N::Int(a), N::Int(b)) => a == b,
            (N::UInt(a), N::UInt(b)) => a == b,
            // Bit equality: finite floats only, and -0.0 differs from 0.0.
            (N::Float(a), N::Float(b)) => a.to_bits() == b.to_bits(),
            _ => false,
        }
    }
}

impl Eq for Number {}

impl Hash for Number {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self.0 {
            N::Int(n) => (0u8, n).hash(state),
            N::UInt(n) => (1u8, n).hash(state),
            N::Float(f) => (2u8, f.to_bits()).hash(state),
        }
    }
}

impl fmt::Debug for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            N::Int(n) => write!(f, "Int({n})"),
            N::UInt(n) => write!(f, "UInt({n})"),
            N::Float(x) => write!(f, "Float({x:?})"),
        }
    }
}

/// Writes the number as JSON does: integers plainly, floats always with a `.` or an exponent.
impl fmt::Display for Number {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            N::Int(n) => write!(f, "{n}"),
            N::UInt(n) => write!(f, "{n}"),
            // `{:?}` keeps the distinguishing `.0` (and `-0.0`).
            N::Float(x) => write!(f, "{x:?}"),
        }
    }
}

macro_rules! from_int {
    ($($t:ty => $via:ident),*) => {$(
        impl From<$t> for Number {
            fn from(n: $t) -> Self {
                Number::$via(n.into())
            }
        }
    )*};
}
from_int!(i8 => from_i64, i16 => from_i64, i32 => from_i64, i64 => from_i64,
          u8 => from_u64, u16 => from_u64, u32 => from_u64, u64 => from_u64);

impl TryFrom<f64> for Number {
    type Error = ValueError;
    fn try_from(f: f64) -> Result<Self, ValueError> {
        Number::from_f64(f)
    }
}

impl TryFrom<f32> for Number {
    type Error = ValueError;
    fn try_from(f: f32) -> Result<Self, ValueError> {
        Number::from_f64(f64::from(f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_have_one_representation() {
        assert_eq!(Number::from_u64(5), Number::from_i64(5));
        assert!(matches!(
            Number::from_u64(i64::MAX as u64).0,
            N::Int(i64::MAX)
        ));
        assert!(matches!(
            Number::from_u64(i64::MAX as u64 + 1).0,
            N::UInt(_)
        ));
        assert_eq!(Number::from_u64(u64::MAX).as_u64(), Some(u64::MAX));
        assert_eq!(Number::from_u64(u64::MAX).as_i64(), None);
        assert_eq!(Number::from_i64(-1).as_u64(), None);
    }

    #[test]
    fn floats_are_finite_signed_and_distinct_from_integers() {
        assert_eq!(Number::from_f64(f64::NAN), Err(ValueError::NonFiniteFloat));
        assert_eq!(
            Number::from_f64(f64::INFINITY),
            Err(ValueError::NonFiniteFloat)
        );
        assert_eq!(
            Number::try_from(f32::NEG_INFINITY),
            Err(ValueError::NonFiniteFloat)
        );
        let one_f = Number::from_f64(1.0).unwrap();
        assert_ne!(one_f, Number::from_i64(1));
        assert_ne!(
            Number::from_f64(-0.0).unwrap(),
            Number::from_f64(0.0).unwrap()
        );
        assert_eq!(one_f.as_f64(), Some(1.0));
        assert_eq!(one_f.as_i64(), None);
        assert_eq!(Number::from_i64(3).to_f64_lossy(), 3.0);
        assert_eq!(one_f.to_string(), "1.0");
        assert_eq!(Number::from_f64(-0.0).unwrap().to_string(), "-0.0");
        assert_eq!(
            Number::from_u64(u64::MAX).to_string(),
            "18446744073709551615"
        );
    }
}
