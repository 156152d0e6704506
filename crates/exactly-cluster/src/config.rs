//! The timing of the protocol: lease lengths, how often they are renewed, and the clock
//! assumptions self-fencing rests on. Checked once, with a typed error, before any core
//! is built from it.

use thiserror::Error;

/// The largest lease any request may ask for: one hour. A longer lease would keep a
/// crashed worker's tasks from running elsewhere for longer than anyone would wait.
pub const LEASE_TTL_MS_MAX: u64 = 3_600_000;

/// The largest clock-rate drift the protocol accepts: 10 % (100 000 ppm). Beyond that the
/// usable part of a lease shrinks so much that the configuration is almost certainly a
/// mistake in units.
pub const DRIFT_BOUND_PPM_MAX: u64 = 100_000;

const PPM: u64 = 1_000_000;

/// The protocol's timing. Both sides use it: a worker asks the store for leases of these
/// lengths and fences itself by the same numbers, so the two cannot disagree.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ClusterConfig {
    /// Length of a task lease, by the store's clock. A crashed owner's task is free this
    /// long after the store granted its last renewal.
    pub lease_ttl_ms: u64,
    /// A running task's lease is renewed this long after the request that last renewed
    /// it was sent.
    pub renew_interval_ms: u64,
    /// Length of a worker's membership lease and of the coordinator lease. These only
    /// steer assignment (no safety rests on them), so they may be shorter than
    /// `lease_ttl_ms`: a dead worker leaves the membership, and its tasks are reassigned,
    /// before its task leases expire.
    pub member_ttl_ms: u64,
    /// A worker heartbeats (and the coordinator renews its lease and looks at the
    /// membership) this often.
    pub heartbeat_interval_ms: u64,
    /// A request unanswered for this long is given up (a late answer is then ignored) and
    /// may be sent again; also the pause between attempts to acquire a task.
    pub retry_interval_ms: u64,
    /// Bound ρ on how far a worker's monotonic clock rate may differ from the store's
    /// clock rate, in parts per million: local rate ∈ [1 − ρ, 1 + ρ].
    pub drift_bound_ppm: u64,
    /// Time, by the local clock, between a worker stopping a task and its lease possibly
    /// expiring at the store: covers the driver's delay in acting on a stop.
    pub safety_margin_ms: u64,
}

impl Default for ClusterConfig {
    /// A crashed worker's tasks run elsewhere within about `lease_ttl_ms` + 1 s (see
    /// `docs/cluster.md`, "Defaults"): a 6 s lease renewed every 2 s (two retries' worth
    /// of slack before self-fencing), a 4 s membership renewed every second, 1 % drift
    /// and a 200 ms margin.
    fn default() -> Self {
        ClusterConfig {
            lease_ttl_ms: 6_000,
            renew_interval_ms: 2_000,
            member_ttl_ms: 4_000,
            heartbeat_interval_ms: 1_000,
            retry_interval_ms: 500,
            drift_bound_ppm: 10_000,
            safety_margin_ms: 200,
        }
    }
}

/// A [`ClusterConfig`] that cannot work.
#[derive(Clone, Debug, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// A duration that must be positive is zero.
    #[error("{field} must be greater than zero")]
    Zero {
        /// The field's name.
        field: &'static str,
    },
    /// A lease longer than [`LEASE_TTL_MS_MAX`].
    #[error("{field} = {value_ms} ms exceeds the maximum of {LEASE_TTL_MS_MAX} ms")]
    LeaseTooLong {
        /// The field's name.
        field: &'static str,
        /// Its value.
        value_ms: u64,
    },
    /// A drift bound over [`DRIFT_BOUND_PPM_MAX`].
    #[error("drift_bound_ppm = {drift_bound_ppm} exceeds the maximum of {DRIFT_BOUND_PPM_MAX}")]
    DriftTooLarge {
        /// The configured bound.
        drift_bound_ppm: u64,
    },
    /// The retry interval is not shorter than an interval whose requests it retries.
    #[error("retry_interval_ms = {retry_ms} must be shorter than {field} = {interval_ms}")]
    RetryNotShorter {
        /// The interval's field name.
        field: &'static str,
        /// The interval.
        interval_ms: u64,
        /// The retry interval.
        retry_ms: u64,
    },
    /// Self-fencing would stop a holder before it had time to renew once and retry once.
    #[error(
        "a {lease} lease is usable for {usable_ms} ms after its request is sent, \
         not more than the {interval_ms} ms renewal interval plus a {retry_ms} ms retry"
    )]
    NoRoomToRenew {
        /// Which lease: `"task"` or `"member"`.
        lease: &'static str,
        /// The lease's usable part: TTL × (1 − ρ) − safety margin.
        usable_ms: u64,
        /// The renewal (or heartbeat) interval.
        interval_ms: u64,
        /// The retry interval.
        retry_ms: u64,
    },
}

