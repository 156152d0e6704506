//! A cluster run is a pure function of its configuration: the same seed replays the same
//! trace (events, times, messages, actions — hashed), a different seed gives another.

use exactly_sim::cluster::{run_cluster, ClusterSimConfig};

#[test]
fn same_seed_same_trace_hash() {
    for seed in [0, 7, 42] {
        let config = ClusterSimConfig::hostile(seed);
        let (Ok(a), Ok(b)) = (run_cluster(&config), run_cluster(&config)) else {
            panic!("seed {seed}: the hostile configuration must run");
        };
        assert_eq!(a, b, "seed {seed}");
        assert!(a.events > 1_000, "seed {seed}: the run did something");
        let Ok(other) = run_cluster(&ClusterSimConfig::hostile(seed + 1000)) else {
            panic!("seed {}: the hostile configuration must run", seed + 1000);
        };
        assert_ne!(a.trace_hash, other.trace_hash, "seed {seed}");
    }
}
