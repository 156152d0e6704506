//! The seed's arithmetic: with independent loss `p` and `n` retries, measured R matches
//! `1 − p^(n+1)`, and resend without de-dup has the predicted UR < 1 (lost confirmations
//! cause resends the receiver cannot recognise).
//!
//! The runs use a window of one message: with a larger window one ack frame confirms many
//! messages at once, so confirmations are correlated and the per-message independence the
//! formula for UR assumes no longer holds (R is unaffected: data frames are lost one by
//! one). The mean stays the same, but its variance grows with the batch size.

use exactly_pipe::PipeMode;
use exactly_sim::{analytic, run, NetConfig, SimConfig};

const MESSAGES: u64 = 100_000;

/// Five standard errors of a proportion measured over `MESSAGES` trials, plus slack.
fn tolerance(p: f64) -> f64 {
    5.0 * (p * (1.0 - p) / MESSAGES as f64).sqrt() + 1e-4
}

#[test]
fn measured_r_matches_one_minus_p_to_the_n_plus_one() {
    for (loss, retries) in [(0.1, 0), (0.3, 0), (0.3, 1), (0.3, 2), (0.5, 3), (0.5, 1)] {
        let seed = (loss * 1000.0) as u64 + u64::from(retries);
        let net = NetConfig {
            loss,
            ..NetConfig::perfect()
        };
        let mut config = SimConfig::new(PipeMode::Resend, net, MESSAGES, seed);
        config.retries_max = Some(retries);
        config.in_flight_max = 1;
        let report = run(&config);
        let measured = report.end_to_end.reliability();
        let expected = analytic::reliability(loss, Some(retries));
        let replay = config.replay_command();
        assert!(
            (measured.r - expected).abs() <= tolerance(expected),
            "p={loss} n={retries}: R {} vs {expected}; replay: {replay}",
            measured.r
        );
        let expected_ur = analytic::uniqueness_resend(loss, 0.0, Some(retries));
        assert!(
            (measured.ur - expected_ur).abs() <= 0.01,
            "p={loss} n={retries}: UR {} vs {expected_ur}; replay: {replay}",
            measured.ur
        );
    }
}

#[test]
fn resend_without_dedup_duplicates_when_confirmations_are_lost() {
    let net = NetConfig {
        loss: 0.2,
        ..NetConfig::perfect()
    };
    let mut config = SimConfig::new(PipeMode::Resend, net, MESSAGES, 11);
    config.in_flight_max = 1;
    let report = run(&config);
    let rel = report.end_to_end.reliability();
    assert_eq!(rel.r, 1.0, "unlimited resends lose nothing");
    assert!(
        rel.ur < 0.95,
        "lost acks must cause duplicates, UR {}",
        rel.ur
    );
    let expected = analytic::uniqueness_resend(0.2, 0.0, None);
    assert!(
        (rel.ur - expected).abs() < 0.01,
        "UR {} vs {expected}",
        rel.ur
    );
}
