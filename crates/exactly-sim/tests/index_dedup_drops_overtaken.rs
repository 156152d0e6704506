//! Index de-duplication keeps one integer per sender, so a message overtaken by a later
//! one is discarded: with a window over a lossy link it is at-most-once (UR = 1, R < 1),
//! and with a window of one (nothing can overtake) it is exactly-once.

use exactly_pipe::{DeliveryMode, PipeMode};
use exactly_sim::{run, NetConfig, SimConfig};

fn lossy() -> NetConfig {
    NetConfig {
        loss: 0.2,
        dup: 0.1,
        reorder: 0.1,
        ..NetConfig::perfect()
    }
}

#[test]
fn windowed_index_dedup_is_at_most_once() {
    let config = SimConfig::new(PipeMode::ResendIndexDedup, lossy(), 20_000, 5);
    let report = run(&config);
    assert_eq!(
        report.end_to_end.mode(),
        DeliveryMode::AtMostOnce,
        "{:?}",
        report.end_to_end
    );
    assert!(report.hops[0].receiver.stale_discarded > 0);
}

#[test]
fn stop_and_wait_index_dedup_is_exactly_once() {
    let mut config = SimConfig::new(PipeMode::ResendIndexDedup, lossy(), 5_000, 6);
    config.in_flight_max = 1;
    let report = run(&config);
    assert_eq!(
        report.end_to_end.mode(),
        DeliveryMode::ExactlyOnce,
        "{:?}",
        report.end_to_end
    );
    assert!(report.in_order);
}
