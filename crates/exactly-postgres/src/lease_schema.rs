//! The lease store's tables, created idempotently; a job's registration (its row and its
//! fixed task list); the store's clock; and how the model's values are stored and read
//! back — every row decoded strictly, a value out of range being an error, never a default.
//!
//! ```text
//! cluster_jobs    (job PK, coordinator, coordinator_epoch,       one row per job: the
//!                  coordinator_expires_ms, assignment_version,   coordinator lease and the
//!                  assignment jsonb {"<task>": <worker>, …})      published assignment
//! cluster_members (job, worker) PK → jobs, expires_ms            membership leases
//! cluster_tasks   (job, task) PK → jobs, owner, epoch,           one lease per task
//!                  expires_ms, released
//! ```
//!
//! **Numbers.** A [`WorkerId`] is any `u64` (a random incarnation id); it is stored in a
//! `bigint` as the same 64 bits (ids above `i64::MAX` read as negative in SQL), which is
//! sound because the store only ever compares worker ids for equality. Epochs, versions
//! and times are non-negative `bigint`s (`CHECK`ed); a presented epoch or version is sent
//! as the same 64 bits too, so a value no row can hold simply matches none. A [`TaskId`]
//! (`u32`) is a `bigint` checked to `0..=4294967295` (an `integer` would not hold it).

use crate::checkpoint_schema::CREATE_LOCK_KEY;
use crate::lease_error::Failure;
use exactly_cluster::{
    Assignment, CoordinatorLease, Epoch, TableParts, TaskId, TaskLease, WorkerId,
};
use postgres::{Client, Row, Transaction};
use std::collections::BTreeMap;

/// Which clock gives each operation its `now_ms`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StoreClock {
    /// PostgreSQL's `clock_timestamp()` in milliseconds, read inside the transaction after
    /// its row locks are held. What production uses.
    Server,
    /// This fixed time, sent as a SQL parameter in place of the server's clock — for tests
    /// only, which replay the same `now_ms` into the model.
    Fixed(u64),
}

/// The tables of `schema`, spliced into SQL (the name is validated at connect).
#[derive(Clone, Debug)]
pub(crate) struct Tables {
    pub jobs: String,
    pub members: String,
    pub tasks: String,
    pub history: String,
}

impl Tables {
    pub fn new(schema: &str) -> Self {
        Self {
            jobs: format!("{schema}.cluster_jobs"),
            members: format!("{schema}.cluster_members"),
            tasks: format!("{schema}.cluster_tasks"),
            history: format!("{schema}.cluster_task_history"),
        }
    }
}

fn ddl(schema: &str) -> String {
    format!(
        "CREATE SCHEMA IF NOT EXISTS {schema};
         CREATE TABLE IF NOT EXISTS {schema}.cluster_jobs (
             job text PRIMARY KEY,
             coordinator bigint,
             coordinator_epoch bigint NOT NULL DEFAULT 0 CHECK (coordinator_epoch >= 0),
             coordinator_expires_ms bigint NOT NULL DEFAULT 0
                 CHECK (coordinator_expires_ms >= 0),
             assignment_version bigint NOT NULL DEFAULT 0 CHECK (assignment_version >= 0),
             assignment jsonb NOT NULL DEFAULT '{{}}'
                 CHECK (jsonb_typeof(assignment) = 'object'));
         CREATE TABLE IF NOT EXISTS {schema}.cluster_members (
             job text NOT NULL REFERENCES {schema}.cluster_jobs (job),
             worker bigint NOT NULL,
             expires_ms bigint NOT NULL CHECK (expires_ms >= 0),
             PRIMARY KEY (job, worker));
         CREATE TABLE IF NOT EXISTS {schema}.cluster_tasks (
             job text NOT NULL REFERENCES {schema}.cluster_jobs (job),
             task bigint NOT NULL CHECK (task BETWEEN 0 AND 4294967295),
             owner bigint,
             epoch bigint NOT NULL DEFAULT 0 CHECK (epoch >= 0),
             expires_ms bigint NOT NULL DEFAULT 0 CHECK (expires_ms >= 0),
             released boolean NOT NULL DEFAULT false,
             PRIMARY KEY (job, task));
         CREATE TABLE IF NOT EXISTS {schema}.cluster_task_history (
             job text NOT NULL,
             task bigint NOT NULL,
             epoch bigint NOT NULL CHECK (epoch > 0),
             owner bigint NOT NULL,
             granted_ms bigint NOT NULL,
             PRIMARY KEY (job, task, epoch));"
    )
}

