//! A run is a pure function of its configuration: the same seed replays the same run
//! (which is what makes a printed seed useful), a different seed gives a different one.

use exactly_pipe::PipeMode;
use exactly_sim::{run, NetConfig, SimConfig};

#[test]
fn same_seed_replays_identically() {
    let config = SimConfig::new(PipeMode::Resend, NetConfig::hostile(), 5_000, 42);
    let a = run(&config);
    let b = run(&config);
    assert_eq!(a, b);
    let other = run(&SimConfig { seed: 43, ..config });
    assert_ne!(a.hops[0].net, other.hops[0].net);
}
