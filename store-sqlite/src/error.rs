//! Mapping SQLite failures onto [`StoreError`].
//!
//! Every rusqlite error leaving this crate goes through one mapping function, so the engine and the adapters
//! see the same typed variants whatever the backend:
//!
//! | SQLite                                   | [`StoreError`]        |
//! |------------------------------------------|-----------------------|
//! | `SQLITE_FULL` (disk or `max_page_count`) | [`StoreError::Full`]     |
//! | `SQLITE_READONLY`                        | [`StoreError::ReadOnly`] |
//! | `SQLITE_BUSY`, `SQLITE_LOCKED`           | [`StoreError::Busy`]     |
//! | `SQLITE_CORRUPT`, `SQLITE_NOTADB`        | [`StoreError::Corrupt`]  |
//! | a row that does not decode               | [`StoreError::Corrupt`]  |
//! | anything else                            | [`StoreError::Backend`]  |
//!
//! "Not a Ferry database" and "written by a newer schema" are decided by the opening code
//! ([`crate::open`]) and reported as [`StoreError::Incompatible`].

use ferry_engine::store::{Sequence, StoreError};
use rusqlite::ErrorCode;

/// Maps a rusqlite error met while doing `context` (e.g. "applying a batch").
pub(crate) fn map(context: &str, err: rusqlite::Error) -> StoreError {
    let message = format!("{context}: {err}");
    match &err {
        rusqlite::Error::SqliteFailure(failure, _) => match failure.code {
            ErrorCode::DiskFull => StoreError::Full(message),
            ErrorCode::ReadOnly => StoreError::ReadOnly(message),
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => StoreError::Busy(message),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => StoreError::Corrupt(message),
            _ => StoreError::Backend(message),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::IntegralValueOutOfRange(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(..) => StoreError::Corrupt(message),
        _ => StoreError::Backend(message),
    }
}

/// A closure for `map_err` that maps with [`map`].
pub(crate) fn ctx(context: &'static str) -> impl Fn(rusqlite::Error) -> StoreError {
    move |err| map(context, err)
}

/// A sequence as SQLite stores it (a signed 64-bit integer).
pub(crate) fn seq_to_sql(sequence: Sequence) -> Result<i64, StoreError> {
    i64::try_from(sequence)
        .map_err(|_| StoreError::Backend(format!("sequence {sequence} exceeds SQLite's range")))
}

/// A sequence read from SQLite; a negative one is corrupt data.
pub(crate) fn seq_from_sql(value: i64, what: &str) -> Result<Sequence, StoreError> {
    Sequence::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("negative sequence {value} in {what}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn failure(code: i32) -> rusqlite::Error {
        rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(code), None)
    }

    #[test]
    fn sqlite_codes_map_to_typed_errors() {
        use rusqlite::ffi;
        assert!(matches!(
            map("x", failure(ffi::SQLITE_FULL)),
            StoreError::Full(_)
        ));
        assert!(matches!(
            map("x", failure(ffi::SQLITE_READONLY)),
            StoreError::ReadOnly(_)
        ));
        assert!(matches!(
            map("x", failure(ffi::SQLITE_BUSY)),
            StoreError::Busy(_)
        ));
        assert!(matches!(
            map("x", failure(ffi::SQLITE_LOCKED)),
            StoreError::Busy(_)
        ));
        assert!(matches!(
            map("x", failure(ffi::SQLITE_CORRUPT)),
            StoreError::Corrupt(_)
        ));
        assert!(matches!(
            map("x", failure(ffi::SQLITE_NOTADB)),
            StoreError::Corrupt(_)
        ));
        assert!(matches!(
            map("x", failure(ffi::SQLITE_IOERR)),
            StoreError::Backend(_)
        ));
        let err = map("reading", failure(ffi::SQLITE_BUSY));
        assert!(
            err.to_string().contains("reading"),
            "the context is kept: {err}"
        );
    }

    #[test]
    fn sequences_convert_with_range_checks() {
        assert_eq!(seq_to_sql(7).unwrap(), 7);
        assert!(seq_to_sql(u64::MAX).is_err());
        assert_eq!(seq_from_sql(7, "t").unwrap(), 7);
        assert!(matches!(seq_from_sql(-1, "t"), Err(StoreError::Corrupt(_))));
    }
}
