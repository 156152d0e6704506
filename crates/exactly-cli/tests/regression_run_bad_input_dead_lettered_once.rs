//! Regression: `run balances` dropped input it could not parse — counted as `unparseable`,
//! its content gone, exit 0. Bad records now go to the dead-letter topic exactly once with
//! the outputs (even across parallelism and reruns), the summary counts them, and
//! `run check` matches them against the input.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{
    consume, last_balances, produce_values, reference_balances, run, run_balances, stderr, stdout,
};
use std::collections::BTreeMap;

#[test]
fn bad_records_are_dead_lettered_exactly_once_and_checked() {
    for sink in ["transactional", "idempotent"] {
        dead_lettered_exactly_once(sink);
    }
}

fn dead_lettered_exactly_once(sink: &str) {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let mut values = Vec::new();
    for id in 0..600u64 {
        values.push(match id % 50 {
            7 => "not json at all".to_string(),
            19 => format!(r#"{{"id":{id},"from":"a","to":"b"}}"#), // no amount
            _ => format!(
                r#"{{"id":{id},"from":"acct-{}","to":"acct-{}","amount":{}}}"#,
                id % 13,
                (id + 5) % 13,
                id + 1
            ),
        });
    }
    produce_values(&dir, "transfers", 3, &values);
    let (reference, bad) = reference_balances(&dir, "transfers");
    assert_eq!(bad.len(), 24);

    let output = run_balances(
        &dir,
        "balances",
        &["--parallelism", "2", "--json", "--sink", sink],
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();
    assert_eq!(summary["dead_letters"], 24, "{sink}: {summary}");
    // A rerun over the same input writes no dead letter again.
    let output = run_balances(&dir, "balances", &["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));

    let mut copies: BTreeMap<(u64, u64), u64> = BTreeMap::new();
    for letter in consume(&dir, "balances.dead-letters") {
        let v: serde_json::Value = serde_json::from_str(&letter.value).unwrap();
        assert_eq!(v["topic"], "transfers");
        assert!(!v["reason"].as_str().unwrap().is_empty());
        let source = (
            v["partition"].as_u64().unwrap(),
            v["offset"].as_u64().unwrap(),
        );
        let original = consume(&dir, "transfers")
            .into_iter()
            .find(|r| (r.partition, r.offset) == source)
            .unwrap();
        assert_eq!(v["value"].as_str().unwrap(), original.value, "content kept");
        *copies.entry(source).or_insert(0) += 1;
    }
    let expected: BTreeMap<(u64, u64), u64> = bad.iter().map(|s| (*s, 1)).collect();
    assert_eq!(
        copies, expected,
        "every bad record dead-lettered exactly once"
    );
    assert_eq!(last_balances(&dir, "balances"), reference);

    let check = run(
        &[
            "run",
            "check",
            "--input",
            "transfers",
            "--output",
            "balances",
        ],
        &dir,
    );
    assert!(check.status.success(), "{}", stdout(&check));
    let check: serde_json::Value = serde_json::from_str(stdout(&check).trim()).unwrap();
    assert_eq!(check["unparseable"], 24, "{check}");
    assert_eq!(check["dead_letters"], 24, "{check}");
    assert_eq!(check["dead_letters_missing"], 0, "{check}");
}
