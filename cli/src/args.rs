//! The command line: every command, option and `--help` text (clap derive).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The exit codes, as `--help` lists them (a macro so `concat!` can join it to examples).
macro_rules! exit_codes {
    () => {
        "Exit codes:
  0    success (also: `serve`, or `sync --continuous`, stopped with Ctrl-C)
  1    local error: the database (missing, not a Ferry database, locked), a document not
       found, invalid JSON, a file that cannot be read, a port already in use
  2    usage error: unknown or missing arguments, a missing password source
  3    permanent replication failure: wrong user name or password (HTTP 401/403),
       certificate rejected (pin mismatch: the message shows the expected and the presented
       fingerprints), no such database on the listener (HTTP 404), protocol error, a
       read-only listener refusing a push, documents that could not be replicated
  4    transient replication failure, given up: the listener stayed unreachable (refused,
       reset, timed out, busy) for every attempt (see `sync --max-attempts`)
  130  a one-shot `sync` interrupted with Ctrl-C (its checkpoint is saved)"
    };
}

/// `ferry`: serve, sync and inspect Ferry databases (SQLite files) from the shell.
#[derive(Debug, Parser)]
#[command(name = "ferry", version, about, long_about = None)]
#[command(after_help = MAIN_HELP)]
pub(crate) struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// `ferry --help`'s epilogue.
const MAIN_HELP: &str = concat!(
    "Examples:
  # terminal 1: serve a database over TLS to one user
  FERRY_PASSWORD=s3cret ferry serve --db server.ferry --port 4984 \\
      --user alice --password-env FERRY_PASSWORD
  # terminal 2: push and pull, pinning the fingerprint `serve` printed
  FERRY_PASSWORD=s3cret ferry sync wss://127.0.0.1:4984/server --db local.ferry \\
      --user alice --password-env FERRY_PASSWORD --pin sha256/<fingerprint>
  echo '{\"title\": \"hello\"}' | ferry put --db local.ferry note1
  ferry get --db local.ferry note1

",
    exit_codes!()
);

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Serve a database to replicators (a listener) until Ctrl-C.
    Serve(ServeArgs),
    /// Replicate a local database with a listener: push, pull or both, once or continuously.
    Sync(SyncArgs),
    /// Save a document: the body is a JSON object on stdin; prints the new revision ID.
    Put(PutArgs),
    /// Print a document's body (JSON) on stdout.
    Get(GetArgs),
    /// Delete a document (saves a tombstone that replicates); prints the tombstone's revision.
    Delete(DeleteArgs),
    /// List document IDs, one a line (or JSON lines with --json).
    Ls(LsArgs),
    /// Print the changes feed as JSON lines: one per document, at its latest sequence.
    Changes(ChangesArgs),
    /// List conflicted documents as JSON lines, with their conflicting revisions.
    #[command(after_help = "\
Examples:
  ferry conflicts --db notes.ferry   # {\"id\", \"rev\" (the winner), \"conflicts\": [revs]}

Replication resolves conflicts it pulls; a database edited by other means may keep some.")]
    Conflicts(DbArg),
    /// Print a database's path, UUID, document count, last sequence and schema version (JSON).
    #[command(after_help = "\
Examples:
  ferry info --db notes.ferry

\"documents\" counts deleted documents (tombstones) too.")]
    Info(DbArg),
}

/// The database file every command takes.
#[derive(Debug, Args)]
pub(crate) struct DbArg {
    /// The database file (SQLite).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: PathBuf,
}

/// A password read from a file or an environment variable, never from the command line
/// (which other users can see in the process list).
#[derive(Debug, Args, Clone, Default)]
pub(crate) struct PasswordSource {
    /// Read the password from this file (its first line).
    #[arg(long, value_name = "FILE", conflicts_with = "password_env")]
    pub(crate) password_file: Option<PathBuf>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR")]
    pub(crate) password_env: Option<String>,
}

/// `ferry serve`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  ferry serve --db notes.ferry                          # TLS, anonymous identity, no auth
  ferry serve --db notes.ferry --port 4984 --interface 127.0.0.1 \\
      --user alice --password-file alice.pass            # one user
  ferry serve --db notes.ferry --users-file users.txt   # `name:password` lines
  ferry serve --db notes.ferry --cert server.pem --key server.key --client-cert-roots ca.pem
  ferry serve --db notes.ferry --no-tls --read-only

