//! `read_status`: a job that never ran has no status (a typed `Missing` naming the job);
//! after a run it reads back the status file the run wrote (its job, guarantee,
//! parallelism, a checkpoint); a status file that does not decode is a `Decode` error.

use exactly_engine::generate::transfers_into;
use exactly_engine::jobs::{self, Rejected};
use exactly_engine::{default_state_dir, read_status, Guarantee, RunOptions, StatusError};
use exactly_log::{Log, LogConfig};

#[test]
fn read_status_after_a_run() {
    let dir = tempfile::tempdir().unwrap();
    transfers_into(dir.path(), "transfers", 2, 300, 10, 1).unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    let missing = read_status(&log, "balances");
    assert!(
        matches!(&missing, Err(StatusError::Missing { job, .. }) if job == "balances"),
        "{missing:?}"
    );

    let job = jobs::balances("transfers", "balances", Rejected::default());
    let mut options = RunOptions::new(&log, &job, Guarantee::ExactlyOnce);
    options.parallelism = 2;
    job.run(&log, &options).unwrap();
    let status = read_status(&log, job.name()).unwrap();
    assert_eq!(status.job, "balances");
    assert_eq!(status.guarantee, Guarantee::ExactlyOnce);
    assert_eq!(status.parallelism, 2);
    assert!(status.checkpoint_id >= 1, "{status:?}");

    let path = default_state_dir(&log, "balances").join("status.json");
    std::fs::write(&path, b"{not json").unwrap();
    let bad = read_status(&log, "balances");
    assert!(matches!(bad, Err(StatusError::Decode { .. })), "{bad:?}");
    log.close().unwrap();
}
