//! [`PgSession`]: the one connection of a PostgreSQL checkpoint store, reconnected after a
//! loss with the endpoint's [`ReconnectPolicy`] (attempts, doubling capped backoff).
//!
//! An operation run through [`PgSession::run`] is retried on a new connection when the
//! old one was lost, so every operation given to it must be safe to run again: reads,
//! idempotent uploads, and the checkpoint commit, whose transaction starts by reading back
//! whether a lost attempt already committed (see `checkpoint_store.rs`). A statement the
//! server refused is never retried.

use crate::error::{connection_lost, describe};
use crate::store::connect_client;
use exactly_endpoint::serve::ReconnectPolicy;
use exactly_state::CheckpointError;
use postgres::Client;
use std::sync::Mutex;

/// Why one attempt of an operation failed.
#[derive(Debug)]
pub(crate) enum Attempt {
    /// The driver failed: retried when the connection was lost, else a backend error.
    Db(postgres::Error),
    /// The operation decided (fenced, damaged, not newer): returned as is.
    Refused(CheckpointError),
    /// The connection must be taken as lost although the driver did not say so (fault
    /// injection: a reply lost after the server acted): reconnected and retried.
    Lost(String),
}

impl From<postgres::Error> for Attempt {
    fn from(error: postgres::Error) -> Self {
        Self::Db(error)
    }
}

impl From<CheckpointError> for Attempt {
    fn from(error: CheckpointError) -> Self {
        Self::Refused(error)
    }
}

/// A connection (re-)opened on demand.
pub(crate) struct PgSession {
    url: String,
    application_name: String,
    policy: ReconnectPolicy,
    /// Where the checkpoints are, for errors and logs.
    pub location: String,
    client: Mutex<Option<Client>>,
}

impl std::fmt::Debug for PgSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgSession")
            .field("location", &self.location)
            .finish()
    }
}

impl PgSession {
    pub fn new(
        url: &str,
        application_name: &str,
        policy: ReconnectPolicy,
        location: String,
    ) -> Self {
        Self {
            url: url.to_string(),
            application_name: application_name.to_string(),
            policy,
            location,
            client: Mutex::new(None),
        }
    }

    /// A backend error of this store.
    pub fn backend(&self, reason: String) -> CheckpointError {
        CheckpointError::Backend {
            location: self.location.clone(),
            reason,
        }
    }

    /// Runs `op` on the connection, reconnecting and running it again after a lost
    /// connection, up to the policy's attempts.
    pub fn run<T>(
        &self,
        what: &str,
        mut op: impl FnMut(&mut Client) -> Result<T, Attempt>,
    ) -> Result<T, CheckpointError> {
        let mut guard = self
            .client
            .lock()
            .map_err(|_| self.backend("a thread panicked while holding the connection".into()))?;
        let attempts = self.policy.attempts_max.max(1);
        let mut last_reason = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                std::thread::sleep(self.policy.delay(attempt - 1));
            }
            if guard.is_none() {
                match connect_client(&self.url, &self.application_name) {
                    Ok(client) => *guard = Some(client),
                    Err(error) if error.is_transient() => {
                        last_reason = error.to_string();
                        tracing::warn!(location = %self.location, %error, attempt, "checkpoint store: connecting");
                        continue;
                    }
                    Err(error) => return Err(self.backend(error.to_string())),
                }
            }
            let Some(client) = guard.as_mut() else {
                continue;
            };
            match op(client) {
                Ok(value) => return Ok(value),
                Err(Attempt::Refused(error)) => return Err(error),
                Err(Attempt::Lost(reason)) => {
                    tracing::warn!(location = %self.location, what, %reason, attempt, "checkpoint store: taken as lost");
                    last_reason = reason;
                    *guard = None;
                }
                Err(Attempt::Db(error)) if connection_lost(&error) => {
                    last_reason = describe(&error);
                    tracing::warn!(location = %self.location, what, reason = %last_reason, attempt, "checkpoint store: connection lost");
                    *guard = None;
                }
                Err(Attempt::Db(error)) => {
                    let reason = format!("{what}: {}", describe(&error));
                    tracing::warn!(location = %self.location, %reason, "checkpoint store: refused");
                    return Err(self.backend(reason));
                }
            }
        }
        Err(self.backend(format!(
            "{what}: gave up after {attempts} attempts: {last_reason}"
        )))
    }
}
