//! nats-server processes for tests and benchmarks: a single node with
//! `sync_interval: always` or a 3-node cluster, on free loopback ports, each killable
//! (SIGKILL), pausable (SIGSTOP/SIGCONT) and restartable on the same ports and store.
//!
//! The binary is the official server (≥ 2.10), found through `EXACTLY_NATS_SERVER_BIN`
//! (set by the CI's setup script), else `/opt/exactly-venv-nats/bin/nats-server`.
//!
//! [`NatsServer::start_with_config`] takes any address and a [`Launcher`], so a server can
//! run elsewhere than on loopback, e.g. inside a network namespace (`exactly-testkit`'s
//! `netns` hosts), and still be killed, paused and restarted here.

use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Environment variable naming the nats-server binary.
pub const SERVER_BIN_ENV: &str = "EXACTLY_NATS_SERVER_BIN";

/// Where `.ci/setup-nats` installs the binary.
const DEFAULT_SERVER_BIN: &str = "/opt/exactly-venv-nats/bin/nats-server";

/// Why a test server could not be started or controlled.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServerError {
    /// No binary: neither the environment variable nor the default path.
    #[error("no nats-server binary: set {SERVER_BIN_ENV} (see .ci/setup-nats)")]
    NoBinary,
    /// Spawning, signalling or writing the configuration failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server did not accept connections in time.
    #[error("nats-server on port {port} did not come up within {timeout_ms} ms (log: {log})")]
    NotReady {
        /// Its client port.
        port: u16,
        /// The bound.
        timeout_ms: u64,
        /// Its log file.
        log: String,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> ServerError {
    let what = what.into();
    move |source| ServerError::Io { what, source }
}

/// The nats-server binary to run, if one is installed.
pub fn server_binary() -> Result<PathBuf, ServerError> {
    if let Some(path) = std::env::var_os(SERVER_BIN_ENV) {
        return Ok(PathBuf::from(path));
    }
    let default = PathBuf::from(DEFAULT_SERVER_BIN);
    if default.exists() {
        return Ok(default);
    }
    Err(ServerError::NoBinary)
}

/// A free loopback TCP port (bound and released; good enough for tests).
pub fn free_port() -> Result<u16, ServerError> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding a free port"))?;
    let port = listener
        .local_addr()
        .map_err(io("reading a bound port"))?
        .port();
    Ok(port)
}

/// Builds the command that starts the server binary (its arguments are added after):
/// `Command::new(binary)` by default; a wrapper that *execs* the binary (such as
/// `nsenter --net=…`) keeps kill and pause reaching the server itself.
pub type Launcher = Arc<dyn Fn(&Path) -> Command + Send + Sync>;

/// One nats-server process with its configuration file and store.
pub struct NatsServer {
    binary: PathBuf,
    config: PathBuf,
    log: PathBuf,
    addr: SocketAddr,
    launcher: Launcher,
    child: Option<Child>,
}

impl NatsServer {
    /// Starts a single JetStream node storing in `dir`, fsyncing before every ack
    /// (`sync_interval: always`).
    pub fn start_single(dir: &Path) -> Result<Self, ServerError> {
        let port = free_port()?;
        let store = dir.join("store");
        let config = format!(
            "server_name: n0\nlisten: 127.0.0.1:{port}\n\
             jetstream {{\n  store_dir: {store:?}\n  sync_interval: always\n}}\n"
        );
        Self::start_on_loopback(dir, "n0", port, &config)
    }

