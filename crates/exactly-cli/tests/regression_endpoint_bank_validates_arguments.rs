//! Regression: `endpoint bank --accounts 0` panicked and `--batch 0` hung until the
//! 600 s timeout. Every argument is now validated up front: a clear message naming the
//! flag and its range, a non-zero exit, no panic, no child process started.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;

use kill_common::exactly;

#[test]
fn out_of_range_arguments_then_refused_with_the_flag_named() {
    let temp = tempfile::tempdir().unwrap();
    let cases: [(&[&str], &str); 7] = [
        (&["--accounts", "0"], "--accounts"),
        (&["--batch", "0"], "--batch"),
        (&["--dup", "1.5"], "--dup"),
        (&["--transfers", "0"], "--transfers"),
        (&["--timeout-s", "0"], "--timeout-s"),
        (&["--schema-prefix", "public"], "--schema-prefix"),
        (&["--bad", "20", "--transfers", "10"], "--bad"),
    ];
    for (extra, flag) in cases {
        let mut args = vec!["endpoint", "bank"];
        args.extend_from_slice(extra);
        let output = exactly(&args, temp.path()).output().unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{extra:?} accepted");
        assert!(stderr.contains(flag), "{extra:?}: names {flag}: {stderr}");
        assert!(!stderr.contains("panicked"), "{extra:?}: {stderr}");
    }
    // Nothing was started: no endpoint wrote its standard error file.
    assert!(!temp.path().join("accounts-a.stderr").exists());
}
