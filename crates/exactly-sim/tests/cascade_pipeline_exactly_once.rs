//! Three ID-de-dup hops with cascade confirmation over hostile links: every hop confirms
//! only after the next one confirmed, and the pipeline is exactly-once end to end, with
//! each receiver's unconfirmed messages within their bound.

use exactly_pipe::{DeliveryMode, PipeMode, ReceiverConfig};
use exactly_sim::{run, seeds::seeds, NetConfig, SimConfig};

#[test]
fn cascade_pipeline_is_exactly_once() {
    let pending_max = ReceiverConfig::for_mode(PipeMode::ResendIdDedup).pending_confirm_max;
    for seed in seeds(10) {
        let mut config =
            SimConfig::new(PipeMode::ResendIdDedup, NetConfig::hostile(), 20_000, seed);
        config.hops = 3;
        config.cascade = true;
        let report = run(&config);
        let replay = config.replay_command();
        assert!(report.completed, "seed {seed}; replay: {replay}");
        assert_eq!(
            report.end_to_end.mode(),
            DeliveryMode::ExactlyOnce,
            "seed {seed}; replay: {replay}"
        );
        for hop in &report.hops {
            assert_eq!(hop.meter.mode(), DeliveryMode::ExactlyOnce, "seed {seed}");
            assert!(
                hop.peaks.pending_confirm <= pending_max,
                "seed {seed}: {:?}",
                hop.peaks
            );
        }
        // Cascade bounds the queue between hops by the upstream receiver's pending bound.
        assert!(
            report.hops[1].peaks.input_queue <= pending_max,
            "seed {seed}"
        );
    }
}
