//! Regression: error chains printed by the CLI repeated their causes (`StoreError::Io`
//! printed its I/O error in its own message *and* exposed it as its source, and the CLI
//! printed every link): "store I/O on …: File exists (os error 17): File exists (os error
//! 17)". Each cause is now printed once.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;

use kill_common::exactly;

#[test]
fn store_path_blocked_by_a_file_then_error_names_the_cause_once() {
    let temp = tempfile::tempdir().unwrap();
    // The endpoint's store directory is a regular file: opening the store must fail.
    std::fs::create_dir_all(temp.path().join("a")).unwrap();
    std::fs::write(temp.path().join("a").join("store"), b"not a directory").unwrap();
    let output = exactly(
        &[
            "endpoint",
            "serve",
            "--role",
            "accounts-a",
            "--store",
            "embedded",
        ],
        temp.path(),
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success());
    assert!(
        stderr.contains("opening the store of accounts-a"),
        "{stderr}"
    );
    assert_eq!(
        stderr.matches("os error").count(),
        1,
        "one cause, once: {stderr}"
    );
}
