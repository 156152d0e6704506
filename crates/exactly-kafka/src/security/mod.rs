//! Who may talk to the server: TLS ([`tls`]), SASL authentication ([`sasl`]: PLAIN and
//! SCRAM-SHA-256/512 over the [`users`] file, new passwords read by [`password`]), the
//! options loaded from files ([`files`]), and authorization ([`acl`] rules checked
//! through a connection's [`Access`]). Everything is off by default; `docs/kafka.md`
//! describes the flags and files, `docs/SECURITY.md` ("The Kafka-protocol server") the threat model.

pub mod access;
pub mod acl;
pub mod files;
pub mod password;
pub mod principal;
pub mod sasl;
pub mod scram;
pub mod tls;
pub mod users;

pub use access::{Access, SecurityCounters};
pub use acl::{Acls, Operation, Resource};
pub use principal::Principal;
pub use users::Users;

use std::sync::Arc;

/// How the server authenticates and authorizes its clients.
#[derive(Clone, Debug, Default)]
pub struct SecurityOptions {
    /// TLS on every connection (`None`: plaintext). With a client CA in it, clients must
    /// present a certificate, and its subject's common name is their principal unless
    /// SASL names another.
    pub tls: Option<Arc<rustls::ServerConfig>>,
    /// SASL users (`None`: no SASL). When set, a connection is served nothing but
    /// ApiVersions, SaslHandshake and SaslAuthenticate until it authenticates.
    pub users: Option<Arc<Users>>,
    /// ACL rules (`None`: authorization off, everything allowed). When set, whatever no
    /// rule allows is denied.
    pub acls: Option<Arc<Acls>>,
    /// Accept SASL PLAIN on plaintext connections (it sends the password in the clear).
    pub plain_without_tls: bool,
}
