//! The server's [`SecurityOptions`] loaded from files, as `exactly serve` takes them: a
//! TLS certificate chain and key (and optionally a client CA), the SASL users file, the
//! ACL file. Error messages name the `exactly serve` flags each file comes from, so an
//! operator knows which flag to fix.

use super::acl::{AclError, Acls};
use super::tls::{server_config, TlsError, TlsFiles};
use super::users::{Users, UsersError};
use super::SecurityOptions;
use std::path::PathBuf;
use std::sync::Arc;

/// The files the server's security is configured from (everything off when all are
/// `None`).
#[derive(Clone, Debug, Default)]
pub struct SecurityFiles {
    /// PEM certificate chain and its private key: serve TLS only.
    pub tls: Option<(PathBuf, PathBuf)>,
    /// PEM CA certificates clients must present a certificate from (with `tls` only).
    pub tls_client_ca: Option<PathBuf>,
    /// Users file: require SASL before anything but ApiVersions is served.
    pub users_file: Option<PathBuf>,
    /// ACL file: deny whatever its rules do not allow.
    pub acl_file: Option<PathBuf>,
    /// Also accept SASL PLAIN without TLS (the password travels in the clear).
    pub insecure: bool,
}

/// Why the security files could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum SecurityFilesError {
    /// The certificate chain, key or client CA could not be read or used.
    #[error("--tls-cert/--tls-key")]
    Tls(#[source] TlsError),
    /// The users file could not be read or parsed.
    #[error(transparent)]
    Users(#[from] UsersError),
    /// The users file names no user: nobody could log in.
    #[error("{} has no users: add one with `exactly serve user add`", .0.display())]
    NoUsers(PathBuf),
    /// The ACL file could not be read or parsed.
    #[error(transparent)]
    Acls(#[from] AclError),
}

impl SecurityFiles {
    /// Reads every file and builds the options. Also says whether SASL PLAIN passwords
    /// may travel in the clear (`insecure` with users and without TLS), which the caller
    /// should warn about.
    pub fn load(&self) -> Result<(SecurityOptions, bool), SecurityFilesError> {
        let tls = match &self.tls {
            Some((cert, key)) => {
                let files = TlsFiles {
                    cert: cert.clone(),
                    key: key.clone(),
                    client_ca: self.tls_client_ca.clone(),
                };
                Some(server_config(&files).map_err(SecurityFilesError::Tls)?)
            }
            None => None,
        };
        let users = match &self.users_file {
            Some(path) => {
                let users = Users::load(path)?;
                if users.names().is_empty() {
                    return Err(SecurityFilesError::NoUsers(path.clone()));
                }
                Some(Arc::new(users))
            }
            None => None,
        };
        let acls = match &self.acl_file {
            Some(path) => Some(Arc::new(Acls::load(path)?)),
            None => None,
        };
        let plain_in_clear = self.insecure && tls.is_none() && users.is_some();
        let options = SecurityOptions {
            tls,
            users,
            acls,
            plain_without_tls: self.insecure,
        };
        Ok((options, plain_in_clear))
    }
}
