//! # ferry: serve, sync and inspect Ferry databases from the shell
//!
//! A thin command-line program over `ferry-tokio` (listener, replicator) and
//! `ferry-store-sqlite` (the database files):
//!
//! - `ferry serve --db PATH`: a listener (TLS by default, password or client-certificate
//!   authentication), printing its URL and certificate fingerprint, until Ctrl-C;
//! - `ferry sync URL --db PATH`: a replicator (push, pull or both, once or continuously,
//!   pinning the listener's fingerprint), with a progress bar and a summary;
//! - `ferry put | get | delete | ls | changes | conflicts | info --db PATH`: documents as JSON
//!   on stdin and stdout, for scripts.
//!
//! Every command explains itself with `--help`; exit codes distinguish local errors (1), usage
//! errors (2), permanent replication failures (3) and transient ones given up on (4).

// A command-line program talks on stdout (data) and stderr (status, errors): the workspace's
// print lints guard libraries, not this binary.
#![allow(clippy::print_stdout, clippy::print_stderr)]
#![forbid(unsafe_code)]

mod args;
mod db;
mod error;
mod local;
mod secret;
mod serve;
mod signals;
mod sync;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::{Cli, Command};
use error::CliError;

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(error::code::LOCAL);
        }
    };
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let result = runtime.block_on(run(cli.command, &mut out));
    let result = result.and_then(|()| out.flush().map_err(CliError::Output));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // A closed pipe (`ferry ls | head`) is the reader's choice, not an error.
        Err(CliError::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            error.exit_code()
        }
    }
}

async fn run(command: Command, out: &mut impl Write) -> Result<(), CliError> {
    match command {
        Command::Serve(args) => serve::serve(args, out).await,
        Command::Sync(args) => sync::sync(args, out).await,
        Command::Put(args) => local::put(args, out).await,
        Command::Get(args) => local::get(args, out).await,
        Command::Delete(args) => local::delete(args, out).await,
        Command::Ls(args) => local::ls(args, out).await,
        Command::Changes(args) => local::changes(args, out).await,
        Command::Conflicts(args) => local::conflicts(args, out).await,
        Command::Info(args) => local::info(args, out).await,
    }
}
