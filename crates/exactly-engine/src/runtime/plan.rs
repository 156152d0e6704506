//! A job's code, typed ([`TypedPlan`]: the fused stateless chain and the keyed operator)
//! and erased ([`Plan`]), so a [`Job`](crate::Job) can hold any job. The runtime
//! implements [`Plan`] for every typed plan (in `coordinator.rs`).

use super::context::RunContext;
use super::error::RunError;
use super::recovery::Restored;
use super::report::RunReport;
use crate::operator::KeyedOperator;
use crate::types::{Rejection, SourceRecord};
use std::sync::Arc;

/// The fused stateless part of a job: one source record in, any number of items out, or
/// the record rejected as bad input (dead-lettered or failing the job, per
/// [`BadInputPolicy`](crate::BadInputPolicy)).
pub(crate) type Chain<T> =
    Arc<dyn Fn(SourceRecord, &mut dyn FnMut(T)) -> Result<(), Rejection> + Send + Sync>;
/// Makes one operator instance per task.
pub(crate) type OperatorFactory<K, T, O> =
    Arc<dyn Fn() -> Box<dyn KeyedOperator<K, T, O>> + Send + Sync>;

/// A job with its types erased.
pub(crate) trait Plan: Send + Sync {
    fn execute(&self, ctx: &RunContext<'_>, restored: &Restored) -> Result<RunReport, RunError>;
}

/// A job with its types.
pub(crate) struct TypedPlan<K, T, O> {
    pub chain: Chain<(K, T)>,
    pub operator: OperatorFactory<K, T, O>,
    pub route_by_partition: bool,
}
