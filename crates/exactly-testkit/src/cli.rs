//! What the command-line tests of a binary share: commands with no input, outputs as
//! text, seeds and counts from the environment (printed so that a failure replays), free
//! local ports, child processes killed when dropped, and directory trees.
//!
//! Everything returns `io::Result` instead of panicking: the tests decide how to fail.

use rand::Rng;
use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// `<exe> <args> --dir <dir>` with no standard input.
pub fn command_in(exe: &str, args: &[&str], dir: &Path) -> Command {
    let mut command = Command::new(exe);
    command
        .args(args)
        .arg("--dir")
        .arg(dir)
        .stdin(Stdio::null());
    command
}

/// Runs `command` with `stdin` written to its standard input, output captured. A command
/// that exits before reading its input closes the pipe: that is not an error here.
pub fn output_with_stdin(command: &mut Command, stdin: &str) -> std::io::Result<Output> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    if let Some(mut pipe) = child.stdin.take() {
        let _ = pipe.write_all(stdin.as_bytes());
    }
    child.wait_with_output()
}

/// Bytes as text (lossy).
pub fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The environment variable `name` parsed, or `default` when it is unset.
///
/// # Panics
/// When it is set but does not parse: a knob set wrong must not quietly run the default.
#[allow(clippy::panic)]
pub fn env_or<T: FromStr>(name: &str, default: T) -> T {
    match std::env::var(name) {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("{name}={value:?} does not parse")),
        Err(_) => default,
    }
}

/// `EXACTLY_SEED`, or a random seed when it is unset (not printed: callers print it with
/// what else replays the run).
pub fn seed_from_env() -> u64 {
    env_or("EXACTLY_SEED", rand::rng().random())
}

/// Kills (`EXACTLY_KILLS`, default `default_kills`) and seed (`EXACTLY_SEED`, default
/// random), printed so that a failure can be replayed.
pub fn kills_and_seed(default_kills: u32) -> (u32, u64) {
    let kills = env_or("EXACTLY_KILLS", default_kills);
    let seed = seed_from_env();
    println!("seed {seed}, kills {kills}");
    (kills, seed)
}

/// Kills from `EXACTLY_NATS_KILLS` (default `default_kills`) and the seed as for
/// [`kills_and_seed`], printed: the knobs of the kill loops against NATS.
pub fn nats_kills_and_seed(default_kills: u32) -> (u32, u64) {
    let kills = env_or("EXACTLY_NATS_KILLS", default_kills);
    let seed = seed_from_env();
    println!("{kills} kills, seed {seed} (EXACTLY_SEED={seed} replays it)");
    (kills, seed)
}

/// A local UDP port nobody listens on yet.
pub fn free_port() -> std::io::Result<u16> {
    Ok(UdpSocket::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `127.0.0.1:<free port>`.
pub fn free_addr() -> std::io::Result<String> {
    Ok(format!("127.0.0.1:{}", free_port()?))
}

/// A child process killed (SIGKILL) when dropped, so a failing test leaves no orphans.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

impl Proc {
    /// Waits up to `deadline` for the process to exit; `None` if it is still running.
    pub fn wait_until(&mut self, deadline: Duration) -> std::io::Result<Option<ExitStatus>> {
        let end = Instant::now() + deadline;
        loop {
            if let Some(status) = self.0.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() > end {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Everything the process wrote to a piped stderr (call after it exited).
    pub fn stderr(&mut self) -> std::io::Result<String> {
        let mut err = String::new();
        if let Some(mut pipe) = self.0.stderr.take() {
            pipe.read_to_string(&mut err)?;
        }
        Ok(err)
    }

    /// Kills the process and waits for it (its locks are released when this returns).
    pub fn kill(&mut self) {
        // Best effort: the process may have exited already.
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Every regular file under `root`, sorted, except lock files named `LOCK`.
pub fn files_under(root: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.file_name().is_some_and(|n| n != "LOCK") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

/// Copies the directory tree `from` to `to` (created if missing).
pub fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// Every file and directory under `dir` with its contents (directories: empty), for
/// "nothing was written" checks.
pub fn tree(dir: &Path) -> std::io::Result<BTreeMap<PathBuf, Vec<u8>>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        for entry in std::fs::read_dir(&path)? {
            let entry = entry?;
            let p = entry.path();
            if entry.file_type()?.is_dir() {
                out.insert(p.clone(), Vec::new());
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p)?;
                out.insert(p, bytes);
            }
        }
    }
    Ok(out)
}
