//! Consumer groups: membership (JoinGroup, SyncGroup, Heartbeat, LeaveGroup) kept in
//! memory, committed positions (OffsetCommit, OffsetFetch) kept durably in the log's
//! `__consumer_offsets`.
//!
//! - `state`: one group's protocol as a pure state machine ([`state::Group`]).
//! - [`Groups`]: every group behind a lock, the clock, and a change signal the waiting
//!   handlers listen to.
//! - `join`, `sync`, `heartbeat`, `leave`, `offsets`: the request handlers.
//!
//! Membership is not durable: after a restart every member's next request is answered
//! `UNKNOWN_MEMBER_ID` (or the member simply rejoins), and the group rebalances from the
//! committed positions, which are durable.

pub mod heartbeat;
pub mod join;
pub mod leave;
pub mod offsets;
pub mod positions;
pub mod state;
pub mod sync;

use state::Group;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// How often a waiting handler re-evaluates its group even without a change signal
/// (deadlines pass without one).
pub const RECHECK_MS: u64 = 100;

/// Every consumer group.
#[derive(Debug)]
pub struct Groups {
    groups: Mutex<HashMap<String, Group>>,
    started: Instant,
    next_member: AtomicU64,
    changes: watch::Sender<u64>,
}

impl Default for Groups {
    fn default() -> Self {
        Self {
            groups: Mutex::new(HashMap::new()),
            started: Instant::now(),
            next_member: AtomicU64::new(0),
            changes: watch::Sender::new(0),
        }
    }
}

impl Groups {
    /// Milliseconds since the server started (the groups' clock).
    pub fn now_ms(&self) -> i64 {
        // i64 milliseconds last 292 million years of uptime.
        #[allow(clippy::expect_used)]
        let now_ms = i64::try_from(self.started.elapsed().as_millis()).expect("uptime fits i64");
        now_ms
    }

    /// A member id never handed out before by this process (ids of an earlier run are
    /// unknown after a restart anyway).
    pub fn new_member_id(&self, client_id: &str) -> String {
        let n = self.next_member.fetch_add(1, Ordering::Relaxed);
        let started = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{client_id}-{started:x}-{n}")
    }

    /// Runs `work` on group `group_id` (created empty if unknown) after advancing its
    /// clock, then wakes every waiting handler.
    pub fn with_group<T>(&self, group_id: &str, work: impl FnOnce(&mut Group, i64) -> T) -> T {
        let now_ms = self.now_ms();
        let result = {
            let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
            let group = groups.entry(group_id.to_string()).or_default();
            group.advance(now_ms);
            let result = work(group, now_ms);
            group.advance(now_ms);
            result
        };
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
        result
    }

    /// Advances every group's clock (rounds whose deadline passed complete, expired
    /// sessions end); the server calls this periodically.
    pub fn tick(&self) {
        let now_ms = self.now_ms();
        let mut groups = self.groups.lock().unwrap_or_else(PoisonError::into_inner);
        for group in groups.values_mut() {
            group.advance(now_ms);
        }
        drop(groups);
        self.changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Waits until something changed in any group, or [`RECHECK_MS`].
    pub async fn wait_for_change(&self, changes: &mut watch::Receiver<u64>) {
        let _ = tokio::time::timeout(Duration::from_millis(RECHECK_MS), changes.changed()).await;
    }

    /// A receiver of change signals.
    pub fn watch_changes(&self) -> watch::Receiver<u64> {
        self.changes.subscribe()
    }
}
