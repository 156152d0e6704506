//! The `balances` job follows a Kafka topic (`follow`: it waits for new records through
//! `KafkaInput::wait` instead of stopping at the end) while librdkafka produces transfers
//! into `exactly serve` in bursts with pauses between them; once the job has read every
//! transfer it is stopped, and its balances equal the sums this test computed itself.
//! `EXACTLY_TRANSFERS` (default 3 000); the seed is printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::common;

use common::{env_u64, produce_all, ServerProc};
use exactly_engine::jobs::{balances, last_values, Rejected};
use exactly_engine::runtime::{JobStatus, RunOptions};
use exactly_engine::Guarantee;
use exactly_log::{Log, LogConfig};
use exactly_rdkafka::{KafkaInput, KafkaInputOptions};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const TOPIC: &str = "transfers";
const OUTPUT: &str = "balances";
const ACCOUNTS: u64 = 20;
const BURSTS: u64 = 5;

#[test]
fn server_child() {
    common::serve_child_if_asked();
}

#[test]
fn balances_follow_a_growing_kafka_topic() {
    let seed = common::seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    let count = env_u64("EXACTLY_TRANSFERS", 3_000);
    let server_dir = tempfile::tempdir().expect("tempdir");
    let out_dir = tempfile::tempdir().expect("tempdir");
    // One partition: a source following one partition waits on it through `wait`.
    let server = ServerProc::start(
        "balances_follow_a_growing_kafka_topic::server_child",
        server_dir.path(),
        &format!("{TOPIC}:1"),
    )
    .expect("server");

    let stop = Arc::new(AtomicBool::new(false));
    let status = Arc::new(JobStatus::default());
    let job_thread = {
        let (stop, status) = (stop.clone(), status.clone());
        let (dir, addr) = (out_dir.path().to_path_buf(), server.addr.clone());
        std::thread::spawn(move || {
            let log = Log::open(&dir, LogConfig::default()).expect("output log");
            let input = KafkaInput::connect(KafkaInputOptions::new(&addr, TOPIC)).expect("input");
            let job = balances(TOPIC, OUTPUT, Rejected::default());
            let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
            options.follow = true;
            options.checkpoint_interval_ms = 100;
            options.stop = stop;
            options.status = status;
            job.run_from(&log, &input, &options).expect("the job runs");
        })
    };

    let mut expected = BTreeMap::<String, i128>::new();
    let per_burst = count / BURSTS;
    for burst in 0..BURSTS {
        let records: Vec<_> = (burst * per_burst..(burst + 1) * per_burst)
            .map(|id| {
                let from = rng.random_range(0..ACCOUNTS);
                let to = (from + rng.random_range(1..ACCOUNTS)) % ACCOUNTS;
                let (from, to) = (format!("acct-{from}"), format!("acct-{to}"));
                let amount: i64 = rng.random_range(1..=1000);
                *expected.entry(from.clone()).or_default() -= i128::from(amount);
                *expected.entry(to.clone()).or_default() += i128::from(amount);
                let value = serde_json::json!({"id": id, "from": from, "to": to, "amount": amount});
                (from.into_bytes(), serde_json::to_vec(&value).expect("json"))
            })
            .collect();
        produce_all(&server.addr, TOPIC, &records);
        // The job is idle at the end of its input between bursts: it must wait, not stop.
        std::thread::sleep(Duration::from_millis(rng.random_range(200..600)));
        assert!(
            !job_thread.is_finished(),
            "a following job stops only when told"
        );
    }
    let total = per_burst * BURSTS;
    let deadline = Instant::now() + Duration::from_secs(60);
    while status.records_in.load(Ordering::SeqCst) < total {
        assert!(
            Instant::now() < deadline,
            "the job did not read every transfer"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    stop.store(true, Ordering::SeqCst);
    job_thread.join().expect("job thread");

    let log = Log::open(out_dir.path(), LogConfig::default()).expect("output log");
    assert_eq!(
        status.records_in.load(Ordering::SeqCst),
        total,
        "each transfer read once"
    );
    let found = last_values(&log, OUTPUT).expect("balances");
    assert_eq!(
        found, expected,
        "balances equal the sums of what was produced"
    );
}
