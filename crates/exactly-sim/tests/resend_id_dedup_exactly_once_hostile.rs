//! Resend + ID de-dup over the hostile link (30% loss, 10% duplication, reordering, 1%
//! corruption, healing partitions), 100k messages per seed: R = 1, UR = 1, and the
//! de-dup memory stays within its configured bound. `EXACTLY_SEEDS=N` sweeps more seeds.

use exactly_pipe::{DeliveryMode, PipeMode, ReceiverConfig};
use exactly_sim::{run, seeds::seeds, NetConfig, SimConfig};

#[test]
fn resend_id_dedup_is_exactly_once_on_every_seed() {
    let gap_ids_max = ReceiverConfig::for_mode(PipeMode::ResendIdDedup).gap_ids_max;
    let all: Vec<u64> = seeds(100).collect();
    std::thread::scope(|scope| {
        for chunk in all.chunks(all.len().div_ceil(2).max(1)) {
            scope.spawn(move || {
                for &seed in chunk {
                    let config = SimConfig::new(
                        PipeMode::ResendIdDedup,
                        NetConfig::hostile(),
                        100_000,
                        seed,
                    );
                    let report = run(&config);
                    let replay = config.replay_command();
                    assert!(
                        report.completed,
                        "seed {seed} did not finish; replay: {replay}"
                    );
                    assert_eq!(
                        report.end_to_end.mode(),
                        DeliveryMode::ExactlyOnce,
                        "seed {seed}: {:?}; replay: {replay}",
                        report.end_to_end
                    );
                    let hop = &report.hops[0];
                    assert!(hop.net.lost > 0 && hop.net.duplicated > 0 && hop.net.partitioned > 0);
                    assert!(
                        hop.receiver.frames_corrupt > 0,
                        "seed {seed}: no corruption seen"
                    );
                    assert!(
                        hop.peaks.gap_ids <= gap_ids_max,
                        "seed {seed}: {:?}",
                        hop.peaks
                    );
                    assert!(hop.peaks.window_span <= config.in_flight_max);
                }
            });
        }
    });
}
