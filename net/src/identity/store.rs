//! Identities saved in a directory under a label.
//!
//! An identity labelled `L` is two PEM files: `L.cert.pem` (the chain, leaf first, mode 0644)
//! and `L.key.pem` (the private key, mode 0600 on unix, checked again when loading). Each is
//! written atomically: a temporary file in the same directory, flushed to disk, then renamed over
//! the final name, so a crash leaves either the old file or the new one, never half of one. The
//! key is written before the certificate; should a crash fall between the two renames, loading
//! reports [`IdentityError::KeyMismatch`] (or `NotFound`) rather than a wrong identity.
//!
//! Saving refuses a label that is already used ([`IdentityError::AlreadyExists`]), as Couchbase
//! Lite does; the check and the write are not one atomic step, so two processes saving the same
//! label at the same instant may both succeed, the last rename winning.

use std::fs;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use super::TlsIdentity;
use crate::error::IdentityError;

/// The certificate file of `label` in `dir`.
pub fn certificate_path(dir: &Path, label: &str) -> PathBuf {
    dir.join(format!("{label}.cert.pem"))
}

/// The private-key file of `label` in `dir`.
pub fn key_path(dir: &Path, label: &str) -> PathBuf {
    dir.join(format!("{label}.key.pem"))
}

/// Saves `identity` under `label` in `dir` (created, mode 0700 on unix, if missing).
pub fn save(identity: &TlsIdentity, dir: &Path, label: &str) -> Result<(), IdentityError> {
    check_label(label)?;
    create_dir(dir)?;
    let (cert, key) = (certificate_path(dir, label), key_path(dir, label));
    if cert.exists() || key.exists() {
        return Err(IdentityError::AlreadyExists {
            label: label.to_owned(),
        });
    }
    write_atomically(&key, identity.private_key_pem().as_bytes(), 0o600)?;
    write_atomically(&cert, identity.certificate_chain_pem().as_bytes(), 0o644)?;
    sync_dir(dir);
    tracing::debug!(dir = %dir.display(), label, fingerprint = %identity.sha256_fingerprint(), "saved TLS identity");
    Ok(())
}

/// Loads the identity saved under `label` in `dir`. On unix, refuses a key file that other users
/// may read or write ([`IdentityError::InsecureKeyFile`]).
pub fn load(dir: &Path, label: &str) -> Result<TlsIdentity, IdentityError> {
    check_label(label)?;
    let (cert_path, key_path) = (certificate_path(dir, label), key_path(dir, label));
    let key = fs::read(&key_path).map_err(|e| IdentityError::io(&key_path, e))?;
    check_key_permissions(&key_path)?;
    let cert = fs::read(&cert_path).map_err(|e| IdentityError::io(&cert_path, e))?;
    TlsIdentity::from_pem_named(
        &cert,
        &cert_path.display().to_string(),
        &key,
        &key_path.display().to_string(),
    )
}

/// Deletes the identity saved under `label` in `dir`: [`IdentityError::NotFound`] if neither
/// file exists; a lone leftover file is removed too.
pub fn delete(dir: &Path, label: &str) -> Result<(), IdentityError> {
    check_label(label)?;
    let mut removed = false;
    for path in [key_path(dir, label), certificate_path(dir, label)] {
        match fs::remove_file(&path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(IdentityError::io(path, e)),
        }
    }
    if removed {
        sync_dir(dir);
        Ok(())
    } else {
        Err(IdentityError::NotFound {
            path: key_path(dir, label),
        })
    }
}

/// Whether an identity is saved under `label` in `dir`.
pub fn exists(dir: &Path, label: &str) -> bool {
    check_label(label).is_ok() && key_path(dir, label).exists()
}

fn check_label(label: &str) -> Result<(), IdentityError> {
    let ok = !label.is_empty()
        && label.len() <= 128
        && !label.starts_with('.')
        && label
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(IdentityError::InvalidLabel {
            label: label.to_owned(),
        })
    }
}

fn create_dir(dir: &Path) -> Result<(), IdentityError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt as _;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| IdentityError::io(dir, e))
}

/// Writes `bytes` to a fresh temporary file beside `path` with `mode`, syncs it, and renames it
/// over `path`.
fn write_atomically(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IdentityError> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.tmp-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ));
    let result = (|| {
        let mut options = fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(mode);
        }
        #[cfg(not(unix))]
        let _ = mode;
        let mut file = options.open(&tmp).map_err(|e| IdentityError::io(&tmp, e))?;
        file.write_all(bytes)
            .map_err(|e| IdentityError::io(&tmp, e))?;
        file.sync_all().map_err(|e| IdentityError::io(&tmp, e))?;
        fs::rename(&tmp, path).map_err(|e| IdentityError::io(path, e))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes renames durable (best effort: not every platform can open a directory).
fn sync_dir(dir: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = fs::File::open(dir) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = dir;
}

fn check_key_permissions(path: &Path) -> Result<(), IdentityError> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = fs::metadata(path)
            .map_err(|e| IdentityError::io(path, e))?
            .permissions()
            .mode()
            & 0o777;
        if mode & 0o077 != 0 {
            return Err(IdentityError::InsecureKeyFile {
                path: path.to_owned(),
                mode,
            });
        }
    }
    #[cfg(not(unix))]
    let _ = path;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_safe_file_stems() {
        for ok in ["ferry-anonymous", "a", "Server_1.v2"] {
            assert!(check_label(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".hidden", "../x", "a/b", "a b", "é", &"x".repeat(129)] {
            assert!(
                matches!(check_label(bad), Err(IdentityError::InvalidLabel { .. })),
                "{bad:?}"
            );
        }
    }
}
