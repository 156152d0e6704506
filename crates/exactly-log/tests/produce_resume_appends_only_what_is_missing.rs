//! `produce_lines` with a producer id, run on a prefix of its input (as if killed part-way)
//! and then on the whole input, appends every record exactly once; a third run with a
//! different line is refused, naming that line, and appends nothing.

#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use exactly_core::{Offset, ProducerEpoch, ProducerId, SystemClock};
use exactly_log::produce::{
    produce_lines, FingerprintError, InputError, ProduceError, ProduceOptions,
};
use exactly_log::{Log, LogConfig};
use std::sync::Arc;

fn lines(values: &[String]) -> String {
    values
        .iter()
        .map(|v| format!("{{\"key\":\"k{v}\",\"value\":\"{v}\"}}\n"))
        .collect()
}

fn stored(log: &Log) -> Vec<String> {
    let mut all = Vec::new();
    for partition in 0..3 {
        for record in log.read("t", partition, Offset(0), 10_000).expect("read") {
            all.push(String::from_utf8(record.value).expect("utf-8"));
        }
    }
    all.sort();
    all
}

#[test]
fn resumed_run_appends_only_the_missing_records_and_a_different_input_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(Log::open(dir.path(), LogConfig::default()).expect("open"));
    log.create_topic("t", 3).expect("create");
    let options = ProduceOptions {
        producer: Some((ProducerId(11), ProducerEpoch(0))),
        batch_records: 4,
    };
    let values: Vec<String> = (0..40).map(|i| format!("v{i:02}")).collect();
    let produce = |input: &str| {
        produce_lines(
            &log,
            "t",
            options,
            input.as_bytes(),
            &SystemClock,
            &mut |_| {},
        )
    };

    let first = produce(&lines(values.get(..17).expect("prefix"))).expect("first run");
    assert_eq!(
        (first.records, first.appended, first.deduplicated),
        (17, 17, 0)
    );

    let second = produce(&lines(&values)).expect("resumed run");
    assert_eq!(second.records, 40);
    assert_eq!(second.appended + second.deduplicated, 40);
    assert_eq!(
        second.appended, 23,
        "only the records the first run did not append"
    );
    let mut expected = values.clone();
    expected.sort();
    assert_eq!(stored(&log), expected);

    let mut other = values.clone();
    if let Some(v) = other.get_mut(5) {
        *v = "changed".to_string();
    }
    match produce(&lines(&other)) {
        Err(ProduceError::Stopped(stopped)) => {
            assert_eq!(stopped.line, 6);
            assert_eq!(stopped.appended, 0);
            assert!(matches!(
                stopped.cause,
                InputError::Fingerprint(FingerprintError::Differs {
                    line: 6,
                    record: 6,
                    ..
                })
            ));
        }
        other => panic!("a different input must be refused at line 6, got {other:?}"),
    }
    assert_eq!(
        stored(&log),
        expected,
        "nothing appended by the refused run"
    );
}
