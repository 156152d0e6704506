//! The textbook PostgreSQL outbox the endpoint is compared with: every message its own
//! transaction (inbox lookup + insert, state upsert, outbox insert, commit), relayed in
//! pages of 1000.

use crate::error::{BenchError, Context};
use exactly_endpoint::bank::{account_key, Credit, Transfer, CREDITS_TOPIC, INITIAL_BALANCE};
use exactly_endpoint::testkit::Workload;
use exactly_endpoint::InboxStats;
use exactly_postgres::drop_schema;
use std::time::{Duration, Instant};

/// Runs the naive outbox over `workload` in a fresh `schema`, dropped afterwards;
/// returns the time taken and the inbox's size.
pub(super) fn naive_pg(
    url: &str,
    schema: &str,
    workload: &Workload,
) -> Result<(Duration, InboxStats), BenchError> {
    let mut client =
        postgres::Client::connect(url, postgres::NoTls).during("connecting to PostgreSQL")?;
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema};
         CREATE TABLE {schema}.inbox (id bytea PRIMARY KEY);
         CREATE TABLE {schema}.state (key bytea PRIMARY KEY, value bigint NOT NULL);
         CREATE TABLE {schema}.outbox (seq bigserial PRIMARY KEY, id bytea NOT NULL, topic text NOT NULL,
             key bytea NOT NULL, payload bytea NOT NULL);"
        ))
        .during("creating the naive schema")?;
    let result = naive_loop(&mut client, schema, workload);
    let size = client.query_one(&format!("SELECT pg_total_relation_size('{schema}.inbox'), (SELECT count(*) FROM {schema}.inbox)"), &[]);
    drop(client);
    drop_schema(url, schema).during("dropping the schema")?;
    let elapsed = result?;
    let row = size.during("measuring the inbox")?;
    let ids: i64 = row.try_get(1).during("reading the inbox count")?;
    let disk: i64 = row.try_get(0).during("reading the inbox size")?;
    let inbox = InboxStats {
        ids: u64::try_from(ids).during("a negative inbox count")?,
        memory_bytes: 0,
        disk_bytes: u64::try_from(disk).during("a negative inbox size")?,
    };
    Ok((elapsed, inbox))
}

fn naive_loop(
    client: &mut postgres::Client,
    s: &str,
    workload: &Workload,
) -> Result<Duration, BenchError> {
    let prepare = "preparing the naive statements";
    let seen = client
        .prepare(&format!("SELECT 1 FROM {s}.inbox WHERE id = $1"))
        .during(prepare)?;
    let record = client
        .prepare(&format!("INSERT INTO {s}.inbox (id) VALUES ($1)"))
        .during(prepare)?;
    let debit = client
        .prepare(&format!(
            "INSERT INTO {s}.state (key, value) VALUES ($1, $2::int8 - $3::int8)
         ON CONFLICT (key) DO UPDATE SET value = {s}.state.value - $3::int8 RETURNING value"
        ))
        .during(prepare)?;
    let enqueue = client
        .prepare(&format!(
            "INSERT INTO {s}.outbox (id, topic, key, payload) VALUES ($1, $2, $3, $4)"
        ))
        .during(prepare)?;
    let page = client
        .prepare(&format!(
            "SELECT seq FROM {s}.outbox ORDER BY seq LIMIT 1000"
        ))
        .during(prepare)?;
    let mark = client
        .prepare(&format!("DELETE FROM {s}.outbox WHERE seq <= $1"))
        .during(prepare)?;
    let step = "naive outbox transaction";
    let started = Instant::now();
    for (i, delivery) in workload.deliveries.iter().enumerate() {
        let message = &delivery.message;
        let mut tx = client.transaction().during(step)?;
        if tx
            .query_opt(&seen, &[&&message.id.0[..]])
            .during(step)?
            .is_none()
        {
            let t: Transfer =
                serde_json::from_slice(&message.payload).during("parsing a transfer")?;
            tx.execute(&record, &[&&message.id.0[..]]).during(step)?;
            let balance: i64 = tx
                .query_one(
                    &debit,
                    &[&account_key(&t.from), &INITIAL_BALANCE, &t.amount],
                )
                .during(step)?
                .try_get(0)
                .during(step)?;
            let credit = Credit {
                transfer: message.id.to_hex(),
                from: t.from,
                to: t.to.clone(),
                amount: t.amount,
                debit_balance_after: balance,
            };
            let payload = serde_json::to_vec(&credit).during("encoding a credit")?;
            tx.execute(
                &enqueue,
                &[
                    &&message.id.derive(0).0[..],
                    &CREDITS_TOPIC,
                    &t.to.as_bytes(),
                    &payload,
                ],
            )
            .during(step)?;
        }
        tx.commit().during(step)?;
        if i % 1000 == 999 || i + 1 == workload.deliveries.len() {
            relay(client, &page, &mark)?;
        }
    }
    Ok(started.elapsed())
}

fn relay(
    client: &mut postgres::Client,
    page: &postgres::Statement,
    mark: &postgres::Statement,
) -> Result<(), BenchError> {
    loop {
        let rows = client.query(page, &[]).during("relaying the outbox")?;
        let Some(last) = rows.last() else {
            return Ok(());
        };
        let last: i64 = last.try_get(0).during("relaying the outbox")?;
        client
            .execute(mark, &[&last])
            .during("marking relayed rows")?;
    }
}
