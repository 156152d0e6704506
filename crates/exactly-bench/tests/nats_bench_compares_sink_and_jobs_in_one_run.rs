//! A short `bench nats` run: every publishing figure is the median of its rounds, the
//! exactly-once sink is reported beside the plain pipelined publish of the same class and
//! record size (with their ratio, as computed from the two rows), and `run balances` runs
//! exactly-once and at-least-once on JetStream and on the embedded log over the whole
//! input (a round that read fewer records fails the bench).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use exactly_bench::nats::{run_nats_bench, NatsBenchConfig};
use exactly_nats::server::server_binary;

#[test]
fn sink_and_jobs_are_measured_beside_their_baselines() {
    let required = std::env::var("EXACTLY_REQUIRE_SERVICES").is_ok_and(|v| v == "1");
    if let Err(error) = server_binary() {
        assert!(!required, "nats-server is required: {error}");
        eprintln!("skipped: {error} (run .ci/setup-nats)");
        return;
    }
    let page_cache_url =
        std::env::var("EXACTLY_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    if std::net::TcpStream::connect(page_cache_url.trim_start_matches("nats://")).is_err() {
        assert!(!required, "NATS at {page_cache_url} is unreachable");
        eprintln!("skipped: NATS at {page_cache_url} is unreachable");
        return;
    }
    let config = NatsBenchConfig {
        messages: 512,
        rounds: 3,
        window: 64,
        page_cache_url,
        job_transfers: 3_000,
        ..NatsBenchConfig::default()
    };
    let report = run_nats_bench(&config, &mut |_| {}).unwrap();
    // 2 classes × 2 sizes × (2 producer counts × (NATS + log) + one sink row).
    assert_eq!(report.publish.len(), 2 * 2 * (2 * 2 + 1), "{report:#?}");
    for figure in &report.publish {
        assert!(figure.records_per_sec > 0.0, "{figure:?}");
        assert_eq!(figure.rounds_records_per_sec.len(), 3, "{figure:?}");
        let mut sorted = figure.rounds_records_per_sec.clone();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(
            figure.records_per_sec, sorted[1],
            "the median round: {figure:?}"
        );
    }
    let sinks: Vec<_> = report
        .publish
        .iter()
        .filter(|f| f.system.starts_with("exactly-once sink"))
        .collect();
    assert_eq!(sinks.len(), 4);
    for sink in sinks {
        let plain = report
            .publish
            .iter()
            .find(|f| {
                f.class == sink.class
                    && f.record_bytes == sink.record_bytes
                    && f.producers == 1
                    && f.ratio_to_log.is_some()
            })
            .unwrap();
        let ratio = sink.ratio_to_publish.unwrap();
        assert!(
            (ratio - sink.records_per_sec / plain.records_per_sec).abs() < 1e-9,
            "{sink:?} vs {plain:?}"
        );
    }
    assert_eq!(report.jobs.len(), 4, "{:#?}", report.jobs);
    for job in &report.jobs {
        assert_eq!(job.records, 3_000);
        assert!(job.records_per_sec > 0.0, "{job:?}");
        let exactly_once = job.guarantee == "exactly-once";
        assert_eq!(
            job.ratio_to_at_least_once.is_some(),
            exactly_once,
            "{job:?}"
        );
        assert_eq!(
            job.ratio_to_embedded.is_some(),
            job.log.starts_with("nats"),
            "{job:?}"
        );
    }
}
