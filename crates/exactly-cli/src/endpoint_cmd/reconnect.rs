//! When an endpoint's store connection is lost (PostgreSQL restarted, the backend
//! terminated, the network cut), the endpoint reconnects with capped exponential backoff
//! and a bounded number of attempts, then goes through the same recovery as a restart:
//! a new connection takes the advisory lock again, positions are read again, the outbox is
//! dispatched again. A connection lost mid-batch left nothing of that batch (one
//! transaction), and a lost `COMMIT` answer is made safe by the inbox.

use exactly_endpoint::{EndpointError, StoreError};
use exactly_postgres::ConnectError;
use std::time::Duration;

/// Limits of reconnecting after a lost store connection.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReconnectPolicy {
    /// Consecutive failed sessions or connection attempts before giving up.
    pub(crate) attempts_max: u32,
    /// Delay before the first attempt; doubled after each failure.
    pub(crate) backoff_initial_ms: u64,
    /// Cap of the delay.
    pub(crate) backoff_max_ms: u64,
}

impl ReconnectPolicy {
    /// The delay before attempt `attempt` (1-based): `initial · 2^(attempt-1)`, capped.
    pub(crate) fn delay(&self, attempt: u32) -> Duration {
        let factor = 1u64
            .checked_shl(attempt.saturating_sub(1))
            .unwrap_or(u64::MAX);
        let ms = self
            .backoff_initial_ms
            .saturating_mul(factor)
            .min(self.backoff_max_ms);
        Duration::from_millis(ms)
    }
}

/// Whether `error` (anywhere in its chain) is a lost or refused store connection, which a
/// new connection may cure — not a refused statement, corruption or a bad argument.
pub(crate) fn is_connection_lost(error: &anyhow::Error) -> bool {
    // `EndpointError::Store` and `ConnectError::Store` are transparent: the store error is
    // the link itself, not its source.
    error.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<StoreError>(),
            Some(StoreError::Connection { .. })
        ) || matches!(
            cause.downcast_ref::<EndpointError>(),
            Some(EndpointError::Store(StoreError::Connection { .. }))
        ) || cause
            .downcast_ref::<ConnectError>()
            .is_some_and(ConnectError::is_transient)
    })
}

/// Opens the store; a transient failure (the database restarting while the endpoint
/// starts) is retried like a lost connection.
pub(crate) fn open_first<S>(
    policy: &ReconnectPolicy,
    open: &mut impl FnMut() -> anyhow::Result<S>,
) -> anyhow::Result<S> {
    match open() {
        Ok(store) => Ok(store),
        Err(error) if is_connection_lost(&error) => reopen(policy, open, &mut 0, &error),
        Err(error) => Err(error),
    }
}

/// Opens the store again after `lost`, retrying transient failures with backoff.
/// `failures` counts consecutive failures (the caller resets it once a session recovered);
/// past `policy.attempts_max` the last error is returned.
pub(crate) fn reopen<S>(
    policy: &ReconnectPolicy,
    open: &mut impl FnMut() -> anyhow::Result<S>,
    failures: &mut u32,
    lost: &anyhow::Error,
) -> anyhow::Result<S> {
    let mut last = crate::error_chain(lost);
    loop {
        *failures += 1;
        if *failures > policy.attempts_max {
            anyhow::bail!(
                "store connection lost and {} reconnection attempts failed; last: {last}",
                policy.attempts_max
            );
        }
        let delay = policy.delay(*failures);
        eprintln!(
            "warning: store connection lost ({last}); reconnecting in {} ms (attempt {}/{})",
            delay.as_millis(),
            failures,
            policy.attempts_max
        );
        std::thread::sleep(delay);
        match open() {
            Ok(store) => return Ok(store),
            Err(error) if is_connection_lost(&error) => last = crate::error_chain(&error),
            Err(error) => return Err(error),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delay_doubles_then_stays_at_the_cap() {
        let policy = ReconnectPolicy {
            attempts_max: 100,
            backoff_initial_ms: 100,
            backoff_max_ms: 1000,
        };
        let delays: Vec<u64> = (1..=6)
            .map(|a| policy.delay(a).as_millis() as u64)
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(200).as_millis(), 1000, "no overflow");
    }

    #[test]
    fn only_connection_errors_are_retried() {
        let lost = anyhow::Error::new(EndpointError::Store(StoreError::Connection {
            reason: "gone".into(),
        }));
        assert!(is_connection_lost(&lost.context("processing")));
        let refused = anyhow::Error::new(StoreError::Locked {
            what: "lock".into(),
        });
        assert!(!is_connection_lost(&refused));
        let unreachable = anyhow::Error::new(ConnectError::Unreachable {
            reason: "refused".into(),
        });
        assert!(is_connection_lost(&unreachable.context("connecting")));
    }
}
