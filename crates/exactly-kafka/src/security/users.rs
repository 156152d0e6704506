//! The users file: each user's SCRAM credentials (salt, iterations, stored key, server
//! key) per mechanism, never a password. One line per (user, mechanism):
//!
//! ```text
//! # name mechanism iterations salt stored-key server-key   (base64)
//! alice SCRAM-SHA-256 4096 c2FsdA== … …
//! ```
//!
//! Written atomically (temporary file, fsync, rename) with mode 0600.

use super::scram::{ScramCredential, ScramMechanism};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ring::rand::{SecureRandom, SystemRandom};
use std::collections::BTreeMap;
use std::io::Write;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// PBKDF2 iterations for new credentials: RFC 7677's minimum, also Kafka's.
pub const DEFAULT_ITERATIONS: u32 = 4096;
/// Bytes of a new credential's salt.
const SALT_BYTES: usize = 24;

/// Why the users file could not be read, written or changed.
#[derive(Debug, Error)]
pub enum UsersError {
    /// Reading or writing the file failed.
    #[error("users file {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A line does not parse.
    #[error("users file line {line}: {reason}")]
    Parse {
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        reason: String,
    },
    /// A user name with whitespace, control characters, or empty.
    #[error("invalid user name {0:?}: 1 to 255 printable characters without spaces")]
    InvalidName(String),
    /// The system's random source failed.
    #[error("no randomness for a salt")]
    Random,
    /// Iterations below the minimum.
    #[error("iterations must be at least {DEFAULT_ITERATIONS}")]
    Iterations,
}

/// Every user's credentials.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Users {
    credentials: BTreeMap<(String, ScramMechanism), ScramCredential>,
}

impl Users {
    /// Reads `path`.
    pub fn load(path: &Path) -> Result<Self, UsersError> {
        let text = std::fs::read_to_string(path).map_err(|source| UsersError::Io {
            path: path.to_path_buf(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Adds user `name` to the file at `path` (created if missing), or sets its password,
    /// with new SCRAM credentials of `iterations` PBKDF2 iterations.
    pub fn add_to_file(
        path: &Path,
        name: &str,
        password: &[u8],
        iterations: u32,
    ) -> Result<(), UsersError> {
        let mut users = Self::load_or_empty(path)?;
        users.set_password(name, password, iterations)?;
        users.save(path)
    }

    /// Removes user `name` from the file at `path`; `false` (and the file unchanged) when
    /// there is no such user.
    pub fn remove_from_file(path: &Path, name: &str) -> Result<bool, UsersError> {
        let mut users = Self::load(path)?;
        if !users.remove(name) {
            return Ok(false);
        }
        users.save(path)?;
        Ok(true)
    }

    /// Reads `path`, or an empty set if it does not exist yet (for adding the first user).
    pub fn load_or_empty(path: &Path) -> Result<Self, UsersError> {
        match path.exists() {
            true => Self::load(path),
            false => Ok(Self::default()),
        }
    }

    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Self, UsersError> {
        let mut users = Self::default();
        for (index, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (name, mechanism, credential) =
                parse_line(line).map_err(|reason| UsersError::Parse {
                    line: index + 1,
                    reason,
                })?;
            users.credentials.insert((name, mechanism), credential);
        }
        Ok(users)
    }

    /// The credential of `name` for `mechanism`.
    pub fn credential(&self, name: &str, mechanism: ScramMechanism) -> Option<&ScramCredential> {
        self.credentials.get(&(name.to_string(), mechanism))
    }

    /// Whether `password` is `name`'s (SASL PLAIN), checked against its SCRAM-SHA-256
    /// credential, or its SCRAM-SHA-512 one if it has only that.
    pub fn verify_password(&self, name: &str, password: &[u8]) -> bool {
        ScramMechanism::ALL
            .into_iter()
            .find_map(|m| self.credential(name, m).map(|c| (m, c)))
            .is_some_and(|(m, c)| c.matches_password(m, password))
    }

    /// Names of every user.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.credentials.keys().map(|(n, _)| n.clone()).collect();
        names.dedup();
        names
    }

    /// Sets `name`'s password: new credentials for every mechanism, with fresh salts.
    pub fn set_password(
        &mut self,
        name: &str,
        password: &[u8],
        iterations: u32,
    ) -> Result<(), UsersError> {
        check_name(name)?;
        let iterations = NonZeroU32::new(iterations)
            .filter(|i| i.get() >= DEFAULT_ITERATIONS)
            .ok_or(UsersError::Iterations)?;
        let random = SystemRandom::new();
        for mechanism in ScramMechanism::ALL {
            let mut salt = vec![0u8; SALT_BYTES];
            random.fill(&mut salt).map_err(|_| UsersError::Random)?;
            let credential = ScramCredential::derive(mechanism, password, salt, iterations);
            self.credentials
                .insert((name.to_string(), mechanism), credential);
        }
        Ok(())
    }

    /// Removes `name`; whether it was there.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.credentials.len();
        self.credentials.retain(|(n, _), _| n != name);
        self.credentials.len() != before
    }

    /// The file's text.
    pub fn render(&self) -> String {
        let mut out = String::from("# name mechanism iterations salt stored-key server-key\n");
        for ((name, mechanism), c) in &self.credentials {
            out.push_str(&format!(
                "{name} {} {} {} {} {}\n",
                mechanism.name(),
                c.iterations,
                BASE64.encode(&c.salt),
                BASE64.encode(&c.stored_key),
                BASE64.encode(&c.server_key)
            ));
        }
        out
    }

    /// Writes the file atomically, readable by its owner only.
    pub fn save(&self, path: &Path) -> Result<(), UsersError> {
        let io = |source| UsersError::Io {
            path: path.to_path_buf(),
            source,
        };
        let mut temporary = path.as_os_str().to_owned();
        temporary.push(".tmp");
        let temporary = PathBuf::from(temporary);
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&temporary).map_err(io)?;
        file.write_all(self.render().as_bytes()).map_err(io)?;
        file.sync_all().map_err(io)?;
        std::fs::rename(&temporary, path).map_err(io)?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::File::open(dir)
                .and_then(|d| d.sync_all())
                .map_err(io)?;
        }
        Ok(())
    }
}

