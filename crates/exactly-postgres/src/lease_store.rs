//! [`PgLeaseStore`]: a distributed job's membership, coordinator lease, assignment and
//! task leases in PostgreSQL — `exactly_cluster::LeaseTable` as SQL, one transaction per
//! request, answering exactly what the model answers (`tests/lease_store_matches_model.rs`
//! replays random request sequences into both and compares every answer and the whole
//! state after every step). [`check_commit_in`] is the checkpoint commit's fence, run
//! inside the commit's own transaction.
//!
//! **Failures.** A serialization failure or deadlock rolls the transaction back; it is run
//! again, up to [`PgLeaseConfig::conflict_attempts_max`] times. A connection lost before
//! `COMMIT` was sent means nothing was applied: the store reconnects per its
//! [`ReconnectPolicy`] and runs the request again. A connection lost *during* `COMMIT`
//! leaves the outcome unknown: that is reported
//! ([`LeaseStoreError::ConnectionLost`] with `outcome_unknown`), never guessed — to the
//! protocol it is a lost answer, which the worker core already survives — and the next
//! call reconnects. A request the model refuses writes nothing and is rolled back, so its
//! answer stands even if the connection is lost at the end.
//!
//! # Example
//! ```no_run
//! use exactly_cluster::{Request, Response, TaskId, WorkerId};
//! use exactly_postgres::{PgLeaseConfig, PgLeaseStore};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let config = PgLeaseConfig::new(
//!     "host=127.0.0.1 user=postgres dbname=test",
//!     "jobs",
//!     "balances",
//!     &[TaskId(0), TaskId(1)],
//! );
//! let mut store = PgLeaseStore::connect(&config)?;
//! let beat = Request::Heartbeat { worker: WorkerId(7), member_ttl_ms: 4_000 };
//! assert!(matches!(store.serve(&beat)?, Response::Heartbeat(Ok(_))));
//! # Ok(())
//! # }
//! ```

use crate::error::store_location;
use crate::lease_error::{CommitRefused, Failure, LeaseStoreError};
use crate::lease_ops;
use crate::lease_schema::{create_tables, read_parts, register_job, StoreClock, Tables};
use crate::lease_scope::Scope;
use crate::store::connect_client;
use exactly_cluster::{Epoch, LeaseTable, Request, Response, TaskId, WorkerId};
use exactly_endpoint::serve::ReconnectPolicy;
use postgres::{Client, IsolationLevel, Transaction};
use std::time::Duration;

/// How to open a [`PgLeaseStore`].
#[derive(Clone, Debug)]
pub struct PgLeaseConfig {
    /// Connection string (`postgres://…` or `host=… user=…`). Never printed.
    pub url: String,
    /// Schema of the lease tables (`[a-z_][a-z0-9_]{0,62}`), created if missing.
    pub schema: String,
    /// The job.
    pub job: String,
    /// The job's tasks (duplicates count once). Fixed while the job runs: connecting with
    /// another list than the stored one is refused.
    pub tasks: Vec<TaskId>,
    /// Reconnecting after a lost connection.
    pub reconnect: ReconnectPolicy,
    /// Attempts of one request while it meets serialization failures or deadlocks (≥ 1).
    pub conflict_attempts_max: u32,
    /// Where `now_ms` comes from: [`StoreClock::Server`] except in tests.
    pub clock: StoreClock,
}

impl PgLeaseConfig {
    /// Defaults: the endpoint's reconnect policy (10 attempts, 100 ms to 5 s), 8 attempts
    /// on conflicts, the server's clock.
    pub fn new(url: &str, schema: &str, job: &str, tasks: &[TaskId]) -> Self {
        Self {
            url: url.to_string(),
            schema: schema.to_string(),
            job: job.to_string(),
            tasks: tasks.to_vec(),
            reconnect: ReconnectPolicy::default(),
            conflict_attempts_max: 8,
            clock: StoreClock::Server,
        }
    }
}

/// Called right before `COMMIT` of a request that changes the state, with the backend's
/// process id (tests cut the connection there with `pg_terminate_backend`).
pub type BeforeCommit = Box<dyn FnMut(i32) + Send>;

/// One connection and its backend's process id.
struct Session {
    client: Client,
    backend_pid: i32,
}

