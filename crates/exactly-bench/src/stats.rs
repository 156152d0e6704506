//! Medians over rounds: every figure the benchmarks report is the middle of several
//! interleaved rounds, never the best one.

/// The element whose `rate` is the median. With an even number of elements it is the
/// lower of the two middle ones (never the better half: that would be best-of-two).
/// `None` when `results` is empty.
pub fn median_by<T>(mut results: Vec<T>, rate: impl Fn(&T) -> f64) -> Option<T> {
    results.sort_by(|a, b| rate(a).total_cmp(&rate(b)));
    let middle = results.len().saturating_sub(1) / 2;
    results.into_iter().nth(middle)
}

/// The median of plain numbers (lower middle for an even count); `None` when empty.
pub fn median(values: &[f64]) -> Option<f64> {
    median_by(values.to_vec(), |v| *v)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_counts_take_the_middle() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), Some(2.0));
    }

    #[test]
    fn even_counts_take_the_lower_middle_not_the_best() {
        assert_eq!(median(&[1.0, 9.0]), Some(1.0));
        assert_eq!(median(&[4.0, 1.0, 3.0, 2.0]), Some(2.0));
    }

    #[test]
    fn empty_has_no_median() {
        assert_eq!(median(&[]), None);
    }
}
