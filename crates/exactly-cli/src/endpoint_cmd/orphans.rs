//! The bank's PostgreSQL run lock and the clean-up of the schemas a killed run left
//! behind: `exactly_postgres::orphans`, under the bank's schema prefix.

pub(crate) use exactly_postgres::orphans::lock_run;

/// Every bank schema prefix starts with this (the clean-up looks for it).
pub(crate) const SCHEMA_PREFIX_START: &str = "exactly_bank_";

/// Drops the schemas of killed bank runs; returns the prefixes dropped.
pub(crate) fn drop_orphans(
    url: &str,
) -> Result<Vec<String>, exactly_postgres::orphans::OrphanError> {
    exactly_postgres::orphans::drop_orphans(url, SCHEMA_PREFIX_START)
}
