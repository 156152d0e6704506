//! The process side of `exactly endpoint bank`: both endpoints run as child processes of
//! the `exactly` binary (`exactly endpoint serve`), the workload's deliveries are fed to
//! the feed log in chunks, and between chunks one or both endpoints are SIGKILLed at
//! seeded random moments and restarted; at the end each endpoint is asked to drain (its
//! stop file) and must exit cleanly. The audit of what they wrote is not done here.
//!
//! The endpoint processes die with the parent, even when it is SIGKILLed: each reads its
//! standard input, a pipe whose only writer is the parent, and exits when it closes.

use crate::supervised::Supervised;
use exactly_core::Timestamp;
use exactly_endpoint::bank_layout::{Layout, Role};
use exactly_endpoint::testkit::{record_value, Workload, TRANSFERS_TOPIC};
use exactly_endpoint::Delivery;
use exactly_log::{AppendError, Log, LogConfig, OpenError, Record, TopicError};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// An endpoint that exits by itself this many times is broken, not unlucky: stop.
pub const CHILD_FAILURES_MAX: usize = 5;

/// Chunks the deliveries are fed in when no number of kills is asked for.
const CHUNKS_DEFAULT: u32 = 20;

/// Records per append to the feed.
const FEED_APPEND_RECORDS: usize = 1000;

/// Pause between chunks when nothing is killed, in ms.
const PAUSE_WITHOUT_KILLS_MS: u64 = 10;

/// How often a draining endpoint is polled.
const DRAIN_POLL: Duration = Duration::from_millis(20);

/// How the endpoint processes are started: `exe endpoint serve …`.
#[derive(Clone, Debug)]
pub struct ServeOptions {
    /// The `exactly` binary.
    pub exe: PathBuf,
    /// `embedded` or a PostgreSQL URL.
    pub store: String,
    /// Prefix of the PostgreSQL schemas.
    pub schema_prefix: String,
    /// Accounts per endpoint.
    pub accounts: u32,
    /// Messages per store transaction.
    pub batch: usize,
    /// `embedded` (each endpoint's own log) or a `nats://…` address.
    pub transport: String,
}

/// Where the bank's transfers are fed: the feed log ([`LogFeed`]) or a topic elsewhere.
pub trait Feed {
    /// Makes sure the feed topic exists (before the endpoints start).
    fn create(&mut self) -> Result<(), BankError>;
    /// Appends deliveries, in order, durably, before returning.
    fn append(&mut self, chunk: &[Delivery]) -> Result<(), BankError>;
}

/// The feed on the embedded log in the bank's directory.
pub struct LogFeed {
    log: Log,
}

impl LogFeed {
    /// Opens (creates) the feed log of `layout`.
    pub fn open(layout: &Layout) -> Result<Self, BankError> {
        Ok(Self {
            log: Log::open(layout.feed_log(), LogConfig::default())?,
        })
    }
}

impl Feed for LogFeed {
    fn create(&mut self) -> Result<(), BankError> {
        self.log.create_topic(TRANSFERS_TOPIC, 1)?;
        Ok(())
    }

    fn append(&mut self, chunk: &[Delivery]) -> Result<(), BankError> {
        append(&self.log, chunk)
    }
}

/// How the feeding and the kills go.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeedPlan {
    /// Mean time between kills in ms (0: no kills; the pause is drawn from ±50 %).
    pub kill_every_ms: u64,
    /// Go on killing until this many kills landed (None: stop when all is fed); also the
    /// number of chunks the deliveries are fed in (default 20).
    pub kills: Option<u32>,
    /// Give up after this long.
    pub timeout: Duration,
}

/// What the process management did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BankRuns {
    /// SIGKILLs that landed on a running endpoint.
    pub kills: u32,
    /// Restarts of an endpoint.
    pub restarts: u32,
    /// Endpoints that exited by themselves or failed while draining (each is a violation).
    pub child_failures: Vec<String>,
    /// Wall time of the run (left zero here; the caller measures what it wants).
    pub wall: Duration,
}

/// What the feeding loop is doing, for a progress display.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BankProgress {
    /// `fed` deliveries are in the feed and `kills` kills landed.
    Fed {
        /// Deliveries fed so far.
        fed: u64,
        /// Kills so far.
        kills: u32,
    },
    /// Everything is fed; the endpoints are draining.
    Draining,
}

