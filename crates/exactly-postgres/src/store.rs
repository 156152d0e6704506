//! [`PgStore`]: one endpoint's inbox, state, outbox and positions in one PostgreSQL schema.
//!
//! A batch is one transaction: two `= ANY($1)` lookups (inbox ids, state keys), then bulk
//! writes with `UNNEST` arrays (inbox, state upserts and deletes, outbox, positions), the
//! counters row, the retention delete, `COMMIT`. Single writer: the connection holds a
//! session advisory lock on the schema name; a zombie whose connection died lost the lock
//! with it, and every transaction runs on the connection that holds the lock.

use crate::error::{describe, store_error, ConnectError};
use exactly_endpoint::{
    Commit, InboxStats, MessageId, OutboxEntry, Outcome, Position, Prefetched, RetentionPolicy,
    StateEntry, Store, StoreError,
};
use postgres::types::FromSql;
use postgres::{Client, NoTls, Row, Statement, Transaction};
use std::collections::HashMap;

/// Settings of a [`PgStore`].
#[derive(Clone, Copy, Debug)]
pub struct PgOptions {
    /// How long processed ids are remembered.
    pub retention: RetentionPolicy,
    /// How long `connect` waits for the lock: the session of a writer that just died may
    /// take a moment to end on the server.
    pub lock_wait_ms: u64,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            retention: RetentionPolicy::Count { ids_max: 1_000_000 },
            lock_wait_ms: 5000,
        }
    }
}

struct Statements {
    inbox_get: Statement,
    state_get: Statement,
    inbox_put: Statement,
    state_put: Statement,
    state_delete: Statement,
    outbox_put: Statement,
    positions_put: Statement,
    counters_put: Statement,
    retain_by_seq: Statement,
    retain_by_age: Statement,
    outbox_pending: Statement,
}

/// Called right before `COMMIT` (fault-injection tests cut the connection there).
pub type BeforeCommitHook = Box<dyn FnMut() + Send>;

/// The PostgreSQL endpoint store.
pub struct PgStore {
    client: Client,
    schema: String,
    options: PgOptions,
    statements: Statements,
    next_inbox_seq: i64,
    next_outbox_seq: i64,
    before_commit: Option<BeforeCommitHook>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("schema", &self.schema)
            .finish()
    }
}

