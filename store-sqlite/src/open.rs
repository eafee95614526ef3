//! Opening a database file: checks first, writes after.
//!
//! 1. If the file exists, its first 100 bytes are read with plain file IO. A non-empty file
//!    without SQLite's magic string fails with [`StoreError::Corrupt`] (random bytes and a
//!    database whose header was destroyed look the same) before SQLite ever opens it. When no
//!    write-ahead log with frames sits beside it, the header's `application_id` and
//!    `user_version` are final, and a foreign or future one is refused right there.
//! 2. Otherwise the file is inspected through a connection opened with SQLite's read-only flag
//!    (which sees the write-ahead log): `application_id`, `user_version` and the number of
//!    schema objects. A SQLite file of another application, or one written by a newer schema,
//!    fails with [`StoreError::Incompatible`]. SQLite may create the empty `-wal` and `-shm`
//!    companions of a WAL-mode file while reading it, as any reader does; the database file
//!    itself is never written.
//!
//! In every refused case the file is left byte for byte as it was.
//! 3. Only then is the file opened read-write (or the read-only probe kept as the store's
//!    connection), switched to WAL mode, configured, and migrated to the current schema in one
//!    immediate transaction that checks the header again.

use std::io::Read;
use std::path::Path;

use ferry_engine::store::StoreError;
use rusqlite::{Connection, OpenFlags};

use crate::config::SqliteConfig;
use crate::error::{ctx, map};
use crate::schema::{self, PAGE_SIZE, SCHEMA_VERSION};

/// The size, in bytes, a write-ahead log is truncated to after a checkpoint.
const WAL_SIZE_LIMIT: i64 = 64 * 1024 * 1024;

/// Opens the store's connection as `config` says.
pub(crate) fn open_connection(config: &SqliteConfig) -> Result<Connection, StoreError> {
    let path = config.path.as_path();
    let exists = path.exists();
    if !exists && (config.read_only || !config.create_if_missing) {
        return Err(StoreError::Backend(format!(
            "no database at {} (and creating it was not asked for)",
            path.display()
        )));
    }
    let mut fresh = !exists;
    if exists {
        precheck_file(path)?;
        let probe = open_read_only(config)?;
        let header = schema::read_header(&probe).map_err(|e| explain(path, e))?;
        fresh = schema::check_header(header)?;
        if config.read_only {
            let version = header.user_version;
            if fresh || version != SCHEMA_VERSION {
                return Err(StoreError::Incompatible(format!(
                    "{} is at schema version {version}, not {SCHEMA_VERSION}; open it \
                     read-write once to initialise or migrate it",
                    path.display()
                )));
            }
            configure_common(&probe, config)?;
            return Ok(probe);
        }
        drop(probe);
    }
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    if config.create_if_missing {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let mut conn = Connection::open_with_flags(path, flags).map_err(ctx("opening the database"))?;
    conn.busy_timeout(config.busy_timeout_clamped())
        .map_err(ctx("setting the busy timeout"))?;
    if fresh {
        // Only effective before the first table is created.
        conn.pragma_update(None, "page_size", PAGE_SIZE)
            .map_err(ctx("setting the page size"))?;
    }
    let mode: String = conn
        .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
        .map_err(ctx("switching to WAL mode"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(StoreError::Backend(format!(
            "{} could not be switched to WAL mode (journal_mode is {mode})",
            path.display()
        )));
    }
    conn.pragma_update(None, "synchronous", config.synchronous.pragma_value())
        .map_err(ctx("setting synchronous"))?;
    // After a checkpoint, a write-ahead log grown by a huge batch is truncated to this size.
    conn.pragma_update(None, "journal_size_limit", WAL_SIZE_LIMIT)
        .map_err(ctx("setting journal_size_limit"))?;
    configure_common(&conn, config)?;
    schema::migrate(&mut conn)?;
    Ok(conn)
}

/// The checks of step 1: the raw header, read without SQLite.
fn precheck_file(path: &Path) -> Result<(), StoreError> {
    let io = |e: std::io::Error| StoreError::Backend(format!("reading {}: {e}", path.display()));
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut header = [0u8; 100];
    let mut len = 0;
    while len < header.len() {
        match file.read(&mut header[len..]) {
            Ok(0) => break,
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io(e)),
        }
    }
    if len == 0 {
        return Ok(()); // an empty file: a new database
    }
    if len < header.len() || &header[..16] != b"SQLite format 3\0" {
        return Err(StoreError::Corrupt(format!(
            "{} is not a Ferry database: it is not a SQLite file, or its header is destroyed; \
             it was not modified",
            path.display()
        )));
    }
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    let wal_has_frames = std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0);
    if !wal_has_frames {
        let field = |at: usize| {
            i32::from_be_bytes([header[at], header[at + 1], header[at + 2], header[at + 3]])
        };
        let (user_version, application_id) = (field(60), field(68));
        if application_id != 0 {
            schema::check_header(schema::Header {
                application_id,
                user_version,
                schema_objects: 1,
            })?;
        }
    }
    Ok(())
}

