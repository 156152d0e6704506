//! Each worker's faults for the fault phase, drawn up front from the seed: crashes,
//! pauses and link partitions, one at a time per worker, with quiet gaps between.

use super::event::Fault;
use rand::rngs::SmallRng;
use rand::Rng;

/// How faults are drawn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FaultPlan {
    /// Faults happen before this true time; the heal ends any still going.
    pub fault_phase_ms: u64,
    /// Mean quiet time between a worker's faults.
    pub fault_gap_ms: u64,
    /// The task lease length: pauses and partitions last up to twice it.
    pub lease_ttl_ms: u64,
}

/// One worker's faults as (true time, fault), in time order: every start has its end
/// (clamped to the end of the fault phase).
pub fn draw(plan: &FaultPlan, rng: &mut SmallRng) -> Vec<(u64, Fault)> {
    let gap_ms = plan.fault_gap_ms.max(2);
    let mut faults = Vec::new();
    let mut at_ms = rng.random_range(gap_ms / 2..=gap_ms * 3 / 2);
    while at_ms < plan.fault_phase_ms {
        let (start, end, duration_ms) = match rng.random_range(0..3) {
            0 => (Fault::Crash, Fault::Restart, rng.random_range(200..=8_000)),
            1 => (
                Fault::Pause,
                Fault::Resume,
                rng.random_range(100..=2 * plan.lease_ttl_ms.max(100)),
            ),
            _ => (
                Fault::PartitionStart,
                Fault::PartitionEnd,
                rng.random_range(500..=2 * plan.lease_ttl_ms.max(500)),
            ),
        };
        let end_ms = (at_ms + duration_ms).min(plan.fault_phase_ms);
        faults.push((at_ms, start));
        faults.push((end_ms, end));
        at_ms = end_ms + rng.random_range(gap_ms / 2..=gap_ms * 3 / 2);
    }
    faults
}