fn valid_schema(schema: &str) -> bool {
    let mut chars = schema.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    first_ok
        && schema.len() <= 63
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// Prefix of the `application_name` of a store's connection (when the URL sets none), so
/// an operator can find an endpoint's session in `pg_stat_activity`.
pub const APPLICATION_NAME_PREFIX: &str = "exactly-endpoint/";

/// How long PostgreSQL lets one of our sessions sit idle inside a transaction before it
/// ends the session. A process paused inside a transaction (SIGSTOP, a frozen VM, a
/// zombie) keeps its row locks until the transaction ends — a successor taking the job
/// over would wait on the epoch row forever. Our transactions never wait between
/// statements for more than the handler's or the checkpoint's own work (milliseconds), so
/// only a paused or dead process trips this; its next statement then fails as a lost
/// connection, which every caller already handles (reconnect, fencing check).
pub const IDLE_IN_TRANSACTION_TIMEOUT_MS: u64 = 15_000;

pub(crate) fn connect_client(url: &str, application_name: &str) -> Result<Client, ConnectError> {
    let mut config: postgres::Config = url.parse().map_err(|e| ConnectError::BadUrl {
        reason: describe(&e),
    })?;
    if config.get_application_name().is_none() {
        config.application_name(application_name);
    }
    let timeout =
        format!("-c idle_in_transaction_session_timeout={IDLE_IN_TRANSACTION_TIMEOUT_MS}");
    // The given options come last: a setting the user chose in the URL (their own
    // idle-in-transaction timeout included) wins over this default.
    let options = match config.get_options() {
        Some(given) => format!("{timeout} {given}"),
        None => timeout,
    };
    config.options(&options);
    config.connect(NoTls).map_err(|e| {
        let reason = describe(&e);
        tracing::warn!(hosts = ?config.get_hosts(), %reason, "cannot connect to PostgreSQL");
        ConnectError::Unreachable { reason }
    })
}

/// Column `index` (named `column`) of a row of `table`, or a typed error naming both.
fn column<'a, T: FromSql<'a>>(
    row: &'a Row,
    table: &str,
    index: usize,
    column: &str,
) -> Result<T, StoreError> {
    row.try_get(index).map_err(|e| StoreError::BadRow {
        table: table.to_string(),
        column: column.to_string(),
        reason: describe(&e),
    })
}

/// A stored `bigint` that must not be negative, as `u64`.
fn unsigned(value: i64, table: &str, column: &str) -> Result<u64, StoreError> {
    u64::try_from(value).map_err(|_| StoreError::BadRow {
        table: table.to_string(),
        column: column.to_string(),
        reason: format!("negative value {value}"),
    })
}

/// Drops `schema` and everything in it (tests, `exactly endpoint bank` clean-up).
pub fn drop_schema(url: &str, schema: &str) -> Result<(), ConnectError> {
    if !valid_schema(schema) {
        return Err(ConnectError::BadSchema {
            schema: schema.to_string(),
        });
    }
    let mut client = connect_client(url, &format!("{APPLICATION_NAME_PREFIX}drop"))?;
    client
        .batch_execute(&format!("DROP SCHEMA IF EXISTS {schema} CASCADE"))
        .map_err(|e| ConnectError::Store(store_error(e)))
}

impl PgStore {
    /// Connects to `url`, creates the endpoint's tables in `schema` if needed and takes the
    /// single-writer lock ([`StoreError::Locked`] if another connection holds it).
    pub fn connect(url: &str, schema: &str, options: PgOptions) -> Result<Self, ConnectError> {
        if !valid_schema(schema) {
            return Err(ConnectError::BadSchema {
                schema: schema.to_string(),
            });
        }
        let mut client = connect_client(url, &format!("{APPLICATION_NAME_PREFIX}{schema}"))?;
        lock_schema(&mut client, schema, options.lock_wait_ms)?;
        create_tables(&mut client, schema)?;
        let statements = prepare(&mut client, schema).map_err(store_error)?;
        let row = client
            .query_one(
                &format!("SELECT inbox_seq, outbox_seq FROM {schema}.counters"),
                &[],
            )
            .map_err(store_error)?;
        Ok(Self {
            client,
            schema: schema.to_string(),
            options,
            statements,
            next_inbox_seq: column::<i64>(&row, "counters", 0, "inbox_seq")? + 1,
            next_outbox_seq: column::<i64>(&row, "counters", 1, "outbox_seq")? + 1,
            before_commit: None,
        })
    }

    /// The server process id of this store's connection (to cut it in tests).
    pub fn backend_pid(&mut self) -> Result<i32, StoreError> {
        let row = self
            .client
            .query_one("SELECT pg_backend_pid()", &[])
            .map_err(store_error)?;
        column(&row, "pg_backend_pid()", 0, "pid")
    }

    /// Installs a hook run right before each `COMMIT` (fault injection).
    pub fn set_before_commit(&mut self, hook: Option<BeforeCommitHook>) {
        self.before_commit = hook;
    }

    /// The schema.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    fn write_commit(
        statements: &Statements,
        tx: &mut Transaction<'_>,
        commit: &Commit,
        seqs: (i64, i64),
    ) -> Result<(), postgres::Error> {
        let (inbox_seq, outbox_seq) = seqs;
        if !commit.inbox.is_empty() {
            let ids: Vec<&[u8]> = commit.inbox.iter().map(|(id, _)| &id.0[..]).collect();
            let outcomes: Vec<i16> = commit.inbox.iter().map(|(_, o)| o.code()).collect();
            let seqs: Vec<i64> = (0..ids.len() as i64).map(|i| inbox_seq + i).collect();
            tx.execute(
                &statements.inbox_put,
                &[&ids, &outcomes, &seqs, &commit.now_ms],
            )?;
        }
        write_state(statements, tx, commit)?;
        if !commit.outbox.is_empty() {
            let o = &commit.outbox;
            let seqs: Vec<i64> = (0..o.len() as i64).map(|i| outbox_seq + i).collect();
            let ids: Vec<&[u8]> = o.iter().map(|m| &m.id.0[..]).collect();
            let topics: Vec<&str> = o.iter().map(|m| m.topic.as_str()).collect();
            let keys: Vec<&[u8]> = o.iter().map(|m| m.key.as_slice()).collect();
            let payloads: Vec<&[u8]> = o.iter().map(|m| m.payload.as_slice()).collect();
            tx.execute(
                &statements.outbox_put,
                &[&seqs, &ids, &topics, &keys, &payloads],
            )?;
        }
        if !commit.positions.is_empty() {
            let p = &commit.positions;
            let topics: Vec<&str> = p.iter().map(|p| p.topic.as_str()).collect();
            let partitions: Vec<i64> = p.iter().map(|p| i64::from(p.partition)).collect();
            let next: Vec<i64> = p.iter().map(|p| p.next_offset as i64).collect();
            tx.execute(&statements.positions_put, &[&topics, &partitions, &next])?;
        }
        let last_inbox = inbox_seq + commit.inbox.len() as i64 - 1;
        let last_outbox = outbox_seq + commit.outbox.len() as i64 - 1;
        tx.execute(&statements.counters_put, &[&last_inbox, &last_outbox])?;
        Ok(())
    }

    fn retain(
        statements: &Statements,
        retention: RetentionPolicy,
        tx: &mut Transaction<'_>,
        commit: &Commit,
        last_inbox: i64,
    ) -> Result<(), postgres::Error> {
        match retention {
            RetentionPolicy::KeepAll => {}
            RetentionPolicy::Count { ids_max } => {
                let kept = match i64::try_from(ids_max) {
                    Ok(kept) => kept,
                    // Beyond `i64::MAX`: more ids than can exist, so keep them all.
                    Err(_) => i64::MAX,
                };
                let below = last_inbox - kept;
                if below > 0 {
                    tx.execute(&statements.retain_by_seq, &[&below])?;
                }
            }
            RetentionPolicy::Age { age_ms } => {
                tx.execute(&statements.retain_by_age, &[&(commit.now_ms - age_ms)])?;
            }
        }
        Ok(())
    }
}