/// Creates the schema and tables unless they exist. Two processes creating them at once
/// both succeed: the advisory lock (the checkpoint tables' key) serializes the `CREATE …
/// IF NOT EXISTS`, which on their own can collide on the catalog's unique index.
pub(crate) fn create_tables(client: &mut Client, schema: &str) -> Result<(), Failure> {
    let mut tx = client.transaction()?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&CREATE_LOCK_KEY])?;
    tx.batch_execute(&ddl(schema))?;
    tx.commit()?;
    Ok(())
}

/// Creates the job's row and one lease row per task unless they exist, and returns the
/// stored task list (ascending), which the caller compares with the one it was given.
/// Racing registrations both succeed: `ON CONFLICT DO NOTHING` waits for the other's row.
pub(crate) fn register_job(
    client: &mut Client,
    tables: &Tables,
    job: &str,
    tasks: &[TaskId],
) -> Result<Vec<u32>, Failure> {
    let mut tx = client.transaction()?;
    tx.execute(
        &format!(
            "INSERT INTO {} (job) VALUES ($1) ON CONFLICT (job) DO NOTHING",
            tables.jobs
        ),
        &[&job],
    )?;
    let ids: Vec<i64> = tasks.iter().map(|t| task_sql(*t)).collect();
    tx.execute(
        &format!(
            "INSERT INTO {} (job, task) SELECT $1, t FROM unnest($2::bigint[]) AS t
             ON CONFLICT (job, task) DO NOTHING",
            tables.tasks
        ),
        &[&job, &ids],
    )?;
    let rows = tx.query(
        &format!(
            "SELECT task FROM {} WHERE job = $1 ORDER BY task",
            tables.tasks
        ),
        &[&job],
    )?;
    let mut stored = Vec::with_capacity(rows.len());
    for row in &rows {
        stored.push(task_from_sql(row.try_get(0)?)?.0);
    }
    tx.commit()?;
    Ok(stored)
}

/// Reads `now_ms` inside `tx`: the server's clock, or the fixed test time (a parameter).
pub(crate) fn read_now(tx: &mut Transaction<'_>, fixed_ms: Option<i64>) -> Result<u64, Failure> {
    let row = tx.query_one(
        "SELECT COALESCE($1::bigint,
                         floor(extract(epoch FROM clock_timestamp()) * 1000)::bigint)",
        &[&fixed_ms],
    )?;
    non_negative(row.try_get(0)?, "clock", "now_ms")
}

/// A worker id as stored: the same 64 bits.
pub(crate) fn worker_sql(worker: WorkerId) -> i64 {
    i64::from_ne_bytes(worker.0.to_ne_bytes())
}

/// A stored worker id: every `bigint` is one.
pub(crate) fn worker_from_sql(value: i64) -> WorkerId {
    WorkerId(u64::from_ne_bytes(value.to_ne_bytes()))
}

/// A presented epoch or version, compared for equality only: the same 64 bits.
pub(crate) fn bits_sql(value: u64) -> i64 {
    i64::from_ne_bytes(value.to_ne_bytes())
}

/// A task id as stored.
pub(crate) fn task_sql(task: TaskId) -> i64 {
    i64::from(task.0)
}

fn task_from_sql(value: i64) -> Result<TaskId, Failure> {
    u32::try_from(value)
        .map(TaskId)
        .map_err(|_| Failure::bad("cluster_tasks", format!("task {value} is not a u32")))
}

/// A time, epoch or version: must not be negative.
pub(crate) fn non_negative(value: i64, table: &'static str, column: &str) -> Result<u64, Failure> {
    u64::try_from(value).map_err(|_| Failure::bad(table, format!("{column} = {value} is negative")))
}

/// A task's lease row, decoded.
fn task_lease(row: &Row) -> Result<TaskLease, Failure> {
    let owner: Option<i64> = row.try_get("owner")?;
    Ok(TaskLease {
        owner: owner.map(worker_from_sql),
        epoch: Epoch(non_negative(
            row.try_get("epoch")?,
            "cluster_tasks",
            "epoch",
        )?),
        expires_at_ms: non_negative(row.try_get("expires_ms")?, "cluster_tasks", "expires_ms")?,
        released: row.try_get("released")?,
    })
}

/// Reads `task`'s lease row with `lock` (`FOR UPDATE`, `FOR SHARE`); `None`: the job has
/// no such task.
pub(crate) fn read_task(
    tx: &mut Transaction<'_>,
    tables: &Tables,
    job: &str,
    task: TaskId,
    lock: &str,
) -> Result<Option<TaskLease>, Failure> {
    let row = tx.query_opt(
        &format!(
            "SELECT owner, epoch, expires_ms, released FROM {}
             WHERE job = $1 AND task = $2 {lock}",
            tables.tasks
        ),
        &[&job, &task_sql(task)],
    )?;
    row.as_ref().map(task_lease).transpose()
}

