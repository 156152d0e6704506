//! `exactly pipe` with keys (the default: a Noise IK secure channel) over UDP with
//! injected loss and duplication; both ends killed with SIGKILL and restarted
//! (`EXACTLY_KILLS`, default 12). Every restart of either end forces a new handshake (a
//! restarted receiver has forgotten every session; a restarted sender starts a new one),
//! and the receiver's journal still holds every input message exactly once.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use crate::pipe_common;

use std::path::Path;
use std::process::Command;

fn keygen(path: &Path) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args(["pipe", "keygen", "--out"])
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[test]
fn secure_pipe_survives_kill9_exactly_once() {
    let keys = tempfile::tempdir().unwrap();
    let (recv_key, send_key) = (keys.path().join("recv.key"), keys.path().join("send.key"));
    let receiver_public = keygen(&recv_key);
    let sender_public = keygen(&send_key);
    let path = |p: &Path| p.to_str().unwrap().to_owned();
    let recv_args = vec![
        "--key".to_owned(),
        path(&recv_key),
        "--allow".to_owned(),
        sender_public,
    ];
    let send_args = vec![
        "--key".to_owned(),
        path(&send_key),
        "--receiver-key".to_owned(),
        receiver_public,
    ];
    let mut delivered = pipe_common::run_with_kills_keyed("resend+id-dedup", recv_args, send_args);
    let n = delivered.len();
    delivered.sort_unstable();
    delivered.dedup();
    assert_eq!(n, delivered.len(), "duplicated messages");
    let expected: Vec<u64> = (0..pipe_common::MESSAGES as u64).collect();
    assert_eq!(delivered, expected, "lost messages");
}
