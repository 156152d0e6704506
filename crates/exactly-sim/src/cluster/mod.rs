//! The cluster simulation: N [`WorkerCore`](exactly_cluster::WorkerCore)s against one
//! [`LeaseTable`](exactly_cluster::LeaseTable), each over its own seeded lossy link, with
//! crashes, pauses (the zombie case), partitions longer than a lease, and per-machine
//! clock drift — judged by an independent [`Auditor`].
//!
//! True time is the store's clock; each worker reads its own [`DriftClock`]. Time jumps
//! from event to event and everything random comes from [`ClusterSimConfig::seed`], so a
//! run is replayed exactly from its seed ([`ClusterReport::trace_hash`]).
//!
//! A run has a fault phase and then a heal phase: links become perfect, paused workers
//! resume and crashed ones restart, and the auditor checks that the cluster settles —
//! every task running on exactly one live worker, balanced — within
//! [`ClusterSimConfig::heal_bound_ms`], and stays settled to the end.
//!
//! # Layout
//! - [`event`]: the events and messages of a run.
//! - [`clock`]: [`DriftClock`], a machine's drifting monotonic clock.
//! - [`link`]: [`LinkFaults`], one worker's link to the store.
//! - [`schedule`]: the fault schedule drawn from the seed.
//! - [`audit`]: the [`Auditor`] and its [`Violation`]s.
//! - [`trace`]: the trace hash.
//! - [`world`]: the event loop that drives it all.

pub mod audit;
pub mod clock;
pub mod event;
pub mod link;
pub mod schedule;
pub mod trace;
pub mod world;

pub use audit::{Auditor, Violation};
pub use clock::DriftClock;
pub use link::LinkFaults;
pub use world::run_cluster;

use exactly_cluster::{ClusterConfig, ConfigError, WorkerError};
use thiserror::Error;

/// One cluster simulation.
#[derive(Clone, Debug, PartialEq)]
pub struct ClusterSimConfig {
    /// Everything random is drawn from this.
    pub seed: u64,
    /// Worker processes (slots; a restarted process is a new incarnation in its slot).
    pub workers: usize,
    /// Tasks of the job.
    pub tasks: u32,
    /// The protocol's timing, as every worker is configured.
    pub cluster: ClusterConfig,
    /// Link faults during the fault phase (the heal phase's links only delay).
    pub link: LinkFaults,
    /// Length of the fault phase.
    pub fault_phase_ms: u64,
    /// Length of the heal phase that follows.
    pub heal_phase_ms: u64,
    /// The cluster must be settled this long after the heal starts, and stay so.
    pub heal_bound_ms: u64,
    /// Mean quiet time between one worker's faults.
    pub fault_gap_ms: u64,
    /// Each machine's clock rate differs from true time by a ppm drawn from this range
    /// (inclusive). Within ±`cluster.drift_bound_ppm` the protocol must be safe.
    pub clock_rate_ppm: (i64, i64),
    /// A running task tries to commit a checkpoint about this often.
    pub commit_interval_ms: u64,
}

impl ClusterSimConfig {
    /// The hostile run: 4 workers, 10 tasks, default timing, a lossy reordering link,
    /// 60 s of crashes, pauses and partitions (a fault per worker every ~6 s), clocks
    /// drifting anywhere within the bound, then a 40 s heal phase.
    pub fn hostile(seed: u64) -> Self {
        let cluster = ClusterConfig::default();
        let drift_ppm = i64::try_from(cluster.drift_bound_ppm).unwrap_or(0);
        ClusterSimConfig {
            seed,
            workers: 4,
            tasks: 10,
            cluster,
            link: LinkFaults::hostile(),
            fault_phase_ms: 60_000,
            heal_phase_ms: 40_000,
            heal_bound_ms: HEAL_BOUND_MS,
            fault_gap_ms: 6_000,
            clock_rate_ppm: (-drift_ppm, drift_ppm),
            commit_interval_ms: 300,
        }
    }

    /// A command that replays this run's seed.
    pub fn replay_hint(&self) -> String {
        format!(
            "seed {} ({} workers, {} tasks, clock rates {:?} ppm)",
            self.seed, self.workers, self.tasks, self.clock_rate_ppm
        )
    }
}

/// The liveness bound of the default timing (`docs/cluster.md`, "What the simulation
/// checks"): the slowest path is a lease renewed (or a late duplicate acquire granted)
/// just before the heal — it expires within `lease_ttl_ms` (6 s) plus the longest
/// message delay (0.85 s), and the assignee's next acquire comes within the retry
/// interval (0.5 s). Membership expiry (4 s), a coordinator takeover, a publish and a
/// heartbeat (1 s each) run alongside. 10 s leaves ~2.5 s of slack; 20 000 seeds settled
/// within 7.2 s.
pub const HEAL_BOUND_MS: u64 = 10_000;

/// A simulation that cannot run.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum ClusterSimError {
    /// The workers' configuration is invalid.
    #[error("invalid cluster configuration: {0}")]
    Config(#[from] ConfigError),
    /// The simulator fed a worker core wrongly (a simulator bug).
    #[error("worker core refused an input: {0}")]
    Worker(#[from] WorkerError),
    /// No workers, no tasks, or a clock rate that stops or reverses time.
    #[error("impossible simulation: {0}")]
    Impossible(&'static str),
}

/// What a run did and whether the auditor found anything.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClusterReport {
    /// The seed.
    pub seed: u64,
    /// Hash of every event processed and action taken, with its time.
    pub trace_hash: u64,
    /// Events processed.
    pub events: u64,
    /// Broken guarantees (a) and (b), in the order found.
    pub violations: Vec<Violation>,
    /// How long after the heal the cluster settled for good (`None`: not settled at the
    /// end).
    pub settled_after_heal_ms: Option<u64>,
    /// The bound it had to settle within.
    pub heal_bound_ms: u64,
    /// What happened.
    pub counts: ClusterCounts,
}

impl ClusterReport {
    /// No violation of (a) or (b).
    pub fn is_safe(&self) -> bool {
        self.violations.is_empty()
    }

    /// (c): settled within the bound after the heal, and still settled at the end.
    pub fn is_live(&self) -> bool {
        self.settled_after_heal_ms
            .is_some_and(|ms| ms <= self.heal_bound_ms)
    }
}

/// Counters of a run.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClusterCounts {
    /// Commits the store accepted.
    pub commits_accepted: u64,
    /// Commits it refused (fenced, expired, released).
    pub commits_refused: u64,
    /// Task starts.
    pub starts: u64,
    /// Stops by self-fencing.
    pub self_fenced: u64,
    /// Of those, tasks a process found fenced by its first tick after a pause (the
    /// zombie case: it resumed believing it still ran them).
    pub zombies_fenced: u64,
    /// Stops after a refused renewal.
    pub lost: u64,
    /// Stops after a handover.
    pub reassigned: u64,
    /// Process crashes.
    pub crashes: u64,
    /// Process pauses.
    pub pauses: u64,
    /// Link partitions.
    pub partitions: u64,
    /// Messages lost (by loss or partition).
    pub messages_lost: u64,
    /// Messages delivered twice.
    pub messages_duplicated: u64,
    /// The coordinator epoch at the end (how many takeovers).
    pub coordinator_epoch: u64,
    /// The assignment version at the end (how many publishes).
    pub assignment_version: u64,
}