fn write_state(
    statements: &Statements,
    tx: &mut Transaction<'_>,
    commit: &Commit,
) -> Result<(), postgres::Error> {
    let (mut keys, mut values, mut deletes) = (Vec::new(), Vec::new(), Vec::new());
    for (key, value) in &commit.state {
        match value {
            Some(value) => {
                keys.push(key.as_slice());
                values.push(value.as_slice());
            }
            None => deletes.push(key.as_slice()),
        }
    }
    if !keys.is_empty() {
        tx.execute(&statements.state_put, &[&keys, &values])?;
    }
    if !deletes.is_empty() {
        tx.execute(&statements.state_delete, &[&deletes])?;
    }
    Ok(())
}

fn lock_schema(client: &mut Client, schema: &str, wait_ms: u64) -> Result<(), ConnectError> {
    let name = format!("exactly-endpoint/{schema}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_millis(wait_ms);
    loop {
        let row = client
            .query_one("SELECT pg_try_advisory_lock(hashtext($1))", &[&name])
            .map_err(|e| ConnectError::Store(store_error(e)))?;
        if column::<bool>(&row, "pg_try_advisory_lock()", 0, "locked")? {
            return Ok(());
        }
        if std::time::Instant::now() >= deadline {
            return Err(ConnectError::Store(StoreError::Locked {
                what: format!("advisory lock of schema {schema}"),
            }));
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn create_tables(client: &mut Client, s: &str) -> Result<(), ConnectError> {
    let ddl = format!(
        "CREATE SCHEMA IF NOT EXISTS {s};
         CREATE TABLE IF NOT EXISTS {s}.inbox (id bytea PRIMARY KEY, outcome smallint NOT NULL,
             seq bigint NOT NULL, at_ms bigint NOT NULL);
         CREATE INDEX IF NOT EXISTS inbox_seq ON {s}.inbox (seq);
         CREATE TABLE IF NOT EXISTS {s}.state (key bytea PRIMARY KEY, value bytea NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}.outbox (seq bigint PRIMARY KEY, id bytea NOT NULL,
             topic text NOT NULL, key bytea NOT NULL, payload bytea NOT NULL);
         CREATE TABLE IF NOT EXISTS {s}.positions (topic text NOT NULL, part bigint NOT NULL,
             next_offset bigint NOT NULL, PRIMARY KEY (topic, part));
         CREATE TABLE IF NOT EXISTS {s}.counters (one boolean PRIMARY KEY DEFAULT true CHECK (one),
             inbox_seq bigint NOT NULL, outbox_seq bigint NOT NULL);
         INSERT INTO {s}.counters (inbox_seq, outbox_seq) VALUES (0, 0) ON CONFLICT DO NOTHING;"
    );
    client
        .batch_execute(&ddl)
        .map_err(|e| ConnectError::Store(store_error(e)))
}

fn prepare(client: &mut Client, s: &str) -> Result<Statements, postgres::Error> {
    let mut p = |sql: String| client.prepare(&sql);
    Ok(Statements {
        inbox_get: p(format!("SELECT id, outcome FROM {s}.inbox WHERE id = ANY($1)"))?,
        state_get: p(format!("SELECT key, value FROM {s}.state WHERE key = ANY($1)"))?,
        inbox_put: p(format!(
            "INSERT INTO {s}.inbox (id, outcome, seq, at_ms)
             SELECT i, o, q, $4 FROM UNNEST($1::bytea[], $2::int2[], $3::int8[]) AS t(i, o, q)"
        ))?,
        state_put: p(format!(
            "INSERT INTO {s}.state (key, value) SELECT * FROM UNNEST($1::bytea[], $2::bytea[])
             ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
        ))?,
        state_delete: p(format!("DELETE FROM {s}.state WHERE key = ANY($1)"))?,
        outbox_put: p(format!(
            "INSERT INTO {s}.outbox (seq, id, topic, key, payload)
             SELECT * FROM UNNEST($1::int8[], $2::bytea[], $3::text[], $4::bytea[], $5::bytea[])"
        ))?,
        positions_put: p(format!(
            "INSERT INTO {s}.positions (topic, part, next_offset)
             SELECT * FROM UNNEST($1::text[], $2::int8[], $3::int8[])
             ON CONFLICT (topic, part) DO UPDATE SET next_offset = EXCLUDED.next_offset"
        ))?,
        counters_put: p(format!(
            "UPDATE {s}.counters SET inbox_seq = GREATEST(inbox_seq, $1), outbox_seq = GREATEST(outbox_seq, $2)"
        ))?,
        retain_by_seq: p(format!("DELETE FROM {s}.inbox WHERE seq <= $1"))?,
        retain_by_age: p(format!("DELETE FROM {s}.inbox WHERE at_ms < $1"))?,
        outbox_pending: p(format!(
            "SELECT seq, id, topic, key, payload FROM {s}.outbox ORDER BY seq LIMIT $1"
        ))?,
    })
}

fn id_of(bytes: &[u8]) -> Option<MessageId> {
    Some(MessageId(bytes.try_into().ok()?))
}

fn bad_id(table: &str) -> StoreError {
    StoreError::BadRow {
        table: table.to_string(),
        column: "id".to_string(),
        reason: "not 16 bytes".to_string(),
    }
}

/// Inbox rows `(id, outcome)` as a map; a malformed row is an error, never skipped.
fn inbox_rows(rows: &[postgres::Row]) -> Result<HashMap<MessageId, Outcome>, StoreError> {
    let mut found = HashMap::with_capacity(rows.len());
    for row in rows {
        let id = id_of(column(row, "inbox", 0, "id")?).ok_or_else(|| bad_id("inbox"))?;
        let code: i16 = column(row, "inbox", 1, "outcome")?;
        let outcome = Outcome::from_code(code).ok_or_else(|| StoreError::BadRow {
            table: "inbox".to_string(),
            column: "outcome".to_string(),
            reason: format!("unknown outcome code {code}"),
        })?;
        found.insert(id, outcome);
    }
    Ok(found)
}

impl Store for PgStore {
    fn transact(
        &mut self,
        ids: &[MessageId],
        keys: &[Vec<u8>],
        plan: &mut dyn FnMut(Prefetched) -> Option<Commit>,
    ) -> Result<bool, StoreError> {
        let mut tx = self.client.transaction().map_err(store_error)?;
        let id_bytes: Vec<&[u8]> = ids.iter().map(|id| &id.0[..]).collect();
        let mut prefetched = Prefetched::default();
        let rows = tx
            .query(&self.statements.inbox_get, &[&id_bytes])
            .map_err(store_error)?;
        prefetched.inbox = inbox_rows(&rows)?;
        for row in tx
            .query(&self.statements.state_get, &[&keys])
            .map_err(store_error)?
        {
            prefetched.state.insert(
                column(&row, "state", 0, "key")?,
                column(&row, "state", 1, "value")?,
            );
        }
        let Some(commit) = plan(prefetched) else {
            tx.rollback().map_err(store_error)?;
            return Ok(false);
        };
        let seqs = (self.next_inbox_seq, self.next_outbox_seq);
        Self::write_commit(&self.statements, &mut tx, &commit, seqs).map_err(store_error)?;
        let last_inbox = seqs.0 + commit.inbox.len() as i64 - 1;
        Self::retain(
            &self.statements,
            self.options.retention,
            &mut tx,
            &commit,
            last_inbox,
        )
        .map_err(store_error)?;
        if let Some(hook) = self.before_commit.as_mut() {
            hook();
        }
        tx.commit().map_err(store_error)?;
        self.next_inbox_seq += commit.inbox.len() as i64;
        self.next_outbox_seq += commit.outbox.len() as i64;
        Ok(true)
    }

    fn pending_outbox(&mut self, max: usize) -> Result<Vec<OutboxEntry>, StoreError> {
        let rows = self
            .client
            .query(&self.statements.outbox_pending, &[&(max as i64)])
            .map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok(OutboxEntry {
                    seq: unsigned(column(row, "outbox", 0, "seq")?, "outbox", "seq")?,
                    id: id_of(column(row, "outbox", 1, "id")?).ok_or_else(|| bad_id("outbox"))?,
                    topic: column(row, "outbox", 2, "topic")?,
                    key: column(row, "outbox", 3, "key")?,
                    payload: column(row, "outbox", 4, "payload")?,
                })
            })
            .collect()
    }

    fn mark_dispatched(&mut self, upto_seq: u64) -> Result<(), StoreError> {
        // A mark need not be durable (a lost mark only republishes, and the receiving inbox
        // drops the copy), so its commit does not wait for the WAL flush. One round trip:
        // the simple-query protocol runs the four statements (`upto_seq` is an integer).
        let sql = format!(
            "BEGIN; SET LOCAL synchronous_commit TO OFF;
             DELETE FROM {}.outbox WHERE seq <= {}; COMMIT;",
            self.schema, upto_seq as i64
        );
        self.client.batch_execute(&sql).map_err(store_error)
    }

    fn positions(&mut self) -> Result<Vec<Position>, StoreError> {
        let sql = format!(
            "SELECT topic, part, next_offset FROM {}.positions ORDER BY topic, part",
            self.schema
        );
        let rows = self.client.query(&sql, &[]).map_err(store_error)?;
        rows.iter()
            .map(|row| {
                let part: i64 = column(row, "positions", 1, "part")?;
                Ok(Position {
                    topic: column(row, "positions", 0, "topic")?,
                    partition: u32::try_from(part).map_err(|_| StoreError::BadRow {
                        table: "positions".to_string(),
                        column: "part".to_string(),
                        reason: format!("partition {part} out of range"),
                    })?,
                    next_offset: unsigned(
                        column(row, "positions", 2, "next_offset")?,
                        "positions",
                        "next_offset",
                    )?,
                })
            })
            .collect()
    }

    fn state_entries(&mut self) -> Result<Vec<StateEntry>, StoreError> {
        let sql = format!("SELECT key, value FROM {}.state ORDER BY key", self.schema);
        let rows = self.client.query(&sql, &[]).map_err(store_error)?;
        rows.iter()
            .map(|row| {
                Ok((
                    column(row, "state", 0, "key")?,
                    column(row, "state", 1, "value")?,
                ))
            })
            .collect()
    }

    fn inbox_lookup(
        &mut self,
        ids: &[MessageId],
    ) -> Result<HashMap<MessageId, Outcome>, StoreError> {
        let id_bytes: Vec<&[u8]> = ids.iter().map(|id| &id.0[..]).collect();
        let rows = self
            .client
            .query(&self.statements.inbox_get, &[&id_bytes])
            .map_err(store_error)?;
        inbox_rows(&rows)
    }

    fn inbox_stats(&mut self) -> Result<InboxStats, StoreError> {
        let sql = format!(
            "SELECT count(*), pg_total_relation_size('{}.inbox') FROM {}.inbox",
            self.schema, self.schema
        );
        let row = self.client.query_one(&sql, &[]).map_err(store_error)?;
        Ok(InboxStats {
            ids: unsigned(column(&row, "inbox", 0, "count(*)")?, "inbox", "count(*)")?,
            memory_bytes: 0,
            disk_bytes: unsigned(
                column(&row, "inbox", 1, "pg_total_relation_size")?,
                "inbox",
                "pg_total_relation_size",
            )?,
        })
    }
}

#[cfg(test)]
mod idle_in_transaction_tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    //! A session of ours left idle inside a transaction (its process paused) is ended by
    //! the server, so its row lock passes to a waiting successor instead of holding it
    //! forever. Needs the PostgreSQL of the tests (`EXACTLY_PG_URL` or the local one).
    use super::{connect_client, IDLE_IN_TRANSACTION_TIMEOUT_MS};
    use std::time::{Duration, Instant};

    #[test]
    fn a_paused_holder_loses_its_row_lock() {
        let url = std::env::var("EXACTLY_PG_URL")
            .unwrap_or_else(|_| "host=127.0.0.1 user=postgres dbname=test".to_string());
        let schema = format!("idle_lock_{}", std::process::id());
        let mut setup = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        setup
            .batch_execute(&format!(
                "DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema};
                 CREATE TABLE {schema}.jobs (job text PRIMARY KEY);
                 INSERT INTO {schema}.jobs VALUES ('j');"
            ))
            .unwrap();
        let mut holder = connect_client(&url, "exactly-test/holder").unwrap();
        let mut holding = holder.transaction().unwrap();
        let lock = format!("SELECT job FROM {schema}.jobs WHERE job = 'j' FOR UPDATE");
        holding.query(&lock, &[]).unwrap();
        // The holder now sits idle inside its transaction, as a paused process would.
        let started = Instant::now();
        let mut successor = postgres::Client::connect(&url, postgres::NoTls).unwrap();
        successor.batch_execute("SET lock_timeout = '60s'").unwrap();
        successor
            .query(&lock, &[])
            .expect("the successor gets the lock");
        let waited = started.elapsed();
        let limit = Duration::from_millis(IDLE_IN_TRANSACTION_TIMEOUT_MS + 10_000);
        assert!(waited < limit, "waited {waited:?} for the row lock");
        assert!(
            holding.query("SELECT 1", &[]).is_err(),
            "the idle holder's session was ended"
        );
        drop(holding);
        setup
            .batch_execute(&format!("DROP SCHEMA {schema} CASCADE"))
            .unwrap();
    }
}
