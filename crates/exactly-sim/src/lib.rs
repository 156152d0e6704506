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
//! - [`analytic`]: the analytic R/UR — the curves measured runs are compared with.
//! - [`faults`]: [`Faults`], the user's link faults checked into a [`NetConfig`].
//! - [`sweep`](mod@sweep): measured vs analytic R/UR over a grid of loss × retries, as CSV.
//! - [`plot`](mod@plot): the sweep as an SVG plot.
//! - [`seeds`]: how many seeds a test sweeps (`EXACTLY_SEEDS`).

pub mod analytic;
pub mod faults;
pub mod net;
pub mod plot;
pub mod run;
pub mod seeds;
pub mod sweep;

pub use faults::{Faults, FaultsError};
pub use net::{NetConfig, NetStats, Side, SimNet};
pub use plot::plot;
pub use run::{run, HopReport, MemoryPeaks, SimConfig, SimReport};
pub use sweep::{analytic_for, csv, sweep, SweepConfig, SweepError, SweepPoint};
