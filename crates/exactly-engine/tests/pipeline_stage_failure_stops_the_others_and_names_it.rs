//! A pipeline whose downstream stage fails stops its other stages and returns the first
//! failure, naming the stage: here stage `branches` meets a record on its repartition
//! topic that is not a branch delta (with `--on-bad-input fail`) while stage `accounts`
//! follows its input and would never stop by itself. Stage `accounts` is stopped cleanly:
//! a second run of it alone recovers without aborting anything.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::common;

use exactly_core::Timestamp;
use exactly_engine::jobs::{balances_by_branch, Rejected};
use exactly_engine::{BadInputPolicy, Guarantee, PipelineError, RunError, RunOptions};
use exactly_log::{Log, LogConfig, Record};
use std::time::{Duration, Instant};

#[test]
fn pipeline_stage_failure_stops_the_others_and_names_the_stage() {
    let dir = tempfile::tempdir().unwrap();
    let log = Log::open(dir.path(), LogConfig::default()).unwrap();
    common::write_transfers(&log, "transfers", 2, 3, 5_000, 40);
    let pipeline =
        balances_by_branch("p", "transfers", "totals", 4, 2, Rejected::default()).unwrap();
    assert_eq!(pipeline.repartition_topics(), ["p.accounts.repartition"]);
    log.create_topic("p.accounts.repartition", 2).unwrap();
    let garbage = Record {
        timestamp: Timestamp(0),
        key: None,
        value: b"not a branch delta".to_vec(),
    };
    log.append("p.accounts.repartition", 1, &[garbage], None)
        .unwrap();

    let first = &pipeline.stages()[0];
    let mut options = RunOptions::new(&log, first.job(), Guarantee::ExactlyOnce);
    options.follow = true;
    options.checkpoint_interval_ms = 5;
    options.on_bad_input = BadInputPolicy::Fail;
    let started = Instant::now();
    let error = pipeline.run(&log, &options).unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "took {:?}",
        started.elapsed()
    );
    let text = error.to_string();
    assert!(text.contains("stage \"branches\""), "{text}");
    match error {
        PipelineError::Stage {
            stage, job, source, ..
        } => {
            assert_eq!((stage.as_str(), job.as_str()), ("branches", "p_branches"));
            assert!(
                matches!(
                    *source,
                    RunError::BadInput {
                        partition: 1,
                        offset: 0,
                        ..
                    }
                ),
                "{source}"
            );
        }
        other => panic!("{other}"),
    }
    assert!(
        options.stop.load(std::sync::atomic::Ordering::SeqCst),
        "stage 0 was stopped"
    );

    // Stage `accounts` stopped at a checkpoint (or before its first): nothing to abort.
    let again = RunOptions::new(&log, first.job(), Guarantee::ExactlyOnce);
    let rerun = first.job().run(&log, &again).unwrap();
    assert_eq!(rerun.recovery.aborted_transactions, 0, "{rerun:?}");
}
