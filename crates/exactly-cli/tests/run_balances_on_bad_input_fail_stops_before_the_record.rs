//! `--on-bad-input fail`: the job stops with an error naming the topic, partition and
//! offset of the first bad record, and commits nothing at or after it: the committed
//! balances are those of a prefix of the input that ends before the bad record.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{consume, last_balances, produce_values, run_balances, stderr};
use std::collections::BTreeMap;

#[test]
fn fail_policy_names_the_record_and_commits_nothing_past_it() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    const BAD: u64 = 3_000;
    let values: Vec<String> = (0..4_000u64)
        .map(|id| match id == BAD {
            true => "{garbage".to_string(),
            false => format!(
                r#"{{"id":{id},"from":"acct-{}","to":"acct-{}","amount":{}}}"#,
                id % 17,
                (id + 3) % 17,
                id + 1
            ),
        })
        .collect();
    produce_values(&dir, "transfers", 1, &values);

    let output = run_balances(&dir, "balances", &["--on-bad-input", "fail"]);
    let message = stderr(&output);
    assert!(!output.status.success(), "a bad record must fail the job");
    assert!(
        message.contains(&format!("transfers partition 0 offset {BAD}")),
        "{message}"
    );
    assert!(consume(&dir, "balances.dead-letters").is_empty());

    // The committed balances equal the reference of some prefix of length ≤ BAD.
    let committed = last_balances(&dir, "balances");
    let mut prefix: BTreeMap<String, i128> = BTreeMap::new();
    let mut matched = committed.is_empty();
    for (offset, record) in consume(&dir, "transfers").iter().enumerate() {
        if offset as u64 >= BAD {
            break;
        }
        let v: serde_json::Value = serde_json::from_str(&record.value).unwrap();
        let amount = i128::from(v["amount"].as_i64().unwrap());
        *prefix
            .entry(v["from"].as_str().unwrap().to_string())
            .or_insert(0) -= amount;
        *prefix
            .entry(v["to"].as_str().unwrap().to_string())
            .or_insert(0) += amount;
        matched |= prefix == committed;
    }
    assert!(
        matched,
        "committed balances are not a prefix before offset {BAD}"
    );
}