/// The job row's coordinator lease and assignment version, read with `lock`. A missing
/// job row is bad data: the job was registered at connect and rows are never deleted.
pub(crate) fn read_job(
    tx: &mut Transaction<'_>,
    tables: &Tables,
    job: &str,
    lock: &str,
) -> Result<(CoordinatorLease, u64), Failure> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT coordinator, coordinator_epoch, coordinator_expires_ms,
                        assignment_version
                 FROM {} WHERE job = $1 {lock}",
                tables.jobs
            ),
            &[&job],
        )?
        .ok_or_else(|| Failure::bad("cluster_jobs", format!("job {job:?} has no row")))?;
    let holder: Option<i64> = row.try_get(0)?;
    let lease = CoordinatorLease {
        holder: holder.map(worker_from_sql),
        epoch: Epoch(non_negative(
            row.try_get(1)?,
            "cluster_jobs",
            "coordinator_epoch",
        )?),
        expires_at_ms: non_negative(row.try_get(2)?, "cluster_jobs", "coordinator_expires_ms")?,
    };
    let version = non_negative(row.try_get(3)?, "cluster_jobs", "assignment_version")?;
    Ok((lease, version))
}

/// The job's assignment: every key must be a task id and every value a worker id (JSON
/// integers); anything else is bad data.
pub(crate) fn read_assignment(
    tx: &mut Transaction<'_>,
    tables: &Tables,
    job: &str,
) -> Result<Assignment, Failure> {
    let rows = tx.query(
        &format!(
            "SELECT a.key, a.value::text, jsonb_typeof(a.value)
             FROM {}, jsonb_each(assignment) AS a WHERE job = $1",
            tables.jobs
        ),
        &[&job],
    )?;
    let mut assignment = Assignment::new();
    for row in &rows {
        let (key, kind): (String, String) = (row.try_get(0)?, row.try_get(2)?);
        let task = key.parse::<u32>().map(TaskId).map_err(|_| {
            Failure::bad(
                "cluster_jobs",
                format!("assignment key {key:?} is not a task id"),
            )
        })?;
        let worker = assignee(row, &kind, task)?;
        assignment.insert(task, worker);
    }
    Ok(assignment)
}

/// One assignment value: a JSON number (read as its SQL text, `jsonb` having no Rust
/// type without a JSON library) holding a stored worker id, so an integer in `i64`.
fn assignee(row: &Row, kind: &str, task: TaskId) -> Result<WorkerId, Failure> {
    let text: String = row.try_get(1)?;
    if kind != "number" {
        return Err(Failure::bad(
            "cluster_jobs",
            format!("the assignee of {task} is a JSON {kind}, not a worker id"),
        ));
    }
    text.parse::<i64>().map(worker_from_sql).map_err(|_| {
        Failure::bad(
            "cluster_jobs",
            format!("the assignee of {task} is {text}, not a worker id"),
        )
    })
}

/// The whole stored state of `job`, read in `tx` (which should be `REPEATABLE READ`, so
/// that it is one consistent state).
pub(crate) fn read_parts(
    tx: &mut Transaction<'_>,
    tables: &Tables,
    job: &str,
) -> Result<TableParts, Failure> {
    let (coordinator, assignment_version) = read_job(tx, tables, job, "")?;
    let assignment = read_assignment(tx, tables, job)?;
    let mut members = BTreeMap::new();
    let rows = tx.query(
        &format!(
            "SELECT worker, expires_ms FROM {} WHERE job = $1",
            tables.members
        ),
        &[&job],
    )?;
    for row in &rows {
        let expires_ms = non_negative(row.try_get(1)?, "cluster_members", "expires_ms")?;
        members.insert(worker_from_sql(row.try_get(0)?), expires_ms);
    }
    let mut tasks = BTreeMap::new();
    let rows = tx.query(
        &format!(
            "SELECT task, owner, epoch, expires_ms, released FROM {} WHERE job = $1",
            tables.tasks
        ),
        &[&job],
    )?;
    for row in &rows {
        tasks.insert(task_from_sql(row.try_get(0)?)?, task_lease(row)?);
    }
    Ok(TableParts {
        members,
        coordinator,
        assignment,
        assignment_version,
        tasks,
    })
}
