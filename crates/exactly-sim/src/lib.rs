//! `exactly-sim`: the deterministic simulator that *measures* what the pipes of
//! `exactly-pipe` guarantee — reliability R and uniqueness rate UR — over a network that
//! loses, duplicates, reorders, delays, partitions and corrupts frames.
//!
//! Everything random comes from one seed and time is simulated (it jumps from event to
//! event), so runs are fast and exactly reproducible: a failing test prints its seed, and
//! [`run()`] with the same [`SimConfig`] replays it.
//!
//! # Layout
//! - [`net`]: [`SimNet`], one seeded bidirectional link, and its [`NetConfig`] of faults.
//! - [`run`](mod@run): [`SimConfig`], [`run()`], [`SimReport`] — a pipeline of hops, each
//!   metered, and the end-to-end audit (R, UR, order, memory peaks).
//! - [`report`]: a [`SimReport`] as JSON ([`SimReport::to_json`]) and as a table
//!   ([`SimReport::to_text`]).
//! - [`analytic`]: the analytic R/UR — the curves measured runs are compared with.
//! - [`faults`]: [`Faults`], the user's link faults checked into a [`NetConfig`].
//! - [`sweep`](mod@sweep): measured vs analytic R/UR over a grid of loss × retries, as CSV.
//! - [`plot`](mod@plot): the sweep as an SVG plot.
//! - [`sweep_format`]: the sweep as a table, JSON lines and its SVG against the analytic
//!   curves; the comma-separated lists it is asked for in.
//! - [`secure_link`]: a hop's secure channel (Noise IK), when [`SimConfig::secure`].
//! - [`seeds`]: how many seeds a test sweeps (`EXACTLY_SEEDS`).
//! - [`cluster`]: distributed-job membership, leases and assignment (`exactly-cluster`'s
//!   `WorkerCore`s against its `LeaseTable`) under loss, duplication, reordering, crashes,
//!   pauses, partitions and clock drift, with an independent auditor.
//!
//! # Example
//! Resend + ID de-duplication over a link that loses 30 %, duplicates 10 %, reorders,
//! corrupts and partitions: measured exactly once (R = UR = 1), and the same seed replays
//! the same run.
//! ```
//! use exactly_pipe::{DeliveryMode, PipeMode};
//! use exactly_sim::{run, NetConfig, SimConfig};
//!
//! let config = SimConfig::new(PipeMode::ResendIdDedup, NetConfig::hostile(), 2_000, 42);
//! let report = run(&config);
//! assert!(report.completed);
//! assert_eq!(report.end_to_end.mode(), DeliveryMode::ExactlyOnce);
//! assert!(report.hops[0].net.lost > 0, "the link did lose frames");
//! assert_eq!(run(&config).frames_sent(), report.frames_sent());
//! ```

pub mod analytic;
pub mod cluster;
pub mod faults;
pub mod net;
pub mod plot;
pub mod report;
pub mod run;
pub mod secure_link;
pub mod seeds;
pub mod sweep;
pub mod sweep_format;

pub use faults::{Faults, FaultsError};
pub use net::{NetConfig, NetStats, Side, SimNet};
pub use plot::plot;
pub use run::{run, HopReport, MemoryPeaks, SimConfig, SimReport};
pub use sweep::{analytic_for, csv, sweep, SweepConfig, SweepError, SweepPoint};
