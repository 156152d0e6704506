//! What every lease operation shares: where it runs ([`Scope`]), the lease-length check,
//! times as SQL parameters, and the error for an explanation that disagrees with the SQL.
//! (Kept apart so that `lease_ops.rs` and `lease_task_ops.rs` depend on it, not on each
//! other.)

use crate::lease_error::Failure;
use crate::lease_schema::Tables;

/// The longest lease the model grants (`exactly_cluster::config::LEASE_TTL_MS_MAX`).
const TTL_MS_MAX: u64 = exactly_cluster::config::LEASE_TTL_MS_MAX;

/// Where an operation runs: the job's tables and the clock.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Scope<'a> {
    pub tables: &'a Tables,
    pub job: &'a str,
    /// `Some`: the fixed test time (see [`crate::lease_schema::StoreClock`]).
    pub fixed_ms: Option<i64>,
}

pub(crate) fn ttl_ok(ttl_ms: u64) -> bool {
    (1..=TTL_MS_MAX).contains(&ttl_ms)
}

/// A time or length as a `bigint` parameter.
pub(crate) fn sql_ms(value_ms: u64) -> Result<i64, Failure> {
    i64::try_from(value_ms)
        .map_err(|_| Failure::bad("clock", format!("{value_ms} ms does not fit a bigint")))
}

/// The SQL decision and the explanation read from the locked row disagree: the rows
/// changed under the lock, which only a change outside this store can do.
pub(crate) fn disagree(what: &str) -> Failure {
    Failure::bad("cluster_jobs/cluster_tasks", what.to_string())
}
