//! The monoid laws — identity and associativity — for every built-in monoid and for a
//! user-defined one (an average as count + sum), checked with random values.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_state::{Count, Max, Min, Monoid, Sum};
use proptest::prelude::*;
use serde::{Deserialize, Serialize};

/// A user-defined monoid: (count, sum) whose ratio is an average.
struct Average;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct CountSum {
    count: u64,
    sum: i64,
}

impl Monoid for Average {
    type Value = CountSum;
    fn zero(&self) -> CountSum {
        CountSum { count: 0, sum: 0 }
    }
    fn combine(&self, l: &CountSum, r: &CountSum) -> CountSum {
        CountSum {
            count: l.count + r.count,
            sum: l.sum + r.sum,
        }
    }
}

fn laws<M: Monoid>(m: &M, a: &M::Value, b: &M::Value, c: &M::Value) {
    assert_eq!(m.combine(&m.zero(), a), *a, "left identity");
    assert_eq!(m.combine(a, &m.zero()), *a, "right identity");
    assert_eq!(
        m.combine(&m.combine(a, b), c),
        m.combine(a, &m.combine(b, c)),
        "associativity"
    );
}

proptest! {
    #[test]
    fn built_in_monoids_obey_the_laws(a in -1_000_000i64..1_000_000, b in -1_000_000i64..1_000_000, c in -1_000_000i64..1_000_000) {
        laws(&Sum, &i128::from(a), &i128::from(b), &i128::from(c));
        laws(&Count, &a.unsigned_abs(), &b.unsigned_abs(), &c.unsigned_abs());
        laws(&Min::<i64>::new(), &Some(a), &None, &Some(c));
        laws(&Min::<i64>::new(), &Some(a), &Some(b), &Some(c));
        laws(&Max::<i64>::new(), &Some(a), &Some(b), &None);
        laws(&Max::<i64>::new(), &Some(a), &Some(b), &Some(c));
    }

    #[test]
    fn a_user_defined_monoid_obeys_the_laws(v in proptest::collection::vec((0u64..100, -1000i64..1000), 3)) {
        let [a, b, c] = [0, 1, 2].map(|i| CountSum { count: v[i].0, sum: v[i].1 });
        laws(&Average, &a, &b, &c);
    }
}

proptest! {
    /// The laws over the whole range of each value type, extremes included (the old
    /// saturating `Sum` broke associativity at the edges).
    #[test]
    fn sum_and_count_obey_the_laws_over_their_full_range(
        a in any::<i128>(), b in any::<i128>(), c in any::<i128>(),
        x in any::<u64>(), y in any::<u64>(), z in any::<u64>(),
    ) {
        laws(&Sum, &a, &b, &c);
        laws(&Sum, &i128::MAX, &a, &-a);
        laws(&Sum, &i128::MIN, &1, &-1);
        laws(&Count, &x, &y, &z);
        laws(&Count, &u64::MAX, &x, &y);
    }

    /// Within the documented bound (any number of `i64` values below 2^64) the sum is the
    /// exact integer sum, checked against a naive big-integer sum of the parts.
    #[test]
    fn sums_of_i64_values_are_exact(values in proptest::collection::vec(any::<i64>(), 0..200)) {
        let total = values.iter().fold(Sum.zero(), |acc, v| Sum.combine(&acc, &i128::from(*v)));
        // Oracle: split every value into sign and magnitude and add magnitudes as u128.
        let (mut positive, mut negative) = (0u128, 0u128);
        for v in &values {
            match *v >= 0 {
                true => positive += u128::from(v.unsigned_abs()),
                false => negative += u128::from(v.unsigned_abs()),
            }
        }
        let exact = positive as i128 - negative as i128;
        prop_assert_eq!(total, exact);
    }
}

#[test]
fn a_sum_past_i64_stays_exact() {
    assert_eq!(
        Sum.combine(&i128::from(i64::MAX), &1),
        i128::from(i64::MAX) + 1
    );
    assert_eq!(Count.combine(&u64::MAX, &1), u64::MAX);
}