fn check_name(name: &str) -> Result<(), UsersError> {
    let printable = name.chars().all(|c| !c.is_whitespace() && !c.is_control());
    match !name.is_empty() && name.len() <= 255 && printable {
        true => Ok(()),
        false => Err(UsersError::InvalidName(name.to_string())),
    }
}

fn parse_line(line: &str) -> Result<(String, ScramMechanism, ScramCredential), String> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let [name, mechanism, iterations, salt, stored_key, server_key] = fields.as_slice() else {
        return Err(format!("expected 6 fields, found {}", fields.len()));
    };
    check_name(name).map_err(|e| e.to_string())?;
    let mechanism = ScramMechanism::from_name(mechanism)
        .ok_or_else(|| format!("unknown mechanism {mechanism:?}"))?;
    let iterations = iterations
        .parse::<NonZeroU32>()
        .map_err(|e| format!("iterations: {e}"))?;
    let decode = |what: &str, value: &str| {
        BASE64
            .decode(value)
            .map_err(|e| format!("{what} is not base64: {e}"))
    };
    let credential = ScramCredential {
        salt: decode("salt", salt)?,
        iterations,
        stored_key: decode("stored key", stored_key)?,
        server_key: decode("server key", server_key)?,
    };
    let key_bytes = mechanism.key_bytes();
    if credential.stored_key.len() != key_bytes || credential.server_key.len() != key_bytes {
        return Err(format!(
            "{} keys must be {key_bytes} bytes",
            mechanism.name()
        ));
    }
    Ok((name.to_string(), mechanism, credential))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_round_trips_and_holds_no_password() {
        let mut users = Users::default();
        users.set_password("alice", b"s3cret-pw", 4096).unwrap();
        users.set_password("bob", b"other", 5000).unwrap();
        let text = users.render();
        assert!(!text.contains("s3cret-pw"));
        let read = Users::parse(&text).unwrap();
        assert_eq!(read, users);
        assert!(read.verify_password("alice", b"s3cret-pw"));
        assert!(!read.verify_password("alice", b"other"));
        assert!(!read.verify_password("carol", b"other"));
        assert_eq!(read.names(), vec!["alice".to_string(), "bob".to_string()]);
        let c = read.credential("bob", ScramMechanism::Sha512).unwrap();
        assert_eq!(c.iterations.get(), 5000);
        assert_eq!(c.stored_key.len(), 64);
    }

    #[test]
    fn bad_names_iterations_and_lines_are_refused() {
        let mut users = Users::default();
        assert!(matches!(
            users.set_password("a b", b"x", 4096),
            Err(UsersError::InvalidName(_))
        ));
        assert!(matches!(
            users.set_password("a", b"x", 10),
            Err(UsersError::Iterations)
        ));
        let short_key = "a SCRAM-SHA-256 4096 c2FsdA== c2FsdA== c2FsdA==\n";
        assert!(matches!(
            Users::parse(short_key),
            Err(UsersError::Parse { line: 1, .. })
        ));
    }
}
