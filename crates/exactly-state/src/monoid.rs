//! Monoids: an identity and an associative combine. The laws are what make state splittable
//! by key group and mergeable after rescaling; `tests/monoid_laws.rs` checks them.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::fmt::Debug;
use std::marker::PhantomData;

/// A monoid over `Value`: `combine(zero(), a) == a == combine(a, zero())` and
/// `combine(combine(a, b), c) == combine(a, combine(b, c))`.
pub trait Monoid: Send + Sync + 'static {
    /// The values combined.
    type Value: Clone + Debug + PartialEq + Serialize + DeserializeOwned + Send + Sync + 'static;
    /// The identity.
    fn zero(&self) -> Self::Value;
    /// The associative operation.
    fn combine(&self, left: &Self::Value, right: &Self::Value) -> Self::Value;
}

/// Exact sum of `i64` values, accumulated in `i128`.
///
/// Bound: the result is the exact integer sum whenever it fits in `i128`, which is
/// guaranteed for any sum of fewer than 2^64 values that each fit in `i64` (|v| ≤ 2^63, so
/// the total stays below 2^127) — no input stream can reach it. `combine` is addition
/// modulo 2^128, which is associative and commutative over the whole `i128` range, so the
/// monoid laws hold for every value and the result does not depend on how key groups,
/// rescaling or replays split the combination. (Saturating addition, used before, is not
/// associative: `(MAX + 1) + -1 ≠ MAX + (1 + -1)`.)
#[derive(Clone, Copy, Debug, Default)]
pub struct Sum;

impl Monoid for Sum {
    type Value = i128;
    fn zero(&self) -> i128 {
        0
    }
    fn combine(&self, left: &i128, right: &i128) -> i128 {
        left.wrapping_add(*right)
    }
}

/// Count of messages (each update contributes 1, or any count). Saturating addition of
/// unsigned values is associative (every grouping gives `min(total, u64::MAX)`); 2^64
/// messages are out of reach.
#[derive(Clone, Copy, Debug, Default)]
pub struct Count;

impl Monoid for Count {
    type Value = u64;
    fn zero(&self) -> u64 {
        0
    }
    fn combine(&self, left: &u64, right: &u64) -> u64 {
        left.saturating_add(*right)
    }
}

/// Minimum; `None` is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Min<T>(PhantomData<T>);

impl<T> Min<T> {
    /// The minimum monoid.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Monoid for Min<T>
where
    T: Ord + Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Value = Option<T>;
    fn zero(&self) -> Option<T> {
        None
    }
    fn combine(&self, left: &Option<T>, right: &Option<T>) -> Option<T> {
        match (left, right) {
            (Some(l), Some(r)) => Some(l.clone().min(r.clone())),
            (Some(v), None) | (None, Some(v)) => Some(v.clone()),
            (None, None) => None,
        }
    }
}

/// Maximum; `None` is the identity.
#[derive(Clone, Copy, Debug, Default)]
pub struct Max<T>(PhantomData<T>);

impl<T> Max<T> {
    /// The maximum monoid.
    pub fn new() -> Self {
        Self(PhantomData)
    }
}

impl<T> Monoid for Max<T>
where
    T: Ord + Clone + Debug + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    type Value = Option<T>;
    fn zero(&self) -> Option<T> {
        None
    }
    fn combine(&self, left: &Option<T>, right: &Option<T>) -> Option<T> {
        match (left, right) {
            (Some(l), Some(r)) => Some(l.clone().max(r.clone())),
            (Some(v), None) | (None, Some(v)) => Some(v.clone()),
            (None, None) => None,
        }
    }
}
