//! What the server's tests share: the server in a child process (this same test binary,
//! re-run with an environment variable, so a test can SIGKILL it), ports, the Python
//! clients' venv, seeds.
#![allow(dead_code)] // each test file uses a part

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Set in a child to make `serve_child_if_asked` run the server on this log directory.
const CHILD_DIR_ENV: &str = "EXACTLY_KAFKA_TEST_SERVER_DIR";
const CHILD_LISTEN_ENV: &str = "EXACTLY_KAFKA_TEST_SERVER_LISTEN";

/// Each test file calls this from a test named `server_child`: in a child started by
/// [`ServerProc::start`] it serves forever; in a normal run it returns at once.
pub fn serve_child_if_asked() {
    let (Ok(dir), Ok(listen)) = (
        std::env::var(CHILD_DIR_ENV),
        std::env::var(CHILD_LISTEN_ENV),
    ) else {
        return;
    };
    let log = match exactly_log::Log::open(&dir, exactly_log::LogConfig::default()) {
        Ok(log) => log,
        Err(e) => {
            eprintln!("server child: opening {dir}: {e}");
            std::process::exit(2);
        }
    };
    let log: &'static exactly_log::Log = Box::leak(Box::new(log));
    let options = exactly_kafka::ServerOptions {
        listen: listen.parse().unwrap_or_else(|e| {
            eprintln!("server child: bad address {listen}: {e}");
            std::process::exit(2)
        }),
        ..exactly_kafka::ServerOptions::default()
    };
    let served = exactly_kafka::serve_blocking(log, options, |addr| {
        println!("listening on {addr}");
    });
    eprintln!("server child stopped: {served:?}");
    std::process::exit(3);
}

/// The server running in a child process; SIGKILLed when dropped.
pub struct ServerProc {
    child: Child,
    dir: PathBuf,
    /// `host:port` it listens on.
    pub addr: String,
    test_name: String,
    /// Kills so far.
    pub kills: u32,
}

impl ServerProc {
    /// Starts the server of the calling test binary (`test_name` is the test that calls
    /// [`serve_child_if_asked`]) on `dir`, listening on `addr` (`127.0.0.1:0` for any port).
    pub fn start(test_name: &str, dir: &Path, addr: &str) -> std::io::Result<Self> {
        let (child, addr) = spawn(test_name, dir, addr)?;
        Ok(Self {
            child,
            dir: dir.to_path_buf(),
            addr,
            test_name: test_name.to_string(),
            kills: 0,
        })
    }

    /// SIGKILLs the server and waits for it to be gone.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.kills += 1;
        Ok(())
    }

    /// Starts it again on the same directory and address.
    pub fn restart(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn(&self.test_name, &self.dir, &self.addr) {
                Ok((child, _)) => {
                    self.child = child;
                    return Ok(());
                }
                // The port may linger for a moment after the kill.
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart failed ({e}); retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(test_name: &str, dir: &Path, addr: &str) -> std::io::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([test_name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_LISTEN_ENV, addr)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        // The test harness may print "test server_child ... " on the same line first.
        if let Some((_, addr)) = line.split_once("listening on ") {
            let addr = addr.trim().to_string();
            // Keep draining its stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Ok((child, addr));
        }
    }
    let _ = child.kill();
    let status = child.wait()?;
    Err(std::io::Error::other(format!(
        "server child exited before listening: {status}"
    )))
}

/// A free loopback address.
pub fn free_addr() -> std::io::Result<String> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
    Ok(listener.local_addr()?.to_string())
}

/// The venv Python with confluent-kafka and kafka-python (`.ci/setup-kafka` installs it;
/// `EXACTLY_KAFKA_PYTHON` overrides). Missing: the test fails, it does not skip.
pub fn python() -> String {
    std::env::var("EXACTLY_KAFKA_PYTHON").unwrap_or_else(|_| "/opt/exactly-venv/bin/python3".into())
}

/// A script of `tests/py/`.
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/py")
        .join(name)
}
