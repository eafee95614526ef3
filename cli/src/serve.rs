//! `ferry serve`: a listener on a database until Ctrl-C or SIGTERM.

use std::io::Write;
use std::time::Duration;

use ferry_net::identity::certificates_from_pem_file;
use ferry_tokio::{Authenticator, Error as DriverError, Listener, ListenerConfig, TlsIdentity};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use crate::args::ServeArgs;
use crate::db::{Access, open};
use crate::error::CliError;
use crate::secret;
use crate::signals::Shutdown;

/// How often the status line is redrawn.
const STATUS_INTERVAL: Duration = Duration::from_millis(250);

/// The database's name in URLs: `--name`, else the file name without its extension.
fn database_name(args: &ServeArgs) -> Result<String, CliError> {
    if let Some(name) = &args.name {
        return Ok(name.clone());
    }
    args.db
        .file_stem()
        .and_then(|stem| stem.to_str())
        .filter(|stem| !stem.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| {
            CliError::Usage(format!(
                "cannot name the database after {}: give --name",
                args.db.display()
            ))
        })
}

/// The authenticator the options ask for, and a word for the banner.
fn authenticator(args: &ServeArgs) -> Result<(Authenticator, &'static str), CliError> {
    if let Some(roots) = &args.client_cert_roots {
        let roots = certificates_from_pem_file(roots).map_err(|e| {
            CliError::Invalid(format!("--client-cert-roots {}: {e}", roots.display()))
        })?;
        let auth = Authenticator::client_certificate_roots(roots);
        return Ok((auth, "client-certificate authentication"));
    }
    let mut users = Vec::new();
    if let Some(user) = &args.user {
        users.push((user.clone(), secret::password(user, &args.password)?));
    }
    if let Some(path) = &args.users_file {
        users.extend(secret::users_file(path)?);
    }
    if users.is_empty() {
        return Ok((Authenticator::None, "no authentication"));
    }
    Ok((secret::authenticator(users), "password authentication"))
}

/// The listener's settings from the options (the database still to be set).
fn listener_config(
    args: &ServeArgs,
    db: ferry_tokio::Database,
) -> Result<(ListenerConfig, &'static str), CliError> {
    let (auth, auth_name) = authenticator(args)?;
    let mut config = ListenerConfig::new(db)
        .port(args.port)
        .disable_tls(args.no_tls)
        .authenticator(auth)
        .read_only(args.read_only)
        .enable_delta_sync(args.delta);
    if let Some(interface) = &args.interface {
        config = config.network_interface(interface.clone());
    }
    if let Some(dir) = &args.identity_dir {
        config = config.identity_dir(dir.clone());
    }
    if let (Some(cert), Some(key)) = (&args.cert, &args.key) {
        let identity = TlsIdentity::from_pem_files(cert, key)
            .map_err(|e| CliError::Invalid(format!("--cert/--key: {e}")))?;
        config = config.tls_identity(identity);
    }
    Ok((config, auth_name))
}

/// A listener that could not start, explained.
fn listen_error(error: DriverError, args: &ServeArgs) -> CliError {
    match &error {
        DriverError::Bind { addr, source } if source.kind() == std::io::ErrorKind::AddrInUse => {
            CliError::Listen(format!(
                "port {} is already in use ({addr}): choose another --port, or 0 for any free port",
                args.port
            ))
        }
        _ => CliError::Listen(format!("cannot serve: {error}")),
    }
}

/// `ferry serve`.
pub(crate) async fn serve(args: ServeArgs, out: &mut impl Write) -> Result<(), CliError> {
    let name = database_name(&args)?;
    let db = open(&args.db, &name, Access::Create)?;
    let (config, auth_name) = listener_config(&args, db)?;
    // Listening before the URL is printed: whoever reads it may interrupt at once.
    let mut shutdown = Shutdown::listen();
    let listener = Listener::start(config)
        .await
        .map_err(|e| listen_error(e, &args))?;
    let mode = match (listener.tls_identity().is_some(), args.read_only) {
        (true, false) => "TLS",
        (true, true) => "TLS, read-only",
        (false, false) => "no TLS",
        (false, true) => "no TLS, read-only",
    };
    writeln!(
        out,
        "ferry: serving {} as {name:?} ({mode}, {auth_name})",
        args.db.display()
    )?;
    for url in listener.urls() {
        writeln!(out, "url: {url}")?;
    }
    if let Some(identity) = listener.tls_identity() {
        writeln!(out, "fingerprint: sha256/{}", identity.sha256_fingerprint())?;
    }
    if args.no_tls && auth_name == "password authentication" {
        eprintln!("warning: without TLS, passwords cross the network readable by anyone on it");
    }
    writeln!(out, "Press Ctrl-C to stop.")?;
    out.flush()?;

    let line = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()).with_style(
        ProgressStyle::with_template("{spinner} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    let mut ticker = tokio::time::interval(STATUS_INTERVAL);
    loop {
        tokio::select! {
            () = shutdown.wait() => break,
            _ = ticker.tick() => {
                let status = listener.status();
                line.set_message(format!(
                    "{} connection(s), {} active; documents sent {}, received {}",
                    status.connection_count,
                    status.active_connection_count,
                    status.documents_sent,
                    status.documents_received,
                ));
                line.tick();
            }
        }
    }
    line.finish_and_clear();
    listener.stop().await;
    let status = listener.status();
    eprintln!(
        "ferry: stopped (documents sent {}, received {})",
        status.documents_sent, status.documents_received
    );
    Ok(())
}
