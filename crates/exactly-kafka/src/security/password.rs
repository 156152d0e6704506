//! Reading a new user's password the safe ways: from an environment variable, or from
//! the first line of an input (standard input), never from the command line, where other
//! local users could read it in the process list.

use std::io::BufRead;

/// Why no password was read.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// The environment variable is not set (or not UTF-8).
    #[error("reading ${var}")]
    Env {
        /// The variable.
        var: String,
        /// Why.
        #[source]
        source: std::env::VarError,
    },
    /// The input could not be read.
    #[error("reading the password from standard input")]
    Input(#[source] std::io::Error),
    /// The password is empty.
    #[error("the password is empty")]
    Empty,
}

/// The password in the environment variable `env`, or else the first line of `input`
/// (without its line ending); an empty password is refused.
pub fn read_password(env: Option<&str>, mut input: impl BufRead) -> Result<String, PasswordError> {
    let password = match env {
        Some(var) => std::env::var(var).map_err(|source| PasswordError::Env {
            var: var.to_string(),
            source,
        })?,
        None => {
            let mut line = String::new();
            input.read_line(&mut line).map_err(PasswordError::Input)?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    };
    match password.is_empty() {
        true => Err(PasswordError::Empty),
        false => Ok(password),
    }
}
