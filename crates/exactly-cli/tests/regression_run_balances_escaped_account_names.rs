//! Regression: `run balances` counted a transfer whose account name holds a JSON escape
//! (`"caf\u00e9"`, `"a\"b"`) as unparseable — the parser borrowed `&str` from the input,
//! which cannot hold an unescaped string — so its money disappeared and the run exited 0.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::run_common;

use run_common::{last_balances, produce_values, reference_balances, run_balances, stderr, stdout};

#[test]
fn escaped_account_names_are_applied_not_dropped() {
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    let accounts = [
        r#"caf\u00e9"#,
        r#"a\"b"#,
        r#"back\\slash"#,
        "plain",
        r#"tab\there"#,
    ];
    let values: Vec<String> = (0..50u64)
        .map(|id| {
            let from = accounts[id as usize % accounts.len()];
            let to = accounts[(id as usize + 1) % accounts.len()];
            format!(
                r#"{{"id":{id},"from":"{from}","to":"{to}","amount":{}}}"#,
                id + 1
            )
        })
        .collect();
    produce_values(&dir, "transfers", 2, &values);

    let output = run_balances(&dir, "balances", &["--json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let summary: serde_json::Value = serde_json::from_str(stdout(&output).trim()).unwrap();

    let (reference, bad) = reference_balances(&dir, "transfers");
    assert!(bad.is_empty(), "the test input is all valid transfers");
    assert_eq!(reference.len(), accounts.len());
    assert!(reference.contains_key("café") && reference.contains_key("a\"b"));
    assert_eq!(last_balances(&dir, "balances"), reference, "{summary}");
    assert_eq!(summary["dead_letters"], 0, "{summary}");
}
