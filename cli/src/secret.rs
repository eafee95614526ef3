//! Passwords from files and environment variables (never from the command line, where every
//! user of the machine can read them in the process list), and the listener's users.

use std::path::Path;

use ferry_net::auth::constant_time_eq;
use ferry_tokio::Authenticator;

use crate::args::PasswordSource;
use crate::error::CliError;

/// Reads a whole file (for passwords, users and certificates).
fn read_file(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|source| CliError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The password of `user`, from the source given; a usage error when there is none.
pub(crate) fn password(user: &str, source: &PasswordSource) -> Result<String, CliError> {
    if let Some(path) = &source.password_file {
        let text = read_file(path)?;
        return Ok(text.lines().next().unwrap_or_default().to_owned());
    }
    if let Some(var) = &source.password_env {
        return std::env::var(var).map_err(|_| {
            CliError::Usage(format!(
                "the environment variable {var} (--password-env) is not set or not UTF-8"
            ))
        });
    }
    Err(CliError::Usage(format!(
        "--user {user} needs a password: give --password-file FILE or --password-env VAR"
    )))
}

/// Users from a file of `name:password` lines (blank lines and `#` comments skipped).
pub(crate) fn users_file(path: &Path) -> Result<Vec<(String, String)>, CliError> {
    let text = read_file(path)?;
    let mut users = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (name, password) = line.split_once(':').ok_or_else(|| {
            CliError::Invalid(format!(
                "{} line {}: expected `name:password`",
                path.display(),
                n + 1
            ))
        })?;
        users.push((name.to_owned(), password.to_owned()));
    }
    if users.is_empty() {
        return Err(CliError::Invalid(format!(
            "{} lists no users (`name:password` lines)",
            path.display()
        )));
    }
    Ok(users)
}

/// A password authenticator accepting exactly these users (passwords compared in constant
/// time).
pub(crate) fn authenticator(users: Vec<(String, String)>) -> Authenticator {
    Authenticator::password(move |user, password| {
        users
            .iter()
            .any(|(u, p)| u == user && constant_time_eq(p.as_bytes(), password.as_bytes()))
    })
}
