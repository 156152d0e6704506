//! Shared pieces of the `exactly run balances --log nats://…` tests: a nats-server of our
//! own (the pinned binary of `.ci/setup-nats`, `sync_interval: always`), the commands,
//! and an independent oracle that reads the topics in-process after the job stopped —
//! reference balances summed from the input by the test itself, the last output per
//! account, every audited lineage, and the outputs' message ids counted per writer (no
//! duplicate, no gap) — without `exactly run check`, `exactly nats verify` or the
//! engine's checker.
#![allow(
    dead_code,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

pub mod supervised;

use exactly_nats::server::{server_binary, NatsCluster, NatsServer};
use exactly_nats::{NatsError, NatsLog, StoredRecord};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};

/// The binary under test.
pub const EXE: &str = env!("CARGO_BIN_EXE_exactly");

/// A nats-server of our own in `dir`, or `None` (the test is skipped) when no binary is
/// installed and `EXACTLY_REQUIRE_SERVICES=1` is not set.
pub fn server(dir: &Path) -> Option<NatsServer> {
    let required = std::env::var("EXACTLY_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    if let Err(error) = server_binary() {
        assert!(!required, "nats-server is required: {error}");
        eprintln!("skipped: {error} (run .ci/setup-nats)");
        return None;
    }
    let server = NatsServer::start_single(dir).unwrap();
    server.wait_ready(10_000).unwrap();
    Some(server)
}

/// Three routed nodes of our own in `dir` (R3 streams possible), or `None` (skipped) as
/// for [`server`].
pub fn cluster(dir: &Path) -> Option<NatsCluster> {
    let required = std::env::var("EXACTLY_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    if let Err(error) = server_binary() {
        assert!(!required, "nats-server is required: {error}");
        eprintln!("skipped: {error} (run .ci/setup-nats)");
        return None;
    }
    let cluster = NatsCluster::start(dir).unwrap();
    cluster.wait_ready(10_000).unwrap();
    Some(cluster)
}

/// `exactly <args>` with no standard input.
pub fn exactly(args: &[&str]) -> Command {
    let mut command = Command::new(EXE);
    command.args(args).stdin(Stdio::null());
    command
}

/// Appends `count` generated transfers between 300 accounts to `transfers` (4 partitions).
pub fn gen(url: &str, count: u64, seed: u64) {
    let status = exactly(&[
        "gen",
        "transfers",
        "--log",
        url,
        "--topic",
        "transfers",
        "--partitions",
        "4",
        "--accounts",
        "300",
        "--count",
        &count.to_string(),
        "--seed",
        &seed.to_string(),
    ])
    .stdout(Stdio::null())
    .status()
    .unwrap();
    assert!(status.success(), "gen failed");
}

/// `exactly run balances` on NATS, exactly-once, checkpointing every 20 ms, with an audit
/// topic; its local state under `dir`.
pub fn run_balances(url: &str, dir: &Path, parallelism: u32) -> Command {
    let mut command = exactly(&[
        "run",
        "balances",
        "--log",
        url,
        "--input",
        "transfers",
        "--output",
        "balances",
        "--audit",
        "applied",
        "--guarantee",
        "exactly-once",
        "--checkpoint-interval-ms",
        "20",
        "--json",
        "--parallelism",
        &parallelism.to_string(),
    ]);
    command.arg("--dir").arg(dir);
    command
}

/// Every record of `topic` kept now, per partition in order (none if it does not exist).
pub fn read_all(log: &NatsLog, topic: &str) -> Vec<(u32, StoredRecord)> {
    let open = match log.open_topic(topic) {
        Ok(open) => open,
        Err(NatsError::TopicNotFound { .. }) => return Vec::new(),
        Err(error) => panic!("opening {topic}: {error}"),
    };
    let mut out = Vec::new();
    for partition in 0..open.partitions() {
        let state = log.partition_state(&open, partition).unwrap();
        let mut reader = log.reader(&open, partition, state.first_seq).unwrap();
        // A read that times out (a loaded machine, R3 streams) is a new reader at the same
        // sequence, a few times: nothing is skipped, the sequence check below still holds.
        let mut timeouts = 0;
        loop {
            let batch = match reader.next_batch(1000) {
                Ok(batch) => batch,
                Err(NatsError::Timeout { .. }) if timeouts < 5 => {
                    timeouts += 1;
                    reader = log.reader(&open, partition, reader.next_seq()).unwrap();
                    continue;
                }
                Err(error) => panic!("reading {topic}/{partition}: {error}"),
            };
            if batch.is_empty() {
                break;
            }
            out.extend(batch.into_iter().map(|r| (partition, r)));
        }
        assert_eq!(reader.next_seq(), state.last_seq + 1, "{topic}/{partition}");
    }
    out
}