impl ClusterConfig {
    /// Checks that the timing can work: positive durations, leases within bounds, a sane
    /// drift bound, retries shorter than the intervals they retry within, and time to
    /// renew (and retry once) before self-fencing.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.check_positive()?;
        for (field, value_ms) in [
            ("lease_ttl_ms", self.lease_ttl_ms),
            ("member_ttl_ms", self.member_ttl_ms),
        ] {
            if value_ms > LEASE_TTL_MS_MAX {
                return Err(ConfigError::LeaseTooLong { field, value_ms });
            }
        }
        if self.drift_bound_ppm > DRIFT_BOUND_PPM_MAX {
            return Err(ConfigError::DriftTooLarge {
                drift_bound_ppm: self.drift_bound_ppm,
            });
        }
        for (field, interval_ms) in [
            ("renew_interval_ms", self.renew_interval_ms),
            ("heartbeat_interval_ms", self.heartbeat_interval_ms),
        ] {
            if self.retry_interval_ms >= interval_ms {
                return Err(ConfigError::RetryNotShorter {
                    field,
                    interval_ms,
                    retry_ms: self.retry_interval_ms,
                });
            }
        }
        self.check_room("task", self.task_usable_ms(), self.renew_interval_ms)?;
        self.check_room(
            "member",
            self.member_usable_ms(),
            self.heartbeat_interval_ms,
        )
    }

    fn check_positive(&self) -> Result<(), ConfigError> {
        for (field, value) in [
            ("lease_ttl_ms", self.lease_ttl_ms),
            ("renew_interval_ms", self.renew_interval_ms),
            ("member_ttl_ms", self.member_ttl_ms),
            ("heartbeat_interval_ms", self.heartbeat_interval_ms),
            ("retry_interval_ms", self.retry_interval_ms),
        ] {
            if value == 0 {
                return Err(ConfigError::Zero { field });
            }
        }
        Ok(())
    }

    fn check_room(
        &self,
        lease: &'static str,
        usable_ms: u64,
        interval_ms: u64,
    ) -> Result<(), ConfigError> {
        if usable_ms > interval_ms.saturating_add(self.retry_interval_ms) {
            Ok(())
        } else {
            Err(ConfigError::NoRoomToRenew {
                lease,
                usable_ms,
                interval_ms,
                retry_ms: self.retry_interval_ms,
            })
        }
    }

    /// How long after sending the request that granted (or renewed) a task lease its
    /// holder may keep running the task, by its own clock: `lease_ttl_ms × (1 − ρ) −
    /// safety_margin_ms`. See [`usable_ms`].
    pub fn task_usable_ms(&self) -> u64 {
        usable_ms(
            self.lease_ttl_ms,
            self.drift_bound_ppm,
            self.safety_margin_ms,
        )
    }

    /// The same for the membership and coordinator leases.
    pub fn member_usable_ms(&self) -> u64 {
        usable_ms(
            self.member_ttl_ms,
            self.drift_bound_ppm,
            self.safety_margin_ms,
        )
    }
}

/// The part of a lease of `ttl_ms` (store time) its holder may use, measured on its own
/// clock from the moment it sent the granting request: `ttl_ms × (1 − ρ) − margin_ms`,
/// rounded down, 0 when nothing is left.
///
/// Why this is safe: the store granted the lease at store time `s ≥` the send instant, so
/// it expires no earlier than `send + ttl_ms` (store time). A clock whose rate is at least
/// `1 − ρ` of the store's measures at least `(1 − ρ) × d` over a store-time interval `d`;
/// so when the local clock has advanced by `ttl_ms × (1 − ρ) − margin_ms` since the send,
/// at most `ttl_ms − margin_ms / (1 − ρ)` store time has passed: the lease is still valid
/// for at least `margin_ms` more.
pub fn usable_ms(ttl_ms: u64, drift_bound_ppm: u64, margin_ms: u64) -> u64 {
    // Round the drift allowance up, so the usable part is rounded down (the safe side).
    let drift_ms = (u128::from(ttl_ms) * u128::from(drift_bound_ppm)).div_ceil(u128::from(PPM));
    match u64::try_from(drift_ms) {
        Ok(drift_ms) => ttl_ms.saturating_sub(drift_ms).saturating_sub(margin_ms),
        // Only with a drift bound over 100 %: nothing of the lease is usable.
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_leave_room() {
        let config = ClusterConfig::default();
        assert_eq!(config.validate(), Ok(()));
        assert_eq!(config.task_usable_ms(), 6_000 - 60 - 200);
        assert_eq!(config.member_usable_ms(), 4_000 - 40 - 200);
    }

    #[test]
    fn usable_part_rounds_down() {
        assert_eq!(usable_ms(1_001, 1_000, 0), 999);
        assert_eq!(usable_ms(10, 0, 20), 0);
    }

    #[test]
    fn bad_configs_get_typed_errors() {
        let zero = ClusterConfig {
            retry_interval_ms: 0,
            ..ClusterConfig::default()
        };
        assert_eq!(
            zero.validate(),
            Err(ConfigError::Zero {
                field: "retry_interval_ms"
            })
        );
        let tight = ClusterConfig {
            renew_interval_ms: 5_500,
            ..ClusterConfig::default()
        };
        assert!(matches!(
            tight.validate(),
            Err(ConfigError::NoRoomToRenew { lease: "task", .. })
        ));
        let drift = ClusterConfig {
            drift_bound_ppm: 200_000,
            ..ClusterConfig::default()
        };
        assert!(matches!(
            drift.validate(),
            Err(ConfigError::DriftTooLarge { .. })
        ));
    }
}