/// A job's lease table in PostgreSQL (see the module documentation).
pub struct PgLeaseStore {
    url: String,
    tables: Tables,
    job: String,
    location: String,
    reconnect: ReconnectPolicy,
    conflict_attempts_max: u32,
    fixed_ms: Option<i64>,
    session: Option<Session>,
    before_commit: Option<BeforeCommit>,
}

impl std::fmt::Debug for PgLeaseStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgLeaseStore")
            .field("location", &self.location)
            .field("fixed_ms", &self.fixed_ms)
            .finish()
    }
}

/// Where the store is, for errors and logs: database, schema and job — never the URL,
/// which may carry a password.
fn location_of(config: &PgLeaseConfig) -> String {
    store_location(&config.url, &config.schema, &config.job)
}

/// The fixed clock as a `bigint`, or `None` for the server's clock.
fn fixed_ms_of(clock: StoreClock) -> Result<Option<i64>, LeaseStoreError> {
    match clock {
        StoreClock::Server => Ok(None),
        StoreClock::Fixed(ms) => {
            i64::try_from(ms)
                .map(Some)
                .map_err(|_| LeaseStoreError::BadConfig {
                    reason: format!("fixed clock {ms} ms does not fit a bigint"),
                })
        }
    }
}

impl PgLeaseStore {
    /// Connects (retrying per the reconnect policy), creates the tables if needed and
    /// registers the job and its tasks; refuses a job stored with another task list.
    pub fn connect(config: &PgLeaseConfig) -> Result<Self, LeaseStoreError> {
        if !crate::checkpoint_schema::valid_schema(&config.schema) {
            return Err(LeaseStoreError::BadConfig {
                reason: format!(
                    "invalid schema name {:?}: lower-case letters, digits and _ only",
                    config.schema
                ),
            });
        }
        let mut store = Self {
            url: config.url.clone(),
            tables: Tables::new(&config.schema),
            job: config.job.clone(),
            location: location_of(config),
            reconnect: config.reconnect,
            conflict_attempts_max: config.conflict_attempts_max.max(1),
            fixed_ms: fixed_ms_of(config.clock)?,
            session: None,
            before_commit: None,
        };
        let schema = config.schema.clone();
        let (tables, job) = (store.tables.clone(), store.job.clone());
        let stored = store.with_session("creating the lease tables", |session| {
            create_tables(&mut session.client, &schema)?;
            Ok(register_job(
                &mut session.client,
                &tables,
                &job,
                &config.tasks,
            )?)
        })?;
        let mut given: Vec<u32> = config.tasks.iter().map(|t| t.0).collect();
        given.sort_unstable();
        given.dedup();
        if stored != given {
            return Err(LeaseStoreError::TaskListMismatch {
                location: store.location.clone(),
                job: store.job.clone(),
                stored,
                given,
            });
        }
        tracing::info!(location = %store.location, "lease store connected");
        Ok(store)
    }

    /// Where `now_ms` comes from from now on (tests: [`StoreClock::Fixed`]).
    pub fn set_clock(&mut self, clock: StoreClock) -> Result<(), LeaseStoreError> {
        self.fixed_ms = fixed_ms_of(clock)?;
        Ok(())
    }

    /// Installs a hook run right before each state-changing `COMMIT` (fault injection).
    pub fn set_before_commit(&mut self, hook: Option<BeforeCommit>) {
        self.before_commit = hook;
    }

    /// The backend process id of the current connection (connecting if there is none).
    pub fn backend_pid(&mut self) -> Result<i32, LeaseStoreError> {
        self.with_session("reading the backend pid", |session| Ok(session.backend_pid))
    }

    /// Where the store is (database, schema, job).
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Runs `request` as one transaction at the store's time, answering what
    /// `LeaseTable::serve` answers for the same state and time.
    pub fn serve(&mut self, request: &Request) -> Result<Response, LeaseStoreError> {
        let (tables, job, fixed_ms) = (self.tables.clone(), self.job.clone(), self.fixed_ms);
        self.transact(what(request), |tx| {
            let scope = Scope {
                tables: &tables,
                job: &job,
                fixed_ms,
            };
            let response = lease_ops::serve_in(tx, scope, request)?;
            let changes = changes_state(&response);
            Ok((response, changes))
        })
    }

