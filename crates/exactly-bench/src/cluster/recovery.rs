//! Kill-to-recovery: with the workers running steadily under the fixed-rate feed, one is
//! killed with SIGKILL; the time runs from the kill until every task it owned is owned
//! by another worker (a live lease at a higher epoch) **and** has committed a checkpoint
//! at that epoch, read from the cluster's PostgreSQL tables every [`POLL`]. Then the
//! worker is started again (a new incarnation) and the next kill waits until the
//! cluster is steady once more.

use super::session::Session;
use crate::error::{BenchError, Context};
use serde::Serialize;
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Pause between two reads of the tables.
pub const POLL: Duration = Duration::from_millis(50);
/// Longest wait for a takeover, or for the cluster to be steady again.
const TIMEOUT: Duration = Duration::from_secs(90);

/// One task's row: owner, epoch, whether the lease is live, its newest checkpoint's epoch.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct TaskRow {
    owner: Option<u64>,
    epoch: u64,
    live: bool,
    checkpoint_epoch: Option<u64>,
}

/// What one kill measured.
#[derive(Clone, Debug, Serialize)]
pub struct KillOutcome {
    /// Tasks the killed worker owned.
    pub tasks: usize,
    /// Milliseconds until every one of them was leased by another worker.
    pub owned_ms: f64,
    /// Milliseconds until every one of them had also committed a checkpoint at its new
    /// epoch (the recovery time).
    pub recovered_ms: f64,
}

/// Kills worker slot `slot` once the cluster is steady and measures the takeover.
pub fn kill_and_measure(session: &mut Session, slot: usize) -> Result<KillOutcome, BenchError> {
    let mut pg = session.pg()?;
    wait_steady(session, &mut pg)?;
    let victim = session.fleet.ids().get(slot).copied().unwrap_or_default();
    let before = rows(session, &mut pg)?;
    let owned: BTreeMap<u32, u64> = (before.iter())
        .filter(|(_, row)| row.owner == Some(victim))
        .map(|(task, row)| (*task, row.epoch))
        .collect();
    session.fleet.kill(slot)?;
    let killed = Instant::now();
    let (mut owned_at, mut recovered_at) = (BTreeMap::new(), BTreeMap::new());
    while recovered_at.len() < owned.len() {
        if killed.elapsed() > TIMEOUT {
            return Err(BenchError::Check(format!(
                "tasks {:?} of the killed worker not recovered within {TIMEOUT:?}: {:?}",
                owned
                    .keys()
                    .filter(|t| !recovered_at.contains_key(*t))
                    .collect::<Vec<_>>(),
                rows(session, &mut pg)?
            )));
        }
        std::thread::sleep(POLL);
        let now = rows(session, &mut pg)?;
        let elapsed_ms = killed.elapsed().as_secs_f64() * 1e3;
        for (task, old_epoch) in &owned {
            let Some(row) = now.get(task) else { continue };
            let taken = row.live && row.owner != Some(victim) && row.epoch > *old_epoch;
            if taken {
                owned_at.entry(*task).or_insert(elapsed_ms);
                if row.checkpoint_epoch >= Some(row.epoch) {
                    recovered_at.entry(*task).or_insert(elapsed_ms);
                }
            }
        }
    }
    session.fleet.respawn(slot)?;
    let max = |m: &BTreeMap<u32, f64>| m.values().copied().fold(0.0, f64::max);
    Ok(KillOutcome {
        tasks: owned.len(),
        owned_ms: max(&owned_at),
        recovered_ms: max(&recovered_at),
    })
}

/// Waits until every task is leased by a running worker with a checkpoint at its epoch,
/// and the running workers share the tasks evenly.
pub fn wait_steady(session: &Session, pg: &mut postgres::Client) -> Result<(), BenchError> {
    let started = Instant::now();
    loop {
        let rows = rows(session, pg)?;
        let ids = session.fleet.ids();
        let settled = rows.len() == session.plan.tasks().len()
            && rows.values().all(|row| {
                row.live
                    && row.owner.is_some_and(|o| ids.contains(&o))
                    && row.checkpoint_epoch == Some(row.epoch)
            });
        let counts: Vec<usize> = (ids.iter())
            .map(|id| rows.values().filter(|r| r.owner == Some(*id)).count())
            .collect();
        let even = rows.len() / ids.len().max(1);
        let balanced = counts.iter().all(|c| *c == even || *c == even + 1);
        if settled && balanced {
            return Ok(());
        }
        if started.elapsed() > TIMEOUT {
            return Err(BenchError::Check(format!(
                "the cluster was not steady within {TIMEOUT:?}: tasks per worker {counts:?}, \
                 rows {rows:?}"
            )));
        }
        std::thread::sleep(POLL * 4);
    }
}

/// Every task's row, read in one statement (the server's clock decides liveness).
fn rows(
    session: &Session,
    pg: &mut postgres::Client,
) -> Result<BTreeMap<u32, TaskRow>, BenchError> {
    let tasks = session.plan.tasks();
    let names: Vec<String> = tasks
        .iter()
        .map(|t| session.plan.task_job_name(t))
        .collect();
    let schema = session.schema();
    // The workers create the tables when they first join the job.
    let exists = pg
        .query_one(
            &format!(
                "SELECT to_regclass('{schema}.cluster_tasks') IS NOT NULL
                    AND to_regclass('{schema}.checkpoints') IS NOT NULL"
            ),
            &[],
        )
        .during("looking for the cluster's tables")?;
    if !exists
        .try_get::<_, bool>(0)
        .during("looking for the cluster's tables")?
    {
        return Ok(BTreeMap::new());
    }
    let sql = format!(
        "SELECT t.task, t.owner, t.epoch,
                NOT t.released AND t.expires_ms >
                    floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint,
                (SELECT max(c.epoch) FROM {schema}.checkpoints c WHERE c.job = ($2::text[])[(t.task + 1)::int])
           FROM {schema}.cluster_tasks t WHERE t.job = $1"
    );
    let found = pg
        .query(&sql, &[&session.job, &names])
        .during("reading the lease and checkpoint tables")?;
    let mut rows = BTreeMap::new();
    for row in found {
        let task: i64 = row.try_get(0).during("decoding a task row")?;
        let owner: Option<i64> = row.try_get(1).during("decoding a task row")?;
        let epoch: i64 = row.try_get(2).during("decoding a task row")?;
        let checkpoint: Option<i64> = row.try_get(4).during("decoding a task row")?;
        rows.insert(
            task as u32,
            TaskRow {
                owner: owner.map(|o| o as u64),
                epoch: epoch as u64,
                live: row.try_get(3).during("decoding a task row")?,
                checkpoint_epoch: checkpoint.map(|e| e as u64),
            },
        );
    }
    Ok(rows)
}
