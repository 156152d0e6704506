//! `exactly --version` names the commit the binary was built from: the oracle is `git`
//! itself, asked in this crate's checkout. Outside a git checkout the version must say
//! `git unknown` explicitly (never a made-up hash).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // Tests fail by panicking.

use std::process::Command;

#[test]
fn version_names_the_checked_out_commit() {
    let output = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .arg("--version")
        .output()
        .unwrap();
    assert!(output.status.success());
    let version = String::from_utf8(output.stdout).unwrap();
    let version = version.trim();
    assert!(
        version.starts_with(&format!("exactly {} (git ", env!("CARGO_PKG_VERSION"))),
        "{version}"
    );
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output();
    let expected = match std::env::var("EXACTLY_GIT_HASH") {
        Ok(hash) if !hash.trim().is_empty() => format!("git {})", hash.trim()),
        _ => match head {
            Ok(out) if out.status.success() => {
                format!("git {})", String::from_utf8(out.stdout).unwrap().trim())
            }
            _ => "git unknown (not built from a git checkout))".to_string(),
        },
    };
    assert!(
        version.ends_with(&expected),
        "{version} should end with {expected}"
    );
}