    fn start_on_loopback(
        dir: &Path,
        name: &str,
        port: u16,
        config: &str,
    ) -> Result<Self, ServerError> {
        let addr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), port);
        let direct: Launcher = Arc::new(|binary: &Path| Command::new(binary));
        Self::start_with_config(dir, name, addr, config, direct)
    }

    /// Starts the server with the configuration text `config` (written to
    /// `dir/<name>.conf`, logging to `dir/<name>.log`), launched by `launcher`; `addr` is
    /// the client address `config` makes it listen on, where readiness is checked and
    /// [`NatsServer::url`] points.
    pub fn start_with_config(
        dir: &Path,
        name: &str,
        addr: SocketAddr,
        config: &str,
        launcher: Launcher,
    ) -> Result<Self, ServerError> {
        std::fs::create_dir_all(dir).map_err(io(format!("creating {}", dir.display())))?;
        let config_path = dir.join(format!("{name}.conf"));
        std::fs::write(&config_path, config)
            .map_err(io(format!("writing {}", config_path.display())))?;
        let mut server = NatsServer {
            binary: server_binary()?,
            config: config_path,
            log: dir.join(format!("{name}.log")),
            addr,
            launcher,
            child: None,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), ServerError> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .map_err(io(format!("opening {}", self.log.display())))?;
        let log_err = log.try_clone().map_err(io("duplicating the log file"))?;
        let child = (self.launcher)(&self.binary)
            .arg("-c")
            .arg(&self.config)
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .spawn()
            .map_err(io(format!("starting {}", self.binary.display())))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the server greets a new connection (its `INFO` line).
    pub fn wait_ready(&self, timeout_ms: u64) -> Result<(), ServerError> {
        let deadline = Instant::now() + Duration::from_millis(timeout_ms);
        while Instant::now() < deadline {
            if greets(self.addr) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Err(ServerError::NotReady {
            port: self.addr.port(),
            timeout_ms,
            log: self.log.display().to_string(),
        })
    }

    /// Its client port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Its client address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `nats://<ip>:<port>` (`127.0.0.1` unless started elsewhere).
    pub fn url(&self) -> String {
        format!("nats://{}", self.addr)
    }

    /// Its process id, while running.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGKILL, and reap.
    pub fn kill(&mut self) -> Result<(), ServerError> {
        if let Some(mut child) = self.child.take() {
            child.kill().map_err(io("killing nats-server"))?;
            child.wait().map_err(io("reaping nats-server"))?;
        }
        Ok(())
    }

    /// Starts it again on the same port and store (after [`NatsServer::kill`]).
    pub fn restart(&mut self) -> Result<(), ServerError> {
        self.kill()?;
        self.spawn()
    }

    /// SIGSTOP: the process stays, its sockets stay open, it answers nothing.
    pub fn pause(&self) -> Result<(), ServerError> {
        self.signal("-STOP")
    }

    /// SIGCONT after [`NatsServer::pause`].
    pub fn resume(&self) -> Result<(), ServerError> {
        self.signal("-CONT")
    }

    fn signal(&self, signal: &str) -> Result<(), ServerError> {
        let Some(pid) = self.pid() else {
            return Ok(());
        };
        let status = Command::new("kill")
            .arg(signal)
            .arg(pid.to_string())
            .status()
            .map_err(io(format!("kill {signal} {pid}")))?;
        if !status.success() {
            return Err(ServerError::Io {
                what: format!("kill {signal} {pid}"),
                source: std::io::Error::other(format!("exit status {status}")),
            });
        }
        Ok(())
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        // A paused server would not die of SIGKILL until continued on some kernels' views
        // of its state; continue first, then kill. Failures here leave nothing to undo.
        let _ = self.resume();
        let _ = self.kill();
    }
}

fn greets(addr: SocketAddr) -> bool {
    // Bounded: an unreachable address (a cut link) would otherwise hang in SYN retries.
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(500)) else {
        return false;
    };
    if stream
        .set_read_timeout(Some(Duration::from_millis(500)))
        .is_err()
    {
        return false;
    }
    let mut hello = [0u8; 4];
    stream.read_exact(&mut hello).is_ok() && &hello == b"INFO"
}

/// Three JetStream nodes routed to each other on loopback (R3 streams possible).
pub struct NatsCluster {
    /// The nodes, in start order.
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// Starts three nodes storing under `dir` (`sync_interval: always`).
    pub fn start(dir: &Path) -> Result<Self, ServerError> {
        let client_ports = [free_port()?, free_port()?, free_port()?];
        let route_ports = [free_port()?, free_port()?, free_port()?];
        let routes: Vec<String> = route_ports
            .iter()
            .map(|p| format!("nats-route://127.0.0.1:{p}"))
            .collect();
        let mut nodes = Vec::new();
        for (index, (port, route_port)) in client_ports.iter().zip(route_ports).enumerate() {
            let name = format!("n{index}");
            let store = dir.join(&name).join("store");
            let config = format!(
                "server_name: {name}\nlisten: 127.0.0.1:{port}\n\
                 jetstream {{\n  store_dir: {store:?}\n  sync_interval: always\n}}\n\
                 cluster {{\n  name: exactly\n  listen: 127.0.0.1:{route_port}\n  routes: [{}]\n}}\n",
                routes.join(", ")
            );
            nodes.push(NatsServer::start_on_loopback(dir, &name, *port, &config)?);
        }
        Ok(NatsCluster { nodes })
    }

    /// `nats://` URL listing every node.
    pub fn url(&self) -> String {
        let hosts: Vec<String> = self
            .nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port()))
            .collect();
        format!("nats://{}", hosts.join(","))
    }

    /// Waits until every node greets.
    pub fn wait_ready(&self, timeout_ms: u64) -> Result<(), ServerError> {
        self.nodes.iter().try_for_each(|n| n.wait_ready(timeout_ms))
    }
}
