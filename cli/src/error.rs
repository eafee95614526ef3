//! What a command fails with, the message a user can act on, and the exit code.

use std::path::PathBuf;
use std::process::ExitCode;

use ferry_engine::db::DbError;
use ferry_engine::repl::ConnectionError;
use ferry_engine::store::StoreError;
use ferry_tokio::Error as DriverError;

/// The exit codes (see `ferry --help`).
pub(crate) mod code {
    /// A local error: the database, a file, a document, JSON, a port.
    pub(crate) const LOCAL: u8 = 1;
    /// A usage error (also clap's code).
    pub(crate) const USAGE: u8 = 2;
    /// A permanent replication failure: credentials, certificate, protocol, documents refused.
    pub(crate) const PERMANENT: u8 = 3;
    /// A transient replication failure the replicator gave up on.
    pub(crate) const GAVE_UP: u8 = 4;
    /// A one-shot replication interrupted with Ctrl-C.
    pub(crate) const INTERRUPTED: u8 = 130;
}

/// Why a command failed. Each variant maps to one exit code ([`CliError::exit_code`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub(crate) enum CliError {
    /// The arguments are unusable in a way clap cannot check.
    #[error("{0}")]
    Usage(String),
    /// The database file could not be opened or used.
    #[error("cannot open the database {}: {}{}", path.display(), open_detail(source), open_hint(source))]
    Open {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: DriverError,
    },
    /// The database file does not exist (and the command does not create it).
    #[error("no database at {}: check --db (`ferry put` or `ferry sync` create one)", .0.display())]
    NoDatabase(PathBuf),
    /// A database operation failed.
    #[error("{0}")]
    Database(#[from] DriverError),
    /// The document does not exist (or is deleted).
    #[error("document {0:?} not found")]
    NotFound(String),
    /// Text that should be JSON (or a revision ID, a fingerprint) is not.
    #[error("invalid input: {0}")]
    Invalid(String),
    /// A file (password, users, certificates) could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What failed.
        source: std::io::Error,
    },
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Output(#[from] std::io::Error),
    /// The listener could not start.
    #[error("{0}")]
    Listen(String),
    /// The replicator stopped with an error.
    #[error(
        "replication failed ({attempts} connection attempt(s)): {error}{}",
        replication_hint(error)
    )]
    Replication {
        /// The error.
        error: ConnectionError,
        /// How many connection attempts were made.
        attempts: u32,
    },
    /// The replication finished, but some documents could not be replicated.
    #[error("{count} document(s) could not be replicated; the first, {first}")]
    DocumentsFailed {
        /// How many.
        count: u64,
        /// The first one's ID and why.
        first: String,
    },
    /// A one-shot replication was interrupted (Ctrl-C).
    #[error("interrupted")]
    Interrupted,
}

impl CliError {
    /// The process exit code (see `ferry --help`).
    pub(crate) fn exit_code(&self) -> ExitCode {
        ExitCode::from(match self {
            CliError::Usage(_) => code::USAGE,
            CliError::Replication { error, .. } if error.is_transient() => code::GAVE_UP,
            CliError::Replication { .. } | CliError::DocumentsFailed { .. } => code::PERMANENT,
            CliError::Interrupted => code::INTERRUPTED,
            _ => code::LOCAL,
        })
    }

    /// A database error, with "not found" told apart.
    pub(crate) fn db(error: DriverError, doc_id: &str) -> CliError {
        match error {
            DriverError::Database(DbError::NotFound(_)) => CliError::NotFound(doc_id.to_owned()),
            other => CliError::Database(other),
        }
    }
}

/// Why a store refused to open: the store's own words when it has them.
fn open_detail(error: &DriverError) -> String {
    match error {
        DriverError::Database(DbError::Store(store)) => store.to_string(),
        other => other.to_string(),
    }
}

/// What to do about a store that refused to open.
fn open_hint(error: &DriverError) -> &'static str {
    match error {
        DriverError::Database(DbError::Store(
            StoreError::Corrupt(_) | StoreError::Incompatible(_),
        )) => {
            "\nhint: --db must name a database made by Ferry (`ferry put` or `ferry sync` create one)"
        }
        DriverError::Database(DbError::Store(StoreError::Busy(_))) => {
            "\nhint: another process holds the database locked; try again"
        }
        _ => "",
    }
}

/// What to do about a replication failure.
fn replication_hint(error: &ConnectionError) -> String {
    let hint = match error {
        ConnectionError::Http(401) => {
            "wrong user name or password (check --user and the password source)"
        }
        ConnectionError::Http(403) => {
            "the listener refused these credentials or this client certificate"
        }
        ConnectionError::Http(404) => {
            "the listener serves no database by that name: check the URL's path"
        }
        ConnectionError::Tls(reason) if reason.contains("pinned") => {
            "the server's certificate is not the pinned one (above: the presented fingerprint, then the expected one); if its identity changed on purpose, pin the new fingerprint that `ferry serve` prints"
        }
        ConnectionError::Tls(_) => {
            "the server's certificate was not trusted: use --pin with the fingerprint `ferry serve` prints, --self-signed-only, or --ca"
        }
        e if e.is_transient() => {
            "the listener could not be reached; is `ferry serve` running at that address?"
        }
        _ => return String::new(),
    };
    format!("\nhint: {hint}")
}
