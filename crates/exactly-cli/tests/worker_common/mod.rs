//! Shared pieces of the `exactly worker` tests: a cluster schema of its own in the local
//! PostgreSQL (dropped at the end), worker processes, `job submit` and `job status`, and an
//! independent oracle for the distributed `balances-by-branch` job — reference balances
//! and branch totals computed by the test from the input (its own FNV-1a, not the job's
//! code), the route hop counted (two records per transfer, ids exact per writer), the
//! accounts hop checked per account (change sequences 1..=n exactly once, each balance
//! the previous plus the delta, deltas summing to the balance), and every branch's last
//! total equal to its accounts' balances.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::nats_run_common::{assert_lineage_exact, exactly, read_all};
use exactly_nats::NatsLog;
use std::collections::BTreeMap;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

/// A schema of the local PostgreSQL for one test, dropped when the guard goes.
pub struct Schema {
    pub url: String,
    pub name: String,
}

impl Schema {
    pub fn new(url: &str, prefix: &str) -> Self {
        let name = format!("{prefix}_{}", std::process::id());
        let schema = Schema {
            url: url.to_string(),
            name,
        };
        schema.drop_now();
        schema
    }

    fn drop_now(&self) {
        let mut client = postgres::Client::connect(&self.url, postgres::NoTls).unwrap();
        client
            .batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name))
            .unwrap();
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.drop_now();
        }
    }
}

