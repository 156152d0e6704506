//! The analytic R and UR for one hop with independent per-frame loss `p` and duplication
//! `d` (no partitions, no corruption): what the simulator's measurements should approach.

/// Reliability of a pipe that makes up to `retries + 1` attempts: `1 − p^(retries+1)`
/// (`None`: unlimited retries, R = 1). At-most-once is `retries = Some(0)`.
pub fn reliability(loss: f64, retries: Option<u32>) -> f64 {
    match retries {
        None => 1.0,
        Some(n) => 1.0 - loss.powi(n.saturating_add(1).min(i32::MAX as u32) as i32),
    }
}

/// Uniqueness rate of resend *without* de-duplication. Attempt `k + 1` is made only if no
/// earlier attempt was confirmed; an attempt is confirmed when both it and its ack arrive
/// (`q² `, `q = 1 − p`), assuming acks arrive before the next timeout. Copies received per
/// message: `(1 + d) · q · Σ_{k=0..=n} (1 − q²)^k`; UR = R / that.
pub fn uniqueness_resend(loss: f64, dup: f64, retries: Option<u32>) -> f64 {
    let q = 1.0 - loss;
    let miss = 1.0 - q * q;
    let attempts = match retries {
        Some(n) => (0..=n).map(|k| miss.powi(k as i32)).sum::<f64>(),
        None if miss < 1.0 => 1.0 / (1.0 - miss),
        None => f64::INFINITY,
    };
    let copies = (1.0 + dup) * q * attempts;
    if copies <= 0.0 {
        return 1.0;
    }
    (reliability(loss, retries) / copies).min(1.0)
}

/// Uniqueness rate of an at-most-once pipe: each arriving frame is a copy with
/// probability `d` of a twin, `UR = 1 / (1 + d)`.
pub fn uniqueness_at_most_once(dup: f64) -> f64 {
    1.0 / (1.0 + dup)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seed_examples() {
        // The seed: R = 0.5 → 0.75 after one retry → 0.875 after two.
        assert!((reliability(0.5, Some(1)) - 0.75).abs() < 1e-12);
        assert!((reliability(0.5, Some(2)) - 0.875).abs() < 1e-12);
        assert_eq!(reliability(0.5, None), 1.0);
        // No loss, no dup: one copy per message.
        assert!((uniqueness_resend(0.0, 0.0, Some(3)) - 1.0).abs() < 1e-12);
    }
}
