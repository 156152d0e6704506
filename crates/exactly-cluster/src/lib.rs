//! `exactly-cluster`: the sans-IO core of distributed jobs — which worker runs which task
//! of a job, under which lease, and when it must stop.
//!
//! A job's tasks are shared by N worker processes. A store (PostgreSQL) is the authority
//! for membership, the coordinator lease, the assignment and the task leases; every task
//! lease carries an epoch that rises whenever the task changes owner, and the checkpoint
//! commit is fenced by it. Workers also stop themselves before a lease can have expired
//! by their own monotonic clock (self-fencing), so no two workers ever run one task at
//! once while clocks drift within the configured bound.
//!
//! Nothing here does I/O, reads a clock or draws a random number: the store's state is a
//! pure [`LeaseTable`] whose operations take the store's time, and a worker is a
//! [`WorkerCore`] fed the local time and the store's responses, returning [`Action`]s
//! (the raft-rs `RawNode` / quinn-proto shape). The protocol, its SQL and its safety
//! argument are in `docs/cluster.md`; `exactly-sim`'s `cluster` module runs it against
//! loss, duplication, reordering, crashes, pauses, partitions and clock drift.
//!
//! # Layout
//! - [`ids`]: [`WorkerId`], [`TaskId`], [`Epoch`], [`RequestId`].
//! - [`config`]: [`ClusterConfig`] (lease lengths, intervals, drift bound, margin) and
//!   its [`ConfigError`]; [`usable_ms`](config::usable_ms), the self-fencing bound.
//! - [`assign`](mod@assign): [`assign()`], the sticky balanced assignment, and [`moves`].
//! - [`protocol`]: the [`Request`]s a worker sends and the [`Response`]s it gets.
//! - [`error`]: why the store refuses a request ([`LeaseError`] and friends).
//! - [`table`]: [`LeaseTable`], the authority — the store's state and operations;
//!   [`TableParts`], that state spelled out (a store's read-back, compared with the model).
//! - [`worker`]: [`WorkerCore`], one worker's protocol, its [`Action`]s and
//!   [`WorkerError`].
//!
//! # Example
//! One worker, the store answering at once: it heartbeats, becomes coordinator, assigns
//! both tasks to itself, acquires them at epoch 1 and starts them.
//! ```
//! use exactly_cluster::{Action, ClusterConfig, Epoch, LeaseTable, TaskId, WorkerCore, WorkerId};
//!
//! let tasks = [TaskId(0), TaskId(1)];
//! let mut store = LeaseTable::new(&tasks);
//! let mut worker = WorkerCore::new(ClusterConfig::default(), WorkerId(7), &tasks, 0)?;
//! let mut started = Vec::new();
//! for now_ms in (0..3_000).step_by(100) {
//!     worker.tick(now_ms)?;
//!     while let Some(action) = worker.poll_action() {
//!         match action {
//!             Action::Send { id, request } => {
//!                 // The store and the worker share a clock here; see docs/cluster.md
//!                 // for what self-fencing assumes when they do not.
//!                 let response = store.serve(now_ms, &request);
//!                 worker.on_response(now_ms, id, response)?;
//!             }
//!             Action::Start { task, epoch } => started.push((task, epoch)),
//!             other => panic!("unexpected {other:?}"),
//!         }
//!     }
//! }
//! assert_eq!(started, vec![(TaskId(0), Epoch(1)), (TaskId(1), Epoch(1))]);
//! assert!(store.check_commit(2_900, WorkerId(7), TaskId(0), Epoch(1)).is_ok());
//! # Ok::<(), exactly_cluster::WorkerError>(())
//! ```

pub mod assign;
pub mod config;
pub mod error;
pub mod ids;
pub mod protocol;
pub mod table;
pub mod worker;

pub use assign::{assign, moves, AssignError, Assignment};
pub use config::{ClusterConfig, ConfigError};
pub use error::{CoordinatorError, LeaseError, MemberError, PublishError};
pub use ids::{Epoch, RequestId, TaskId, WorkerId};
pub use protocol::{CoordinatorGrant, HeartbeatReply, Request, Response};
pub use table::{CoordinatorLease, LeaseTable, TableParts, TaskLease};
pub use worker::{Action, StopReason, WorkerCore, WorkerError};