/// `exactly worker` on the cluster, quiet.
pub fn spawn_worker(pg: &str, schema: &str, nats: &str, state: &std::path::Path) -> Child {
    exactly(&["worker", "--cluster", pg, "--schema", schema, "--log", nats])
        .arg("--state-dir")
        .arg(state)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// Submits the distributed `balances-by-branch` job `name` over `transfers` (16 branches,
/// output `totals`).
pub fn submit_by_branch(
    pg: &str,
    schema: &str,
    nats: &str,
    name: &str,
    key_groups: u32,
    checkpoint_interval_ms: u64,
) {
    let groups = key_groups.to_string();
    let interval = checkpoint_interval_ms.to_string();
    let output = exactly(&[
        "job",
        "submit",
        name,
        "--cluster",
        pg,
        "--schema",
        schema,
        "--log",
        nats,
        "--kind",
        "balances-by-branch",
        "--input",
        "transfers",
        "--output",
        "totals",
        "--key-groups",
        &groups,
        "--param",
        "branches=16",
        "--checkpoint-interval-ms",
        &interval,
    ])
    .output()
    .unwrap();
    assert!(
        output.status.success(),
        "job submit failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// `exactly job status --json`.
pub fn status(pg: &str, schema: &str, nats: &str, name: &str) -> serde_json::Value {
    let stdout = on_cluster(&["job", "status", name], pg, schema, nats);
    serde_json::from_str(&stdout).unwrap()
}

/// `exactly <command> --cluster … --schema … --log … --json`'s standard output; the
/// command must succeed.
fn on_cluster(command: &[&str], pg: &str, schema: &str, nats: &str) -> String {
    let mut args = command.to_vec();
    args.extend(["--cluster", pg, "--schema", schema, "--log", nats, "--json"]);
    let output = exactly(&args).output().unwrap();
    assert!(
        output.status.success(),
        "exactly {} failed: {}",
        command.join(" "),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// `exactly cluster status --json`: one value per job, then the workers.
pub fn cluster_status(pg: &str, schema: &str, nats: &str) -> Vec<serde_json::Value> {
    (on_cluster(&["cluster", "status"], pg, schema, nats).lines())
        .map(|line| serde_json::from_str(line).unwrap())
        .collect()
}

/// `branch-<n:03>`, n = FNV-1a-64(account) mod branches (the documented function,
/// written again here).
pub fn branch(account: &str, branches: u64) -> String {
    let mut hash: u64 = 14_695_981_039_346_656_037;
    for byte in account.as_bytes() {
        hash = (hash ^ u64::from(*byte)).wrapping_mul(1_099_511_628_211);
    }
    format!("branch-{:03}", hash % branches)
}

/// Balances summed from every transfer of `transfers`, and how many transfers.
pub fn reference_balances(log: &NatsLog) -> (BTreeMap<String, i128>, u64) {
    let mut balances = BTreeMap::new();
    let input = read_all(log, "transfers");
    for (_, record) in &input {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let amount = i128::from(v["amount"].as_i64().unwrap());
        *balances
            .entry(v["from"].as_str().unwrap().to_string())
            .or_insert(0) -= amount;
        *balances
            .entry(v["to"].as_str().unwrap().to_string())
            .or_insert(0) += amount;
    }
    (balances, input.len() as u64)
}

/// Branch totals of `balances`.
pub fn reference_totals(balances: &BTreeMap<String, i128>) -> BTreeMap<String, i128> {
    let mut totals = BTreeMap::new();
    for (account, balance) in balances {
        *totals.entry(branch(account, 16)).or_insert(0) += balance;
    }
    totals
}

/// Every record of `topic` kept now, per partition in order, while writers may still be
/// appending (what arrives during the read may or may not be included).
pub fn read_while_running(log: &NatsLog, topic: &str) -> Vec<exactly_nats::StoredRecord> {
    let Ok(open) = log.open_topic(topic) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for partition in 0..open.partitions() {
        let state = log.partition_state(&open, partition).unwrap();
        let mut reader = log.reader(&open, partition, state.first_seq).unwrap();
        loop {
            let batch = reader.next_batch(1000).unwrap();
            if batch.is_empty() {
                break;
            }
            out.extend(batch);
        }
    }
    out
}

/// Each branch's last total in `totals` (read while the job may still be writing).
pub fn last_totals(log: &NatsLog) -> BTreeMap<String, i128> {
    let mut last = BTreeMap::new();
    for record in read_while_running(log, "totals") {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let value: i128 = v["value"].to_string().parse().unwrap();
        last.insert(v["key"].as_str().unwrap().to_string(), value);
    }
    last
}

/// Waits (at most `limit`) until the output holds the reference totals; returns how long
/// it took.
pub fn wait_for_totals(
    log: &NatsLog,
    expected: &BTreeMap<String, i128>,
    limit: Duration,
) -> Duration {
    let start = Instant::now();
    loop {
        if &last_totals(log) == expected {
            return start.elapsed();
        }
        assert!(
            start.elapsed() < limit,
            "the output did not reach the reference totals within {limit:?}: {:?} vs {expected:?}",
            last_totals(log)
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// The whole oracle for job `name` with `source_partitions` input partitions and
/// `key_groups` key groups (see the module documentation).
pub fn assert_by_branch_exactly_once(
    log: &NatsLog,
    name: &str,
    source_partitions: u32,
    key_groups: u32,
) {
    let (balances, transfers) = reference_balances(log);
    // Route hop: two records per transfer, ids exact per writer.
    let mut routed = 0u64;
    for unit in 0..source_partitions {
        let topic = format!("{name}.route.from{unit}");
        let records = read_all(log, &topic);
        assert_lineage_exact(&topic, &records);
        routed += records.len() as u64;
    }
    assert_eq!(
        routed,
        2 * transfers,
        "route hop: not two records per transfer"
    );
    // Accounts hop: per account, sequences 1..=n once each, balances chained.
    let mut changes: BTreeMap<String, Vec<(u64, i128, i128)>> = BTreeMap::new();
    for unit in 0..key_groups {
        let topic = format!("{name}.accounts.from{unit}");
        let records = read_all(log, &topic);
        assert_lineage_exact(&topic, &records);
        for (_, record) in records {
            let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
            let account = v["account"].as_str().unwrap().to_string();
            assert_eq!(v["branch"].as_str().unwrap(), branch(&account, 16));
            let delta: i128 = v["delta"].to_string().parse().unwrap();
            let balance: i128 = v["balance"].to_string().parse().unwrap();
            changes.entry(account).or_default().push((
                v["sequence"].as_u64().unwrap(),
                delta,
                balance,
            ));
        }
    }
    for (account, mut list) in changes {
        list.sort_unstable();
        let mut running = 0i128;
        for (index, (sequence, delta, balance)) in list.iter().enumerate() {
            assert_eq!(
                *sequence,
                index as u64 + 1,
                "account {account}: change sequences not 1..=n once each"
            );
            running += delta;
            assert_eq!(
                *balance, running,
                "account {account}: change {sequence}'s balance is not the sum of deltas"
            );
        }
        assert_eq!(
            Some(&running),
            balances.get(&account),
            "account {account}: deltas do not sum to its balance"
        );
    }
    let totals = read_all(log, "totals");
    assert_lineage_exact("totals", &totals);
    assert_eq!(
        last_totals(log),
        reference_totals(&balances),
        "branch totals differ"
    );
    let (r, ur) = audit_r_ur(log, name, source_partitions);
    println!("audit: R = {r}, UR = {ur}");
    assert!(r == 1.0 && ur == 1.0, "audit: R = {r}, UR = {ur}");
    let mut topics: Vec<String> = (0..source_partitions)
        .map(|unit| format!("{name}.route.from{unit}"))
        .collect();
    topics.extend((0..key_groups).map(|unit| format!("{name}.accounts.from{unit}")));
    topics.push("totals".into());
    let late: u64 = topics
        .iter()
        .map(|topic| assert_writer_order(log, topic))
        .sum();
    println!("{late} late identical republish(es) by replaced owners");
}

/// R and UR of the route stage from its audit: every input transfer's two applications
/// (debit, credit) counted. R: the share applied at least once; UR: the share of
/// applications that were the first of their kind.
pub fn audit_r_ur(log: &NatsLog, name: &str, source_partitions: u32) -> (f64, f64) {
    let mut counts: BTreeMap<(u32, u64, u32), u32> = BTreeMap::new();
    for (partition, record) in read_all(log, "transfers") {
        for index in 0..2 {
            counts.insert((partition, record.sequence - 1, index), 0);
        }
    }
    let mut applied = 0u64;
    for unit in 0..source_partitions {
        let topic = format!("{name}.route.from{unit}.audit");
        let records = read_all(log, &topic);
        assert_lineage_exact(&topic, &records);
        for (_, record) in records {
            for lineage in exactly_engine::decode_audit(&record.value).unwrap() {
                // A route task's input is one partition: its lineage says partition 0.
                assert_eq!(lineage.partition, 0, "{topic}: {lineage:?}");
                let key = (unit, lineage.offset, lineage.index);
                let count = counts
                    .get_mut(&key)
                    .unwrap_or_else(|| panic!("{topic} names {key:?}, not an input transfer"));
                *count += 1;
                applied += 1;
            }
        }
    }
    let delivered = counts.values().filter(|c| **c >= 1).count() as f64;
    let r = delivered / counts.len().max(1) as f64;
    let ur = if applied == 0 {
        1.0
    } else {
        delivered / applied as f64
    };
    (r, ur)
}

/// Along every partition of `topic`, each writer's outputs stand in their own order: the
/// lineage numbers of one writer (message ids `<prefix><n>`) are 0, 1, 2, … in stream
/// order, every record stamped with an epoch. A record whose epoch is below one before it
/// is allowed only in that order: it is an old owner's late publish of a write-ahead
/// output of a manifest committed before the takeover — the same id and value its
/// successor publishes (the per-record expected sequence of a pipelined batch can match
/// again once the successor has republished as many records; JetStream's duplicate window
/// then drops the successor's copy). A zombie with anything else to say would break the
/// order or duplicate an id. Returns how many such late records there were.
pub fn assert_writer_order(log: &NatsLog, topic: &str) -> u64 {
    let mut next: BTreeMap<(u32, String), u64> = BTreeMap::new();
    let mut newest_epoch: BTreeMap<u32, u64> = BTreeMap::new();
    let mut late = 0;
    for (partition, record) in read_all(log, topic) {
        let epoch = record
            .epoch
            .unwrap_or_else(|| panic!("{topic}/{partition} seq {} has no epoch", record.sequence));
        let id = record.msg_id.clone().unwrap_or_default();
        let digits = id.bytes().rev().take_while(u8::is_ascii_digit).count();
        let (prefix, number) = id.split_at(id.len() - digits);
        let expected = next.entry((partition, prefix.to_string())).or_insert(0);
        assert_eq!(
            number.parse::<u64>().ok(),
            Some(*expected),
            "{topic}/{partition} seq {}: {id} out of its writer's order",
            record.sequence
        );
        *expected += 1;
        let newest = newest_epoch.entry(partition).or_insert(0);
        if epoch < *newest {
            late += 1;
        }
        *newest = (*newest).max(epoch);
    }
    late
}

/// From the lease history: every task's epochs were granted 1..=n, each once, and the
/// last is the task's current epoch. Returns the takeovers (grants beyond the first).
pub fn assert_lease_history(pg: &str, schema: &str, job: &str) -> u64 {
    let mut client = postgres::Client::connect(pg, postgres::NoTls).unwrap();
    let query = |client: &mut postgres::Client, table: &str| -> Vec<(i64, i64)> {
        let sql =
            format!("SELECT task, epoch FROM {schema}.{table} WHERE job = $1 ORDER BY task, epoch");
        let rows = client.query(&sql, &[&job]).unwrap();
        rows.iter().map(|row| (row.get(0), row.get(1))).collect()
    };
    let mut granted: BTreeMap<i64, Vec<i64>> = BTreeMap::new();
    for (task, epoch) in query(&mut client, "cluster_task_history") {
        granted.entry(task).or_default().push(epoch);
    }
    let mut takeovers = 0;
    for (task, epoch) in query(&mut client, "cluster_tasks") {
        let expected: Vec<i64> = (1..=epoch).collect();
        let history = granted.get(&task).cloned().unwrap_or_default();
        assert_eq!(
            history, expected,
            "task {task}: epochs granted are not 1..={epoch} once each"
        );
        takeovers += (epoch - 1).max(0) as u64;
    }
    takeovers
}