    /// Deletes the membership rows expired by the store's clock (maintenance: they are
    /// ignored anyway); returns how many. `LeaseTable::forget_expired_members`.
    pub fn forget_expired_members(&mut self) -> Result<u64, LeaseStoreError> {
        let (tables, job, fixed_ms) = (self.tables.clone(), self.job.clone(), self.fixed_ms);
        self.transact("forgetting expired members", |tx| {
            let scope = Scope {
                tables: &tables,
                job: &job,
                fixed_ms,
            };
            let deleted = lease_ops::forget_expired_members(tx, scope)?;
            Ok((deleted, deleted > 0))
        })
    }

    /// The whole stored state as a [`LeaseTable`], read in one `REPEATABLE READ`
    /// transaction, to compare with the model.
    pub fn snapshot(&mut self) -> Result<LeaseTable, LeaseStoreError> {
        let (tables, job) = (self.tables.clone(), self.job.clone());
        let parts = self.with_session("reading the lease table", |session| {
            let mut tx = session
                .client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()?;
            let parts = read_parts(&mut tx, &tables, &job)?;
            tx.commit()?;
            Ok(parts)
        })?;
        Ok(LeaseTable::from_parts(parts))
    }

    /// Runs `op` in a `READ COMMITTED` transaction: committed when it reports a change,
    /// else rolled back; again after conflicts and connections lost before `COMMIT`.
    fn transact<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut(&mut Transaction<'_>) -> Result<(T, bool), Failure>,
    ) -> Result<T, LeaseStoreError> {
        let mut conflicts = 0;
        loop {
            let mut hook = self.before_commit.take();
            let result = self.with_session(what, |session| once(session, &mut op, hook.as_mut()));
            self.before_commit = hook;
            match result {
                Err(LeaseStoreError::Contention { reason, .. }) => {
                    conflicts += 1;
                    if conflicts >= self.conflict_attempts_max {
                        return Err(LeaseStoreError::Contention {
                            location: self.location.clone(),
                            what: what.to_string(),
                            attempts: conflicts,
                            reason,
                        });
                    }
                    tracing::debug!(location = %self.location, what, %reason, "lease store: conflict, again");
                    std::thread::sleep(conflict_pause(conflicts));
                }
                other => return other,
            }
        }
    }

    /// Runs `op` on the connection, (re)connecting first if needed; after a connection
    /// lost before `COMMIT`, reconnects and runs it again, up to the policy's attempts.
    fn with_session<T>(
        &mut self,
        what: &str,
        mut op: impl FnMut(&mut Session) -> Result<T, Step>,
    ) -> Result<T, LeaseStoreError> {
        let attempts = self.reconnect.attempts_max.max(1);
        let mut last_reason = String::new();
        for attempt in 1..=attempts {
            if attempt > 1 {
                std::thread::sleep(self.reconnect.delay(attempt - 1));
            }
            let session = match self.session.as_mut() {
                Some(session) => session,
                None => match open_session(&self.url) {
                    Ok(session) => self.session.insert(session),
                    Err(Failure::Lost(reason)) => {
                        tracing::warn!(location = %self.location, what, %reason, attempt, "lease store: connecting");
                        last_reason = reason;
                        continue;
                    }
                    Err(failure) => return Err(failure.into_error(&self.location, what, false)),
                },
            };
            match op(session) {
                Ok(value) => return Ok(value),
                Err(Step::Failed(Failure::Lost(reason))) => {
                    tracing::warn!(location = %self.location, what, %reason, attempt, "lease store: connection lost, again");
                    self.session = None;
                    last_reason = reason;
                }
                Err(Step::LostAtCommit(reason)) => {
                    self.session = None;
                    return Err(Failure::Lost(reason).into_error(&self.location, what, true));
                }
                Err(Step::Failed(failure)) => {
                    return Err(failure.into_error(&self.location, what, false))
                }
            }
        }
        Err(
            Failure::Lost(format!("gave up after {attempts} attempts: {last_reason}")).into_error(
                &self.location,
                what,
                false,
            ),
        )
    }
}

/// How one attempt ended, when not with a value.
enum Step {
    /// Before `COMMIT` was sent (or with nothing to commit): nothing was applied.
    Failed(Failure),
    /// The connection was lost while `COMMIT` was in flight: the outcome is unknown.
    LostAtCommit(String),
}

impl From<Failure> for Step {
    fn from(failure: Failure) -> Self {
        Self::Failed(failure)
    }
}

impl From<postgres::Error> for Step {
    fn from(error: postgres::Error) -> Self {
        Self::Failed(error.into())
    }
}