Prints (stdout) the URL replicators use and the TLS certificate's SHA-256 fingerprint, which
`ferry sync --pin` takes; then a live status line on stderr (when it is a terminal).
Ctrl-C (or SIGTERM) closes every connection and exits 0.
Exit codes: 0 stopped, 1 cannot serve (port in use, database or identity unusable), 2 usage.")]
pub(crate) struct ServeArgs {
    /// The database file (SQLite; created if missing).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: PathBuf,
    /// The database's name in URLs (`wss://host:port/<name>`); default: the file name
    /// without its extension.
    #[arg(long)]
    pub(crate) name: Option<String>,
    /// The TCP port; 0 picks a free one.
    #[arg(long, short, default_value_t = 0)]
    pub(crate) port: u16,
    /// The network interface: an IP address (`127.0.0.1`, `::1`) or a name (`lo`); default:
    /// every IPv4 interface.
    #[arg(long, value_name = "IP|NAME")]
    pub(crate) interface: Option<String>,
    /// Serve plain `ws://` (no TLS).
    #[arg(long, conflicts_with_all = ["identity_dir", "cert", "key", "client_cert_roots"])]
    pub(crate) no_tls: bool,
    /// Where the anonymous self-signed identity is kept (created on first use, reused after);
    /// default `$HOME/.ferry/identities`.
    #[arg(long, value_name = "DIR", conflicts_with = "cert")]
    pub(crate) identity_dir: Option<PathBuf>,
    /// The TLS certificate chain (PEM, leaf first) instead of the anonymous identity.
    #[arg(long, value_name = "FILE", requires = "key")]
    pub(crate) cert: Option<PathBuf>,
    /// The TLS certificate's private key (PEM).
    #[arg(long, value_name = "FILE", requires = "cert")]
    pub(crate) key: Option<PathBuf>,
    /// Require this user (HTTP Basic); its password comes from --password-file or
    /// --password-env.
    #[arg(long, value_name = "NAME", conflicts_with = "client_cert_roots")]
    pub(crate) user: Option<String>,
    /// The password of --user.
    #[command(flatten)]
    pub(crate) password: PasswordSource,
    /// Users and passwords, one `name:password` a line (`#` starts a comment line).
    #[arg(long, value_name = "FILE", conflicts_with = "client_cert_roots")]
    pub(crate) users_file: Option<PathBuf>,
    /// Require a TLS client certificate issued by one of these roots (PEM).
    #[arg(long, value_name = "FILE")]
    pub(crate) client_cert_roots: Option<PathBuf>,
    /// Refuse pushes (pullers are served).
    #[arg(long)]
    pub(crate) read_only: bool,
    /// Offer delta sync (revisions travel as JSON deltas when that is smaller).
    #[arg(long)]
    pub(crate) delta: bool,
}

/// `ferry sync`.
#[derive(Debug, Args)]
#[command(after_help = concat!("\
Examples:
  ferry sync wss://192.168.1.20:4984/notes --db local.ferry --pin sha256/3f5a...   # push and pull
  ferry sync wss://host:4984/notes --db local.ferry --pull --self-signed-only
  FERRY_PASSWORD=s3cret ferry sync wss://host:4984/notes --db local.ferry --continuous \\
      --user alice --password-env FERRY_PASSWORD --pin sha256/3f5a...
  ferry sync ws://127.0.0.1:4984/notes --db local.ferry --push --doc-id a --doc-id b --reset

A one-shot run shows a progress bar, a continuous one a status line (both on stderr, when it
is a terminal); the summary (documents, documents/s, conflicts resolved) goes to stderr, or
to stdout as JSON with --json. Ctrl-C stops cleanly, saving the checkpoint.

