//! `exactly serve user add` reads the password from standard input (or the variable
//! `--password-env` names), writes a users file readable only by its owner that holds
//! salted SCRAM keys and not the password; `exactly serve --users-file` then lets kcat
//! (librdkafka) in with that password over SCRAM-SHA-512 and refuses a wrong one.

// Test helpers, not library code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn add_user(users: &str, name: &str, password: &str, via_env: bool) {
    let mut command = Command::new(env!("CARGO_BIN_EXE_exactly"));
    command.args(["serve", "user", "add", name, "--users-file", users]);
    if via_env {
        command
            .args(["--password-env", "TEST_PW"])
            .env("TEST_PW", password);
    }
    let mut child = command.stdin(Stdio::piped()).spawn().unwrap();
    let mut stdin = child.stdin.take().unwrap();
    if !via_env {
        writeln!(stdin, "{password}").unwrap();
    }
    drop(stdin);
    assert!(child.wait().unwrap().success());
}

fn kcat_list(addr: &str, user: &str, password: &str) -> bool {
    Command::new("kcat")
        .args(["-b", addr, "-L", "-m", "10"])
        .args(["-X", "security.protocol=SASL_PLAINTEXT"])
        .args(["-X", "sasl.mechanisms=SCRAM-SHA-512"])
        .args(["-X", &format!("sasl.username={user}")])
        .args(["-X", &format!("sasl.password={password}")])
        .output()
        .expect("kcat runs (bash .ci/setup-kafka)")
        .status
        .success()
}

#[test]
fn users_added_from_stdin_log_in_with_scram() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    let users_arg = users.to_str().unwrap();
    add_user(users_arg, "alice", "correct horse", false);
    add_user(users_arg, "bob", "battery staple", true);
    let text = std::fs::read_to_string(&users).unwrap();
    assert!(!text.contains("correct horse") && !text.contains("battery staple"));
    assert_eq!(text.lines().filter(|l| l.starts_with("alice ")).count(), 2);
    let mode = std::fs::metadata(&users).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);

    let log_dir = dir.path().join("log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args(["serve", "--dir", log_dir.to_str().unwrap()])
        .args([
            "--listen",
            "127.0.0.1:0",
            "--users-file",
            users_arg,
            "--json",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _server = Server(child);
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line).unwrap();
    let listening: serde_json::Value = serde_json::from_str(&line).unwrap();
    let addr = listening["listening"].as_str().unwrap().to_string();

    assert!(kcat_list(&addr, "alice", "correct horse"));
    assert!(kcat_list(&addr, "bob", "battery staple"));
    assert!(
        !kcat_list(&addr, "alice", "battery staple"),
        "wrong password let in"
    );
}