/// One attempt of one transaction.
fn once<T>(
    session: &mut Session,
    op: &mut impl FnMut(&mut Transaction<'_>) -> Result<(T, bool), Failure>,
    hook: Option<&mut BeforeCommit>,
) -> Result<T, Step> {
    let pid = session.backend_pid;
    let mut tx = session
        .client
        .build_transaction()
        .isolation_level(IsolationLevel::ReadCommitted)
        .start()?;
    let (value, changes) = op(&mut tx)?;
    if !changes {
        // Nothing was written: the answer stands whatever happens to the rollback (a
        // lost connection is noticed by the next request).
        if let Err(error) = tx.rollback() {
            tracing::debug!(error = %crate::error::describe(&error), "lease store: rollback failed");
        }
        return Ok(value);
    }
    if let Some(hook) = hook {
        hook(pid);
    }
    match tx.commit() {
        Ok(()) => Ok(value),
        Err(error) => match Failure::from(error) {
            Failure::Lost(reason) => Err(Step::LostAtCommit(reason)),
            // A conflict or refusal at COMMIT rolled the transaction back.
            other => Err(Step::Failed(other)),
        },
    }
}

fn open_session(url: &str) -> Result<Session, Failure> {
    let mut client = connect_client(url, "exactly-leases").map_err(|error| match error {
        crate::ConnectError::Unreachable { reason } => Failure::Lost(reason),
        other => Failure::Refused {
            code: None,
            reason: other.to_string(),
        },
    })?;
    let backend_pid: i32 = client
        .query_one("SELECT pg_backend_pid()", &[])?
        .try_get(0)?;
    Ok(Session {
        client,
        backend_pid,
    })
}

/// The pause before running a conflicting transaction again: short (the other one holds
/// its locks for milliseconds) and different per attempt, so two losers do not meet again.
fn conflict_pause(attempt: u32) -> Duration {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    Duration::from_micros(u64::from(attempt) * 1_000 + u64::from(nanos % 1_000))
}

/// Whether the model changes its state for this answer: every granted request except the
/// commit check; no refusal changes anything.
fn changes_state(response: &Response) -> bool {
    match response {
        Response::Heartbeat(result) => result.is_ok(),
        Response::Coordinate(result) => result.is_ok(),
        Response::Publish(result) => result.is_ok(),
        Response::Acquire(result) => result.is_ok(),
        Response::Renew(result) => result.is_ok(),
        Response::Release(result) => result.is_ok(),
        Response::CommitCheck(_) => false,
    }
}

fn what(request: &Request) -> &'static str {
    match request {
        Request::Heartbeat { .. } => "heartbeat",
        Request::Coordinate { .. } => "coordinate",
        Request::Publish { .. } => "publish",
        Request::Acquire { .. } => "acquire",
        Request::Renew { .. } => "renew",
        Request::Release { .. } => "release",
        Request::CommitCheck { .. } => "commit check",
    }
}

/// The checkpoint commit's fence, run inside the commit's own transaction `tx`, before
/// its writes: accepted only if `epoch` is `task`'s current epoch, `worker` its owner, and
/// the lease is neither released nor expired by the server's clock — the model's
/// `LeaseTable::check_commit`. The task row stays locked `FOR SHARE` until `tx` ends, so a
/// takeover (whose `UPDATE` needs that row) is ordered entirely after the commit, and one
/// in flight is waited for and then seen. On `Err`, roll `tx` back.
pub fn check_commit_in(
    tx: &mut Transaction<'_>,
    schema: &str,
    job: &str,
    worker: WorkerId,
    task: TaskId,
    epoch: Epoch,
) -> Result<(), CommitRefused> {
    if !crate::checkpoint_schema::valid_schema(schema) {
        return Err(LeaseStoreError::BadConfig {
            reason: format!("invalid schema name {schema:?}"),
        }
        .into());
    }
    let tables = Tables::new(schema);
    let scope = Scope {
        tables: &tables,
        job,
        fixed_ms: None,
    };
    let location = format!("schema {schema} job {job}");
    match crate::lease_task_ops::commit_check(tx, scope, worker, task, epoch) {
        Ok(Ok(())) => Ok(()),
        Ok(Err(refusal)) => Err(CommitRefused::Lease(refusal)),
        Err(failure) => Err(failure.into_error(&location, "commit check", false).into()),
    }
}
