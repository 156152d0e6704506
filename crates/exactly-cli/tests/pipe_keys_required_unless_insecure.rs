//! Key handling of `exactly pipe`: `pipe keygen` writes a private key file readable only
//! by its owner (mode 0600) and prints the public key it writes beside it; `pipe recv` and
//! `pipe send` refuse to start without keys unless `--insecure` is given, and say so on
//! stderr when it is; a private key file others can read is refused.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

fn exactly(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn keys_are_required_unless_insecure() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k");
    let key_arg = key.to_str().unwrap();
    let out = exactly(&["pipe", "keygen", "--out", key_arg]);
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert_eq!(printed.len(), 64, "{printed}");
    let public = std::fs::read_to_string(dir.path().join("k.pub")).unwrap();
    assert_eq!(public.trim(), printed);
    let mode = std::fs::metadata(&key).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(
        !exactly(&["pipe", "keygen", "--out", key_arg])
            .status
            .success(),
        "overwrote"
    );

    let state = dir.path().join("state");
    let state_arg = state.to_str().unwrap();
    let out = exactly(&[
        "pipe",
        "recv",
        "--listen",
        "127.0.0.1:0",
        "--state",
        state_arg,
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure"));
    let input = dir.path().join("in.jsonl");
    std::fs::write(&input, "{\"n\":1}\n").unwrap();
    let out = exactly(&[
        "pipe",
        "send",
        "--to",
        "127.0.0.1:9",
        "--state",
        state_arg,
        "--input",
        input.to_str().unwrap(),
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--receiver-key"));

    let out = exactly(&[
        "pipe",
        "recv",
        "--insecure",
        "--listen",
        "127.0.0.1:0",
        "--state",
        state_arg,
        "--idle-exit-ms",
        "100",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("warning: --insecure"));

    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = exactly(&[
        "pipe",
        "recv",
        "--listen",
        "127.0.0.1:0",
        "--state",
        state_arg,
        "--key",
        key_arg,
        "--allow",
        &printed,
        "--idle-exit-ms",
        "100",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("chmod 600"));
}
