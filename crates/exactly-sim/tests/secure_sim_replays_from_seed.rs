//! A secure simulated run is reproducible from its seed in everything it measures: the
//! channel's ephemeral keys and session indices are random, but no decision of the pipe,
//! the link or the channel depends on their values, so two runs of one config give the
//! same report (counts, R, UR, channel counters, simulated time).

use exactly_pipe::PipeMode;
use exactly_sim::{run, NetConfig, SimConfig};

#[test]
fn secure_run_replays_from_its_seed() {
    let mut config = SimConfig::new(PipeMode::ResendIdDedup, NetConfig::hostile(), 5_000, 42);
    config.secure = true;
    let (first, second) = (run(&config), run(&config));
    assert_eq!(first, second, "replay: {}", config.replay_command());
    assert!(first.hops.iter().all(|h| h.channel.is_some()));
}
