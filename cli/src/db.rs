//! Opening a database file for a command.

use std::path::Path;

use ferry_engine::db::Database as Db;
use ferry_store_sqlite::{SqliteConfig, SqliteStore};
use ferry_tokio::{Database, Error as DriverError};

use crate::error::CliError;

/// How a command uses its database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// Reads only; the file must exist (opened with SQLite's read-only flag, so reading a
    /// database another process serves or syncs is safe).
    Read,
    /// Writes; the file must exist.
    Write,
    /// Writes; a missing file becomes a new, empty database.
    Create,
}

/// Opens the database at `path` on its store thread, named `name` (its name in listener URLs).
pub(crate) fn open(path: &Path, name: &str, access: Access) -> Result<Database, CliError> {
    if access != Access::Create && !path.exists() {
        return Err(CliError::NoDatabase(path.to_owned()));
    }
    let open_error = |source: DriverError| CliError::Open {
        path: path.to_owned(),
        source,
    };
    let store = SqliteConfig::new(path)
        .read_only(access == Access::Read)
        .open()
        .map_err(|e| open_error(DriverError::Database(e.into())))?;
    Database::open_store(name, store).map_err(open_error)
}

/// Runs `f` with the database on its store thread.
pub(crate) async fn with<T: Send + 'static>(
    db: &Database,
    f: impl FnOnce(&mut Db<SqliteStore>) -> T + Send + 'static,
) -> Result<T, CliError> {
    Ok(db.with::<SqliteStore, _>(f).await?)
}