/// Opens an extra read-only connection on an existing, current database (for readers).
pub(crate) fn open_reader(config: &SqliteConfig) -> Result<Connection, StoreError> {
    let conn = open_read_only(config)?;
    let header = schema::read_header(&conn).map_err(|e| explain(&config.path, e))?;
    if schema::check_header(header)? || header.user_version != SCHEMA_VERSION {
        return Err(StoreError::Incompatible(format!(
            "{} is not an initialised Ferry database of schema version {SCHEMA_VERSION}",
            config.path.display()
        )));
    }
    configure_common(&conn, config)?;
    Ok(conn)
}

fn open_read_only(config: &SqliteConfig) -> Result<Connection, StoreError> {
    let conn = Connection::open_with_flags(
        &config.path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(ctx("opening the database read-only"))?;
    conn.busy_timeout(config.busy_timeout_clamped())
        .map_err(ctx("setting the busy timeout"))?;
    Ok(conn)
}

/// Settings of every connection: statement cache, page cache, size limit.
fn configure_common(conn: &Connection, config: &SqliteConfig) -> Result<(), StoreError> {
    conn.set_prepared_statement_cache_capacity(32);
    // A negative cache_size is a size in KiB.
    conn.pragma_update(None, "cache_size", -i64::from(config.cache_size_kib))
        .map_err(ctx("setting the cache size"))?;
    if let Some(pages) = config.max_page_count {
        conn.pragma_update(None, "max_page_count", pages)
            .map_err(ctx("setting max_page_count"))?;
    }
    Ok(())
}

/// Makes "file is not a database" name the file and say what was (not) done.
fn explain(path: &Path, err: StoreError) -> StoreError {
    match err {
        StoreError::Corrupt(message) => StoreError::Corrupt(format!(
            "{} is not a Ferry database: it is not a readable SQLite file, or its header is \
             corrupt; it was not modified ({message})",
            path.display()
        )),
        other => other,
    }
}

/// Maps an error of `PRAGMA integrity_check` / `quick_check` output rows.
pub(crate) fn integrity_check(conn: &Connection) -> Result<(), StoreError> {
    let mut stmt = conn
        .prepare("PRAGMA integrity_check")
        .map_err(ctx("checking integrity"))?;
    let rows: Vec<String> = stmt
        .query_map([], |r| r.get(0))
        .map_err(ctx("checking integrity"))?
        .collect::<Result<_, _>>()
        .map_err(|e| map("checking integrity", e))?;
    if rows.len() == 1 && rows[0] == "ok" {
        Ok(())
    } else {
        Err(StoreError::Corrupt(format!(
            "integrity check failed: {}",
            rows.join("; ")
        )))
    }
}
