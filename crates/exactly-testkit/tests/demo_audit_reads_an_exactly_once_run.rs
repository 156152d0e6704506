//! `demo`: the job command is `run balances` over the demo's topics with the guarantee,
//! parallelism and checkpoint interval asked for; `demo::audit` of a log where the
//! balances job ran exactly once (in-process, no kills) finds R = UR = 1, every balance
//! right and money conserved.

use exactly_engine::generate::transfers_into;
use exactly_engine::jobs::{self, Rejected};
use exactly_engine::{log_topic, Guarantee, RunOptions};
use exactly_log::{Log, LogConfig};
use exactly_testkit::demo::{self, DemoJob, AUDIT_TOPIC, INPUT_TOPIC, OUTPUT_TOPIC};
use std::path::Path;

#[test]
fn demo_audit_reads_an_exactly_once_run() {
    let job = DemoJob {
        kills: 2,
        parallelism: 3,
        checkpoint_interval_ms: 50,
    };
    let command = demo::job_command(
        Path::new("/bin/exactly"),
        Path::new("/d"),
        "at-most-once",
        &job,
    );
    let args: Vec<String> = command
        .get_args()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let joined = args.join(" ");
    assert!(
        joined.starts_with("run balances --input transfers --output balances"),
        "{joined}"
    );
    for wanted in [
        "--audit applied",
        "--guarantee at-most-once",
        "--parallelism 3",
        "--checkpoint-interval-ms 50",
        "--dir /d",
    ] {
        assert!(joined.contains(wanted), "{wanted} in {joined}");
    }

    let dir = tempfile::tempdir().expect("tempdir");
    let summary = transfers_into(dir.path(), INPUT_TOPIC, 2, 500, 20, 3).expect("generate");
    assert_eq!(summary.total, 500);
    let log = Log::open(dir.path(), LogConfig::default()).expect("open");
    let balances = jobs::balances(INPUT_TOPIC, OUTPUT_TOPIC, Rejected::default())
        .audit(log_topic(AUDIT_TOPIC));
    let options = RunOptions::new(&log, &balances, Guarantee::ExactlyOnce);
    balances.run(&log, &options).expect("the job runs");
    log.close().expect("close");

    let check = demo::audit(dir.path()).expect("audit");
    assert_eq!(check.transfers, 500);
    assert_eq!(check.r, Some(1.0));
    assert_eq!(check.ur, Some(1.0));
    assert_eq!(check.accounts_wrong, 0);
    assert_eq!(check.money_total, 0);
    assert!(check.exactly_once(), "{check:?}");
}