/// Message ids of `records` counted per writer (`<prefix><n>`): each writer's numbers
/// must be exactly 0..count, every one once.
pub fn assert_lineage_exact(topic: &str, records: &[(u32, StoredRecord)]) {
    let mut by_prefix: BTreeMap<String, Vec<u64>> = BTreeMap::new();
    for (partition, record) in records {
        let id = record
            .msg_id
            .as_deref()
            .unwrap_or_else(|| panic!("{topic}/{partition} seq {} has no id", record.sequence));
        let digits = id.bytes().rev().take_while(u8::is_ascii_digit).count();
        let (prefix, number) = id.split_at(id.len() - digits);
        by_prefix
            .entry(format!("{partition}/{prefix}"))
            .or_default()
            .push(number.parse().unwrap());
    }
    for (prefix, mut numbers) in by_prefix {
        numbers.sort_unstable();
        let expected: Vec<u64> = (0..numbers.len() as u64).collect();
        assert!(
            numbers == expected,
            "{topic} {prefix}: ids are not exactly 0..{} once each (duplicates or gaps)",
            numbers.len()
        );
    }
}

/// Asserts on the topics at `url`: every account's last output equals its balance summed
/// from the input transfers, every debit and credit was applied exactly once (audit), and
/// the outputs' and audit's ids have no duplicate and no gap. Returns the transfers read.
pub fn assert_balances_exactly_once(url: &str) -> u64 {
    assert_balances_exactly_once_after(url, &BTreeMap::new())
}

/// [`assert_balances_exactly_once`] for a job that started after sequence `skipped[p]` of
/// each input partition `p` (absent: from the beginning): the records up to there must
/// not count, and an audit naming one of them fails. Returns the transfers counted.
pub fn assert_balances_exactly_once_after(url: &str, skipped: &BTreeMap<u32, u64>) -> u64 {
    let log = NatsLog::connect(url).unwrap();
    let mut reference: BTreeMap<String, i128> = BTreeMap::new();
    let mut expected: BTreeMap<(u32, u64, u32), u32> = BTreeMap::new();
    let input: Vec<_> = read_all(&log, "transfers")
        .into_iter()
        .filter(|(p, r)| r.sequence > skipped.get(p).copied().unwrap_or(0))
        .collect();
    for (partition, record) in &input {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let (from, to, amount) = (
            v["from"].as_str().unwrap(),
            v["to"].as_str().unwrap(),
            v["amount"].as_i64().unwrap(),
        );
        *reference.entry(from.to_string()).or_insert(0) -= i128::from(amount);
        *reference.entry(to.to_string()).or_insert(0) += i128::from(amount);
        // The job numbers a record by its sequence − 1.
        let offset = record.sequence - 1;
        expected.insert((*partition, offset, 0), 0);
        expected.insert((*partition, offset, 1), 0);
    }
    let outputs = read_all(&log, "balances");
    assert_lineage_exact("balances", &outputs);
    let mut last: BTreeMap<String, i128> = BTreeMap::new();
    for (_, record) in &outputs {
        let v: serde_json::Value = serde_json::from_slice(&record.value).unwrap();
        let value: i128 = v["value"].to_string().parse().unwrap();
        last.insert(v["key"].as_str().unwrap().to_string(), value);
    }
    assert_eq!(
        last, reference,
        "last balances differ from the input's sums"
    );
    let audit = read_all(&log, "applied");
    assert_lineage_exact("applied", &audit);
    for (_, record) in &audit {
        for lineage in exactly_engine::decode_audit(&record.value).unwrap() {
            let key = (lineage.partition, lineage.offset, lineage.index);
            let count = expected
                .get_mut(&key)
                .unwrap_or_else(|| panic!("audit names {key:?}, not an input transfer"));
            *count += 1;
        }
    }
    let wrong: Vec<_> = expected.iter().filter(|(_, &c)| c != 1).take(5).collect();
    assert!(wrong.is_empty(), "applied not exactly once: {wrong:?}");
    input.len() as u64
}