", exit_codes!()))]
pub(crate) struct SyncArgs {
    /// The listener's URL: `wss://host:port/<db>` (or `ws://` without TLS).
    pub(crate) url: String,
    /// The local database file (SQLite; created if missing).
    #[arg(long, value_name = "PATH")]
    pub(crate) db: PathBuf,
    /// Push local changes (with --pull: both, the default).
    #[arg(long)]
    pub(crate) push: bool,
    /// Pull the listener's changes (with --push: both, the default).
    #[arg(long)]
    pub(crate) pull: bool,
    /// Keep replicating live changes until Ctrl-C (retrying transient failures forever).
    #[arg(long)]
    pub(crate) continuous: bool,
    /// The user name (HTTP Basic); the password comes from --password-file or --password-env.
    #[arg(long, value_name = "NAME")]
    pub(crate) user: Option<String>,
    /// The password of --user.
    #[command(flatten)]
    pub(crate) password: PasswordSource,
    /// Trust only the server certificate with this SHA-256 fingerprint (as `serve` prints it:
    /// `sha256/<64 hex digits>`, or colon-separated hex).
    #[arg(long, value_name = "FINGERPRINT", conflicts_with_all = ["self_signed_only", "ca"])]
    pub(crate) pin: Option<String>,
    /// Trust any self-signed server certificate (and refuse CA-signed ones).
    #[arg(long, conflicts_with = "ca")]
    pub(crate) self_signed_only: bool,
    /// Trust server certificates issued by these roots (PEM).
    #[arg(long, value_name = "FILE")]
    pub(crate) ca: Option<PathBuf>,
    /// Replicate only this document (repeat for more).
    #[arg(long = "doc-id", value_name = "ID")]
    pub(crate) doc_ids: Vec<String>,
    /// Start from scratch instead of the saved checkpoint.
    #[arg(long)]
    pub(crate) reset: bool,
    /// Connection attempts before giving up on transient failures (default: 10 one-shot,
    /// unlimited continuous).
    #[arg(long, value_name = "N")]
    pub(crate) max_attempts: Option<u32>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `ferry put`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  echo '{\"title\": \"hello\"}' | ferry put --db notes.ferry note1
  ferry put --db notes.ferry note1 --rev 1-7c3e... < note1.json   # only if still at 1-7c3e...

Prints the new revision ID. Without --rev the document is created, or updated from its current
revision. Exit codes: 0 saved, 1 invalid JSON, not an object, stale --rev (conflict), database
error.")]
pub(crate) struct PutArgs {
    /// The document, and the revision the edit must be based on.
    #[command(flatten)]
    pub(crate) doc: DocArgs,
}

/// A document in a database, and optionally one of its revisions.
#[derive(Debug, Args)]
pub(crate) struct DocArgs {
    /// The database.
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// The document ID.
    pub(crate) id: String,
    /// The revision: `get` reads it instead of the current one; `put` and `delete` succeed
    /// only while it is still the current one (optimistic concurrency).
    #[arg(long, value_name = "REV")]
    pub(crate) rev: Option<String>,
}

/// `ferry get`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  ferry get --db notes.ferry note1
  ferry get --db notes.ferry note1 --meta          # {\"id\", \"rev\", \"seq\", ..., \"body\"}
  ferry get --db notes.ferry note1 --rev 1-7c3e... # an older or deleted revision, if kept

Exit codes: 0 found, 1 not found (or deleted) or database error.")]
pub(crate) struct GetArgs {
    /// The document, and the revision to read.
    #[command(flatten)]
    pub(crate) doc: DocArgs,
    /// Print the revision's metadata with the body: `{"id", "rev", "seq", "deleted",
    /// "conflicted", "body"}`.
    #[arg(long)]
    pub(crate) meta: bool,
}

/// `ferry delete`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  ferry delete --db notes.ferry note1
  ferry delete --db notes.ferry note1 --rev 2-9ab0...

Exit codes: 0 deleted, 1 not found, stale --rev (conflict) or database error.")]
pub(crate) struct DeleteArgs {
    /// The document, and the revision that must still be current.
    #[command(flatten)]
    pub(crate) doc: DocArgs,
}

/// `ferry ls`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  ferry ls --db notes.ferry
  ferry ls --db notes.ferry --json --deleted   # lines as `ferry changes` prints them

Documents are listed in the order of their last change.")]
pub(crate) struct LsArgs {
    /// The database.
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// One JSON object a line, with the revision and flags.
    #[arg(long)]
    pub(crate) json: bool,
    /// Include deleted documents.
    #[arg(long)]
    pub(crate) deleted: bool,
}

/// `ferry changes`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  ferry changes --db notes.ferry
  ferry changes --db notes.ferry --since 42 --limit 10

Each line: {\"seq\", \"id\", \"rev\", \"deleted\", \"conflicted\", \"size\"}; pass the last
\"seq\" as --since to continue.")]
pub(crate) struct ChangesArgs {
    /// The database.
    #[command(flatten)]
    pub(crate) db: DbArg,
    /// Only changes after this sequence.
    #[arg(long, default_value_t = 0)]
    pub(crate) since: u64,
    /// At most this many changes.
    #[arg(long)]
    pub(crate) limit: Option<usize>,
}
