//! Along a pipeline R and UR multiply: loss-only hops multiply R, duplication-only hops
//! multiply UR, and the seed's mode composition holds on measured runs.

use exactly_pipe::{DeliveryMode, PipeMode, Reliability};
use exactly_sim::{run, NetConfig, SimConfig, SimReport};

const MESSAGES: u64 = 100_000;

fn net(loss: f64, dup: f64) -> NetConfig {
    NetConfig {
        loss,
        dup,
        ..NetConfig::perfect()
    }
}

fn pipeline(hops: Vec<(PipeMode, NetConfig)>, seed: u64) -> SimReport {
    let mut config = SimConfig::new(PipeMode::AtMostOnce, NetConfig::perfect(), MESSAGES, seed);
    config.per_hop = hops;
    run(&config)
}

fn composed(report: &SimReport) -> Reliability {
    Reliability::compose(report.hops.iter().map(|h| h.meter.reliability()))
}

#[test]
fn loss_only_hops_multiply_reliability() {
    let report = pipeline(
        vec![
            (PipeMode::AtMostOnce, net(0.1, 0.0)),
            (PipeMode::AtMostOnce, net(0.2, 0.0)),
        ],
        1,
    );
    let measured = report.end_to_end.reliability();
    let product = composed(&report);
    assert!(
        (measured.r - product.r).abs() < 1e-9,
        "{measured:?} vs {product:?}"
    );
    assert!((measured.r - 0.9 * 0.8).abs() < 0.01, "{measured:?}");
    assert_eq!(report.end_to_end.mode(), DeliveryMode::AtMostOnce);
}

#[test]
fn duplication_only_hops_multiply_uniqueness() {
    let report = pipeline(
        vec![
            (PipeMode::AtMostOnce, net(0.0, 0.2)),
            (PipeMode::AtMostOnce, net(0.0, 0.1)),
        ],
        2,
    );
    let measured = report.end_to_end.reliability();
    let product = composed(&report);
    assert!(
        (measured.ur - product.ur).abs() < 0.005,
        "{measured:?} vs {product:?}"
    );
    assert!(
        (measured.ur - 1.0 / (1.2 * 1.1)).abs() < 0.01,
        "{measured:?}"
    );
    assert_eq!(report.end_to_end.mode(), DeliveryMode::AtLeastOnce);
}

#[test]
fn at_most_once_then_at_least_once_is_unreliable() {
    let report = pipeline(
        vec![
            (PipeMode::AtMostOnce, net(0.1, 0.0)),
            (PipeMode::Resend, net(0.2, 0.0)),
        ],
        3,
    );
    assert_eq!(report.hops[0].meter.mode(), DeliveryMode::AtMostOnce);
    assert_eq!(report.hops[1].meter.mode(), DeliveryMode::AtLeastOnce);
    assert_eq!(report.end_to_end.mode(), DeliveryMode::Unreliable);
    assert_eq!(composed(&report).mode(), DeliveryMode::Unreliable);
}

#[test]
fn exactly_once_then_at_least_once_is_at_least_once() {
    let report = pipeline(
        vec![
            (PipeMode::ResendIdDedup, net(0.2, 0.1)),
            (PipeMode::Resend, net(0.2, 0.0)),
        ],
        4,
    );
    assert_eq!(report.hops[0].meter.mode(), DeliveryMode::ExactlyOnce);
    assert_eq!(report.hops[1].meter.mode(), DeliveryMode::AtLeastOnce);
    assert_eq!(report.end_to_end.mode(), DeliveryMode::AtLeastOnce);
    assert_eq!(composed(&report).mode(), DeliveryMode::AtLeastOnce);
}
