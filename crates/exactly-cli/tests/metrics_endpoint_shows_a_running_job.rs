//! `exactly --metrics ADDR run balances --follow` serves Prometheus text while the job
//! runs, and the figures move with the job: scraped over plain HTTP and parsed here (not by
//! the exporter's code), the records read reach exactly the number of transfers generated —
//! first the initial input, then again after more input is added while the job follows —
//! checkpoints and their durations are counted, the exactly-once sink's transactions are
//! counted as committed, the log counts its appends and fsyncs, and every sample obeys the
//! exposition format (a number; counters never go backwards between scrapes).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

const FIRST: u64 = 20_000;
const SECOND: u64 = 5_000;

/// One scrape: every sample, keyed by its series (`name{labels}`).
type Samples = BTreeMap<String, f64>;

fn scrape(addr: &str) -> Option<Samples> {
    let mut stream = TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let request = format!("GET /metrics HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).ok()?;
    let mut response = String::new();
    stream.read_to_string(&mut response).ok()?;
    let (head, body) = response.split_once("\r\n\r\n")?;
    assert!(head.starts_with("HTTP/1.1 200"), "scrape answered {head}");
    Some(parse(body))
}

/// The exposition format: `# …` comments, `series value` samples.
fn parse(body: &str) -> Samples {
    let mut samples = Samples::new();
    for line in body.lines() {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = value
            .parse()
            .unwrap_or_else(|_| panic!("not a number in {line:?}"));
        samples.insert(series.to_string(), value);
    }
    samples
}

/// The sum over every series of `name` whose labels contain `label` (e.g. `job="balances"`).
fn total(samples: &Samples, name: &str, label: &str) -> f64 {
    samples
        .iter()
        .filter(|(series, _)| {
            let (series_name, labels) = series.split_once('{').unwrap_or((series, ""));
            series_name == name && labels.contains(label)
        })
        .map(|(_, value)| value)
        .sum()
}

fn start_job(dir: &Path, addr: &str, stderr_file: &Path) -> Child {
    run_common::exactly(
        &[
            "--metrics",
            addr,
            "run",
            "balances",
            "--input",
            "transfers",
            "--output",
            "balances",
            "--follow",
            "--checkpoint-interval-ms",
            "50",
        ],
        dir,
    )
    .stdout(Stdio::null())
    .stderr(std::fs::File::create(stderr_file).unwrap())
    .spawn()
    .unwrap()
}

/// Scrapes until the job has read `records` records and committed a checkpoint more than
/// `checkpoints_before`; checks that counters never went backwards on the way and that no
/// more records were read than exist. Returns the last scrape.
fn scrape_until_read(
    addr: &str,
    records: u64,
    checkpoints_before: f64,
    job: &mut Child,
    stderr_file: &Path,
) -> Samples {
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last: Option<Samples> = None;
    loop {
        if let Some(status) = job.try_wait().unwrap() {
            panic!(
                "the job exited ({status}): {}",
                std::fs::read_to_string(stderr_file).unwrap_or_default()
            );
        }
        if let Some(samples) = scrape(addr) {
            if let Some(previous) = &last {
                assert_counters_grew(previous, &samples);
            }
            let read = total(&samples, "exactly_engine_records_in_total", "job=");
            assert!(read <= records as f64, "read {read} of {records} records");
            let checkpoints = total(&samples, "exactly_engine_checkpoints_total", "");
            if read == records as f64 && checkpoints > checkpoints_before {
                return samples;
            }
            last = Some(samples);
        }
        assert!(
            Instant::now() < deadline,
            "the job never reported reading {records} records; last scrape: {last:?}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn assert_counters_grew(previous: &Samples, now: &Samples) {
    for (series, value) in previous {
        let name = series.split('{').next().unwrap();
        if name.ends_with("_total") {
            let later = now.get(series).copied().unwrap_or(0.0);
            assert!(
                later >= *value,
                "{series} went back from {value} to {later}"
            );
        }
    }
}

#[test]
fn metrics_follow_a_running_job() {
    let seed = exactly_testkit::cli::seed_from_env();
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let stderr_file = temp.path().join("job.stderr");
    run_common::gen_transfers(&dir, FIRST, seed);
    let addr = exactly_testkit::cli::free_addr().unwrap();
    let mut job = start_job(&dir, &addr, &stderr_file);

    let first = scrape_until_read(&addr, FIRST, 0.0, &mut job, &stderr_file);
    assert!(total(&first, "exactly_engine_checkpoint_seconds_count", "") >= 1.0);
    assert!(
        total(
            &first,
            "exactly_log_appended_records_total",
            "topic=\"balances\""
        ) > 0.0
    );
    assert!(total(&first, "exactly_log_fsync_seconds_count", "") > 0.0);
    assert!(total(&first, "exactly_log_transactions_committed_total", "") >= 1.0);

    run_common::gen_transfers(&dir, SECOND, seed.wrapping_add(1));
    let checkpoints = |s: &Samples| total(s, "exactly_engine_checkpoints_total", "");
    let second = scrape_until_read(
        &addr,
        FIRST + SECOND,
        checkpoints(&first),
        &mut job,
        &stderr_file,
    );
    assert_counters_grew(&first, &second);
    assert!(total(&second, "exactly_engine_min_clock_ms", "") > 0.0);
    job.kill().unwrap();
    job.wait().unwrap();
    println!(
        "seed {seed}: {} checkpoints, {} records out",
        checkpoints(&second),
        total(&second, "exactly_engine_records_out_total", "")
    );
}
