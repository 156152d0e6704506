//! Kill-and-restart loops and the helpers shared by `exactly`'s demos and command-line
//! tests. Not a library of the product: only the `exactly` binary (its `demo` and
//! `endpoint bank`) and its tests use it.
//!
//! Layout:
//! - [`kill_loop`]: [`KillLoop`], one child process at a time, SIGKILLed at seeded random
//!   moments and started again with the same command, bounded, reporting what landed;
//! - [`supervised`]: [`Supervised`], a long-running child that is killed and restarted on
//!   demand, dies with its parent (its standard input is a pipe only the parent holds),
//!   and is killed when dropped;
//! - [`bank`]: the endpoint processes of `exactly endpoint bank` — fed, killed, restarted
//!   and drained;
//! - [`bank_run`]: one whole run of `exactly endpoint bank` — run lock, clean-up of
//!   killed runs, the endpoints driven, the audit, the clean-up ([`bank_run::run_bank`]);
//! - [`bank_report`]: a run's report as JSON or as a table with its verdict;
//! - [`bank_serve`]: one endpoint process of the bank (`exactly endpoint serve`) on the
//!   embedded store or PostgreSQL, the embedded logs or NATS JetStream;
//! - [`demo`]: one guarantee of `exactly demo` — the `balances` job killed and restarted
//!   until it finishes, then audited from the log; [`demo_report`]: its table and JSON
//!   rows;
//! - [`producer_demo`]: `exactly demo producer` — the producer killed and resumed, and its
//!   report;
//! - [`producer_audit`]: the idempotent-producer demo's input and its record-by-record audit;
//! - [`cli`]: what tests of a binary share: commands without input, output as text,
//!   seeds from the environment (printed), free local ports, directory trees.
//!
//! Hosts on one machine, for chaos tests with real network faults (root needed; topology
//! and debugging leftovers in `docs/netns.md`):
//! - [`netns`]: [`Hosts`], network namespaces on one bridge (host `i` at
//!   10.231.0.(10+i), the gateway at 10.231.0.1), commands run inside a host
//!   ([`Host::command`]), links cut and restored, everything removed on drop or by
//!   [`cleanup_stale`] after a killed run; `netns_ip`: the `ip` commands, failing with
//!   [`NetnsError`];
//! - [`tcp_forward`]: [`TcpForwarder`], a bounded TCP forwarder so hosts reach loopback-only
//!   services (PostgreSQL) through the gateway;
//! - [`netns_nats`]: [`NetnsNatsCluster`], one `nats-server` per host (JetStream,
//!   `sync_interval: always`), nodes SIGKILLed and restarted on their store, leaders read
//!   through [`nats_monitor`] (the servers' monitoring ports).
//!
//! ```no_run
//! use exactly_testkit::KillLoop;
//! use std::process::Command;
//!
//! let report = KillLoop::new(3, 42)
//!     .delay_ms(40..300)
//!     .run_to_completion(
//!         || {
//!             let mut job = Command::new("sleep");
//!             job.arg("1");
//!             job
//!         },
//!         |_| {},
//!     )?;
//! println!("{} kills in {} runs", report.kills, report.runs);
//! # Ok::<(), exactly_testkit::KillLoopError>(())
//! ```

pub mod bank;
pub mod bank_report;
pub mod bank_run;
pub mod bank_serve;
pub mod cli;
pub mod demo;
pub mod demo_report;
pub mod kill_loop;
pub mod nats_monitor;
pub mod netns;
mod netns_ip;
pub mod netns_nats;
pub mod producer_audit;
pub mod producer_demo;
pub mod supervised;
pub mod tcp_forward;

pub use kill_loop::{wait_or_kill, KillLoop, KillLoopError, KillReport};
pub use netns::{cleanup_stale, Host, Hosts};
pub use netns_ip::NetnsError;
pub use netns_nats::NetnsNatsCluster;
pub use supervised::Supervised;
pub use tcp_forward::TcpForwarder;
