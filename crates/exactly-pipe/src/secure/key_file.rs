//! Key files: a private key file holds the private key as 64 hex digits and is created
//! with mode 0600 (and refused if others can read it); its public key is written beside
//! it as `<file>.pub`, 64 hex digits, for the other end's allow-list or pin.

use super::error::SecureError;
use super::keys::{PublicKey, StaticKeypair};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The public key file written beside a private key file.
pub fn public_key_path(private: &Path) -> PathBuf {
    let mut name = private.as_os_str().to_owned();
    name.push(".pub");
    PathBuf::from(name)
}

/// Writes a new key pair: `path` (private, mode 0600, must not exist) and `path.pub`.
pub fn write_keypair(path: &Path, pair: &StaticKeypair) -> Result<(), SecureError> {
    let at = |path: &Path| {
        let path = path.to_owned();
        move |source| SecureError::KeyFile { path, source }
    };
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(at(path))?;
    writeln!(file, "{}", pair.private_hex()).map_err(at(path))?;
    file.sync_all().map_err(at(path))?;
    let public = public_key_path(path);
    std::fs::write(&public, format!("{}\n", pair.public().to_hex())).map_err(at(&public))?;
    Ok(())
}

/// Reads a private key file (refused if its mode lets group or others read it).
pub fn read_keypair(path: &Path) -> Result<StaticKeypair, SecureError> {
    let at = |source| SecureError::KeyFile {
        path: path.to_owned(),
        source,
    };
    let mode = std::fs::metadata(path).map_err(at)?.permissions().mode();
    if mode & 0o077 != 0 {
        return Err(SecureError::KeyFileMode {
            path: path.to_owned(),
            mode: mode & 0o777,
        });
    }
    StaticKeypair::from_private_hex(&std::fs::read_to_string(path).map_err(at)?)
}

/// A public key given as 64 hex digits, or as the path of a file holding them.
pub fn read_public_key(text_or_path: &str) -> Result<PublicKey, SecureError> {
    if let Ok(key) = PublicKey::from_hex(text_or_path) {
        return Ok(key);
    }
    let path = Path::new(text_or_path);
    let text = std::fs::read_to_string(path).map_err(|source| SecureError::KeyFile {
        path: path.to_owned(),
        source,
    })?;
    PublicKey::from_hex(&text)
}
