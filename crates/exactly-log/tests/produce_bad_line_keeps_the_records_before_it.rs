//! `produce_lines` stopped by a bad line appends every record before that line and says
//! how many it kept; the error names the line.

#![allow(clippy::expect_used, clippy::panic)] // Tests fail by panicking.

use exactly_core::{Offset, SystemClock};
use exactly_log::produce::{produce_lines, InputError, ProduceError, ProduceOptions};
use exactly_log::{Log, LogConfig};
use std::sync::Arc;

#[test]
fn a_bad_line_stops_the_run_after_appending_what_came_before() {
    let dir = tempfile::tempdir().expect("tempdir");
    let log = Arc::new(Log::open(dir.path(), LogConfig::default()).expect("open"));
    log.create_topic("t", 1).expect("create");
    let options = ProduceOptions {
        producer: None,
        batch_records: 1000,
    };
    let input =
        "{\"value\":\"a\"}\n\n{\"value\":\"b\"}\n{\"key\":5,\"value\":\"c\"}\n{\"value\":\"d\"}\n";
    let result = produce_lines(
        &log,
        "t",
        options,
        input.as_bytes(),
        &SystemClock,
        &mut |_| {},
    );
    let Err(ProduceError::Stopped(stopped)) = result else {
        panic!("want Stopped, got {result:?}");
    };
    assert_eq!((stopped.line, stopped.kept, stopped.appended), (4, 2, 2));
    assert!(matches!(
        stopped.cause,
        InputError::BadRecord { line: 4, .. }
    ));
    let text = stopped.to_string();
    assert!(
        text.contains("stopped at line 4: the 2 records before it are in the log"),
        "{text}"
    );
    let values: Vec<Vec<u8>> = log
        .read("t", 0, Offset(0), 100)
        .expect("read")
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(values, [b"a".to_vec(), b"b".to_vec()]);
}
