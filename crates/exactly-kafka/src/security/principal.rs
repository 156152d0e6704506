//! [`Principal`]: who a connection acts as, in Kafka's `User:NAME` form.

use std::fmt;

/// An authenticated identity (`User:alice`), or `User:ANONYMOUS` when authentication is
/// off.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Principal(String);

impl Principal {
    /// The principal of user `name` (a SASL user name, or a certificate subject's CN).
    pub fn user(name: &str) -> Self {
        Self(format!("User:{name}"))
    }

    /// Everyone, when the server authenticates no one.
    pub fn anonymous() -> Self {
        Self::user("ANONYMOUS")
    }

    /// `User:NAME`.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