/// Why the bank's processes could not be driven to the end.
#[derive(Debug, thiserror::Error)]
pub enum BankError {
    /// An endpoint process could not be started, restarted, waited for or killed.
    #[error("{action} {role}: {source}")]
    Process {
        /// What was being done (`starting`, `restarting`, `killing`, `waiting for`).
        action: &'static str,
        /// The endpoint.
        role: &'static str,
        /// Why.
        source: std::io::Error,
    },
    /// An endpoint failed [`CHILD_FAILURES_MAX`] times.
    #[error("{role} keeps failing ({failures} failures); its last error: {last}")]
    Broken {
        /// The endpoint.
        role: &'static str,
        /// Failures so far.
        failures: usize,
        /// The last line of its error output.
        last: String,
    },
    /// An endpoint did not drain before the timeout.
    #[error("{0} did not drain before the timeout")]
    DrainTimeout(&'static str),
    /// The stop file of an endpoint could not be written.
    #[error("writing the stop file {path}: {source}")]
    StopFile {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The feed log did not open.
    #[error("opening the feed log: {0}")]
    FeedOpen(#[from] OpenError),
    /// The feed topic could not be created.
    #[error("creating the feed topic: {0}")]
    FeedTopic(#[from] TopicError),
    /// Appending to the feed failed.
    #[error("appending to the feed: {0}")]
    FeedAppend(#[from] AppendError),
    /// The system clock is before 1970 (the feed's timestamps come from it).
    #[error("the system clock is before 1970")]
    Clock,
    /// A feed on another transport failed.
    #[error("feeding transfers: {0}")]
    Feed(#[source] Box<dyn std::error::Error + Send + Sync>),
}

/// The two endpoint processes, each supervised: killed and restarted on demand, dying
/// with the parent and when dropped.
struct Children<'a> {
    layout: &'a Layout,
    a: Supervised,
    b: Supervised,
}

fn process(action: &'static str, role: Role) -> impl FnOnce(std::io::Error) -> BankError {
    move |source| BankError::Process {
        action,
        role: role.name(),
        source,
    }
}

impl<'a> Children<'a> {
    fn spawn_both(layout: &'a Layout, serve: &ServeOptions) -> Result<Self, BankError> {
        let spawn = |role: Role| {
            Supervised::spawn(serve_command(layout, serve, role)).map_err(process("starting", role))
        };
        let a = spawn(Role::A)?;
        let b = spawn(Role::B)?;
        Ok(Self { layout, a, b })
    }

    fn child(&mut self, role: Role) -> &mut Supervised {
        match role {
            Role::A => &mut self.a,
            Role::B => &mut self.b,
        }
    }

    /// SIGKILLs `role` if it is running, then starts it again.
    fn kill_and_restart(&mut self, role: Role, runs: &mut BankRuns) -> Result<(), BankError> {
        match self.child(role).kill().map_err(process("killing", role))? {
            None => runs.kills += 1,
            Some(status) => {
                let failure = format!("{} exited by itself: {status}", role.name());
                runs.child_failures.push(failure);
                self.give_up_if_broken(role, runs)?;
            }
        }
        self.restart(role, runs)
    }

    fn restart(&mut self, role: Role, runs: &mut BankRuns) -> Result<(), BankError> {
        self.child(role)
            .restart()
            .map_err(process("restarting", role))?;
        runs.restarts += 1;
        Ok(())
    }

    /// Fails with the endpoint's last error output once it failed too often.
    fn give_up_if_broken(&self, role: Role, runs: &BankRuns) -> Result<(), BankError> {
        if runs.child_failures.len() < CHILD_FAILURES_MAX {
            return Ok(());
        }
        let path = self.layout.stderr_file(role);
        let last = match std::fs::read_to_string(&path) {
            Ok(stderr) => match stderr.lines().last() {
                Some(line) => line.to_string(),
                None => "(no output)".to_string(),
            },
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "bank: error output unreadable");
                format!(
                    "(its error output {} is unreadable: {error})",
                    path.display()
                )
            }
        };
        Err(BankError::Broken {
            role: role.name(),
            failures: runs.child_failures.len(),
            last,
        })
    }

    /// Creates the stop file of `role` and waits for it to exit cleanly.
    fn drain(
        &mut self,
        role: Role,
        deadline: Instant,
        runs: &mut BankRuns,
    ) -> Result<(), BankError> {
        let path = self.layout.stop_file(role);
        std::fs::write(&path, b"stop").map_err(|source| {
            tracing::warn!(path = %path.display(), %source, "bank: cannot write the stop file");
            BankError::StopFile {
                path: path.clone(),
                source,
            }
        })?;
        loop {
            let exited = self
                .child(role)
                .try_wait()
                .map_err(process("waiting for", role))?;
            if let Some(status) = exited {
                if status.success() {
                    return Ok(());
                }
                let failure = format!("{} failed while draining: {status}", role.name());
                runs.child_failures.push(failure);
                self.give_up_if_broken(role, runs)?;
                self.restart(role, runs)?;
            }
            if Instant::now() > deadline {
                // The timeout is what matters; the process is killed on drop anyway.
                let _ = self.child(role).kill();
                return Err(BankError::DrainTimeout(role.name()));
            }
            std::thread::sleep(DRAIN_POLL);
        }
    }
}

/// Builds `exactly endpoint serve` for `role`, its error output appended to its file.
fn serve_command(
    layout: &Layout,
    serve: &ServeOptions,
    role: Role,
) -> impl FnMut() -> std::io::Result<Command> + 'static {
    let stderr_path = layout.stderr_file(role);
    let root = layout.root().to_path_buf();
    let (exe, store) = (serve.exe.clone(), serve.store.clone());
    let schema_prefix = serve.schema_prefix.clone();
    let (accounts, batch) = (serve.accounts.to_string(), serve.batch.to_string());
    let transport = serve.transport.clone();
    move || {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)?;
        let mut command = Command::new(&exe);
        command
            .args(["endpoint", "serve", "--role", role.name()])
            .args(["--store", &store])
            .args(["--schema-prefix", &schema_prefix])
            .arg("--dir")
            .arg(&root)
            .args(["--accounts", &accounts, "--batch", &batch])
            .args(["--transport", &transport])
            // Exits when its standard input (a pipe only the parent writes to) closes.
            .arg("--exit-with-parent")
            .stdout(Stdio::null())
            .stderr(stderr);
        Ok(command)
    }
}

/// Starts both endpoints, feeds `workload`'s deliveries in chunks with kills between them
/// (timing drawn from `seed`), then drains both. `on_progress` is told how far it got.
pub fn drive(
    layout: &Layout,
    serve: &ServeOptions,
    plan: &FeedPlan,
    workload: &Workload,
    seed: u64,
    on_progress: impl FnMut(BankProgress),
) -> Result<BankRuns, BankError> {
    let mut feed = LogFeed::open(layout)?;
    drive_with(layout, serve, plan, workload, seed, &mut feed, on_progress)
}

/// [`drive`] with the transfers fed to `feed`.
pub fn drive_with(
    layout: &Layout,
    serve: &ServeOptions,
    plan: &FeedPlan,
    workload: &Workload,
    seed: u64,
    feed: &mut dyn Feed,
    mut on_progress: impl FnMut(BankProgress),
) -> Result<BankRuns, BankError> {
    feed.create()?;
    let deadline = Instant::now() + plan.timeout;
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut runs = BankRuns::default();
    let mut children = Children::spawn_both(layout, serve)?;
    let chunk_count = u64::from(plan.kills.unwrap_or(CHUNKS_DEFAULT).max(1));
    let chunk_len = (workload.deliveries.len() as u64)
        .div_ceil(chunk_count)
        .max(1) as usize;
    let mut chunks = workload.deliveries.chunks(chunk_len);
    let mut fed = 0u64;
    loop {
        let more = match chunks.next() {
            Some(chunk) => {
                feed.append(chunk)?;
                fed += chunk.len() as u64;
                true
            }
            None => false,
        };
        let kills_wanted = plan.kill_every_ms > 0 && plan.kills.is_some_and(|k| runs.kills < k);
        if (!more && !kills_wanted) || Instant::now() > deadline {
            break;
        }
        let pause = match plan.kill_every_ms {
            0 => PAUSE_WITHOUT_KILLS_MS,
            ms => rng.random_range(ms / 2..=ms + ms / 2),
        };
        std::thread::sleep(Duration::from_millis(pause));
        if plan.kill_every_ms > 0 {
            let victims: &[Role] = match rng.random_range(0..3) {
                0 => &[Role::A],
                1 => &[Role::B],
                _ => &[Role::A, Role::B],
            };
            for &role in victims {
                children.kill_and_restart(role, &mut runs)?;
            }
        }
        on_progress(BankProgress::Fed {
            fed,
            kills: runs.kills,
        });
    }
    on_progress(BankProgress::Draining);
    children.drain(Role::A, deadline, &mut runs)?;
    children.drain(Role::B, deadline, &mut runs)?;
    Ok(runs)
}

/// Appends deliveries to the feed, stamped with the current time.
fn append(feed: &Log, chunk: &[Delivery]) -> Result<(), BankError> {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_err(|_| BankError::Clock)?;
    let now = Timestamp(since_epoch.as_millis() as i64);
    for piece in chunk.chunks(FEED_APPEND_RECORDS) {
        let records: Vec<Record> = piece
            .iter()
            .map(|d| Record {
                timestamp: now,
                key: None,
                value: record_value(d),
            })
            .collect();
        feed.append(TRANSFERS_TOPIC, 0, &records, None)?;
    }
    Ok(())
}
