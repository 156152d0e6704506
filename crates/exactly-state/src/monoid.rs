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

/// Sum of `i64` (wrapping is refused: it saturates, so an overflow is visible as a pinned
/// value rather than a silent sign flip).
#[derive(Clone, Copy, Debug, Default)]
pub struct Sum;

impl Monoid for Sum {
    type Value = i64;
    fn zero(&self) -> i64 {
        0
    }
    fn combine(&self, left: &i64, right: &i64) -> i64 {
        left.saturating_add(*right)
    }
}

/// Count of messages (each update contributes 1, or any count).
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
