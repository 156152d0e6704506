//! The engine's `balances` job reads its transfers from `exactly serve` over the Kafka
//! protocol (librdkafka, `KafkaInput`): the job is SIGKILLed several times and the broker
//! once while it runs, input keeps arriving, an aborted transaction holds transfers that
//! must never count — and the final balances equal the sums this test computed itself
//! from what it produced. `EXACTLY_KILLS` (default 5) job kills, `EXACTLY_TRANSFERS`
//! (default 20 000) transfers; the seed is printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::common;

use common::{env_u64, produce_all, producer_config, send, ServerProc};
use exactly_engine::jobs::{balances, last_values, Rejected};
use exactly_engine::runtime::RunOptions;
use exactly_engine::Guarantee;
use exactly_log::{Log, LogConfig};
use exactly_rdkafka::{KafkaInput, KafkaInputOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::producer::{BaseProducer, Producer};
use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const TOPIC: &str = "transfers";
const OUTPUT: &str = "balances";
const PARTITIONS: u32 = 4;
const ACCOUNTS: u64 = 50;
const JOB_DIR_ENV: &str = "EXACTLY_RDKAFKA_TEST_JOB_DIR";
const JOB_BOOTSTRAP_ENV: &str = "EXACTLY_RDKAFKA_TEST_JOB_BOOTSTRAP";

#[test]
fn server_child() {
    common::serve_child_if_asked();
}

/// In a child started by [`start_job`]: runs the job to the end of its input.
#[test]
fn job_child() {
    let (Ok(dir), Ok(bootstrap)) = (std::env::var(JOB_DIR_ENV), std::env::var(JOB_BOOTSTRAP_ENV))
    else {
        return;
    };
    let log = Log::open(&dir, LogConfig::default()).expect("output log");
    let input = KafkaInput::connect(KafkaInputOptions::new(&bootstrap, TOPIC)).expect("input");
    let job = balances(TOPIC, OUTPUT, Rejected::default());
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.checkpoint_interval_ms = 100;
    options.parallelism = 2;
    match job.run_from(&log, &input, &options) {
        Ok(report) => {
            println!("job done: {report:?}");
            std::process::exit(0);
        }
        Err(error) => {
            eprintln!("job failed: {error:?}");
            std::process::exit(1);
        }
    }
}

fn start_job(dir: &Path, bootstrap: &str) -> Child {
    Command::new(std::env::current_exe().expect("test binary"))
        .args([
            "balances_from_kafka_survive_job_and_broker_kills::job_child",
            "--exact",
            "--nocapture",
            "--test-threads",
            "1",
        ])
        .env(JOB_DIR_ENV, dir)
        .env(JOB_BOOTSTRAP_ENV, bootstrap)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("job child")
}

/// Transfers `first_id..first_id + count` as `(key, value)` records, added to `expected`.
fn transfers(
    rng: &mut SmallRng,
    first_id: u64,
    count: u64,
    expected: Option<&mut BTreeMap<String, i128>>,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let mut sums = BTreeMap::<String, i128>::new();
    let records = (first_id..first_id + count)
        .map(|id| {
            let from = rng.random_range(0..ACCOUNTS);
            let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
            let (from, to) = (format!("acct-{from}"), format!("acct-{to}"));
            let amount: i64 = rng.random_range(1..=1000);
            *sums.entry(from.clone()).or_default() -= i128::from(amount);
            *sums.entry(to.clone()).or_default() += i128::from(amount);
            let value = serde_json::json!({"id": id, "from": from, "to": to, "amount": amount});
            (from.into_bytes(), serde_json::to_vec(&value).expect("json"))
        })
        .collect();
    if let Some(expected) = expected {
        for (account, sum) in sums {
            *expected.entry(account).or_default() += sum;
        }
    }
    records
}

/// One aborted transaction of `aborted` transfers (never counted), then one committed
/// transaction of `records`.
fn produce_in_transactions(
    addr: &str,
    aborted: &[(Vec<u8>, Vec<u8>)],
    records: &[(Vec<u8>, Vec<u8>)],
) {
    let producer: BaseProducer = producer_config(addr)
        .set("transactional.id", "balances-test-input")
        .create()
        .expect("transactional producer");
    let timeout = Duration::from_secs(30);
    producer.init_transactions(timeout).expect("init");
    producer.begin_transaction().expect("begin");
    for (key, value) in aborted {
        send(&producer, TOPIC, key, value).expect("send");
    }
    producer.flush(timeout).expect("flush");
    producer.abort_transaction(timeout).expect("abort");
    producer.begin_transaction().expect("begin");
    for (key, value) in records {
        send(&producer, TOPIC, key, value).expect("send");
    }
    producer.commit_transaction(timeout).expect("commit");
}

#[test]
fn balances_from_kafka_are_exact_across_job_and_broker_kills() {
    let seed = common::seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    let kills = env_u64("EXACTLY_KILLS", 5);
    let count = env_u64("EXACTLY_TRANSFERS", 20_000);
    let server_dir = tempfile::tempdir().expect("tempdir");
    let out_dir = tempfile::tempdir().expect("tempdir");
    let topics = format!("{TOPIC}:{PARTITIONS}");
    let mut server = ServerProc::start(
        "balances_from_kafka_survive_job_and_broker_kills::server_child",
        server_dir.path(),
        &topics,
    )
    .expect("server");
    let mut expected = BTreeMap::new();

    // Amounts of the aborted transaction are wildly off: one counted would show.
    let mut aborted = transfers(&mut rng, 1_000_000, 500, None);
    for (_, value) in &mut aborted {
        let mut transfer: serde_json::Value = serde_json::from_slice(value).expect("json");
        transfer["amount"] = serde_json::json!(1_000_000_000);
        *value = serde_json::to_vec(&transfer).expect("json");
    }
    let committed = transfers(&mut rng, 2_000_000, 500, Some(&mut expected));
    produce_in_transactions(&server.addr, &aborted, &committed);

    // Every run gets new input, so each kill lands in a job with work to do.
    let chunk = count / (kills + 1);
    let mut finished_early = 0;
    for kill in 0..kills {
        let input = transfers(&mut rng, kill * chunk, chunk, Some(&mut expected));
        produce_all(&server.addr, TOPIC, &input);
        let mut job = start_job(out_dir.path(), &server.addr);
        std::thread::sleep(Duration::from_millis(rng.random_range(30..400)));
        if kill == 1 {
            // The broker dies under the running job; the input rides out the restart.
            server.kill().expect("kill server");
            std::thread::sleep(Duration::from_millis(300));
            server.restart().expect("restart server");
            std::thread::sleep(Duration::from_millis(rng.random_range(100..500)));
        }
        if job.try_wait().expect("job status").is_some() {
            finished_early += 1;
        }
        let _ = job.kill();
        job.wait().expect("job reaped");
    }
    eprintln!("{kills} job kills ({finished_early} runs had finished first), 1 broker kill");
    assert!(
        kills == 0 || finished_early < kills,
        "no kill hit a running job"
    );
    let rest = transfers(
        &mut rng,
        kills * chunk,
        count - kills * chunk,
        Some(&mut expected),
    );
    produce_all(&server.addr, TOPIC, &rest);

    let mut job = start_job(out_dir.path(), &server.addr);
    let deadline = Instant::now() + Duration::from_secs(180);
    let status = loop {
        if let Some(status) = job.try_wait().expect("job status") {
            break status;
        }
        assert!(Instant::now() < deadline, "the final run did not finish");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "the final run failed: {status}");

    let log = Log::open(out_dir.path(), LogConfig::default()).expect("output log");
    let found = last_values(&log, OUTPUT).expect("balances");
    let wrong: Vec<_> = expected
        .iter()
        .filter(|(account, sum)| found.get(*account) != Some(sum))
        .map(|(account, sum)| (account, sum, found.get(account)))
        .collect();
    assert!(
        wrong.is_empty(),
        "wrong balances (account, expected, found): {wrong:?}"
    );
    assert_eq!(found.len(), expected.len(), "no account beyond the input");
    assert!(
        expected.len() as u64 == ACCOUNTS,
        "every account moved money"
    );
}
