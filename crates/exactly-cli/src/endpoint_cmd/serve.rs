//! `exactly endpoint serve`: one endpoint process of the bank. Reads its input topic from
//! the positions its store committed, processes batches, dispatches the outbox to its own
//! log, and exits once its stop file exists and it has caught up. Killed at any moment by
//! `bank`; restarting it is the whole recovery.

use super::reconnect::{is_connection_lost, open_first, reopen, ReconnectPolicy};
use super::{open_store, Layout, Role};
use anyhow::Context;
use clap::Args;
use exactly_core::SystemClock;
use exactly_endpoint::bank::{Accounts, CreditHandler, DebitHandler, CREDITS_TOPIC};
use exactly_endpoint::testkit::DEAD_LETTERS_TOPIC;
use exactly_endpoint::{Endpoint, EndpointConfig, Handler, LogPublisher, LogSource, Source, Store};
use exactly_log::{Log, LogConfig};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long an endpoint waits for its input topic to appear.
const INPUT_WAIT_S: u64 = 60;

/// Arguments of `exactly endpoint serve`.
#[derive(Args, Debug)]
pub struct ServeArgs {
    /// `accounts-a` or `accounts-b`.
    #[arg(long)]
    role: String,
    /// The bank's directory.
    #[arg(long)]
    dir: PathBuf,
    /// `embedded` or a PostgreSQL URL.
    #[arg(long, default_value = "embedded")]
    store: String,
    /// Prefix of the PostgreSQL schemas.
    #[arg(long, default_value = "exactly_bank")]
    schema_prefix: String,
    /// Accounts per endpoint.
    #[arg(long, default_value_t = 100, value_parser = super::accounts_range())]
    accounts: u32,
    /// Messages per store transaction.
    #[arg(long, default_value_t = 64, value_parser = super::batch_range())]
    batch: usize,
    /// Reconnection attempts after a lost store connection before giving up (0..=1000;
    /// the count restarts once a new session has recovered).
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(0..=1000))]
    reconnect_attempts: u32,
    /// Cap of the exponential backoff between reconnection attempts, in ms (starting at
    /// 100 ms; 100..=600000).
    #[arg(long, default_value_t = 5000, value_parser = clap::value_parser!(u64).range(100..=600_000))]
    reconnect_backoff_max_ms: u64,
    /// Exit as soon as standard input closes (`bank` holds the pipe's only write end, so
    /// the endpoint dies with it even when it is SIGKILLed).
    #[arg(long)]
    exit_with_parent: bool,
}

/// First delay of the reconnection backoff.
const RECONNECT_BACKOFF_INITIAL_MS: u64 = 100;

/// Exit status of an endpoint whose parent is gone.
const EXIT_PARENT_GONE: i32 = 3;

/// Exits the process when standard input reaches its end or fails. Exiting mid-batch is a
/// crash like any other: the store's transaction does not commit.
fn exit_when_stdin_closes() {
    std::thread::spawn(|| {
        let mut sink = [0u8; 64];
        loop {
            match std::io::Read::read(&mut std::io::stdin(), &mut sink) {
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Ok(0) | Err(_) => std::process::exit(EXIT_PARENT_GONE),
                Ok(_) => {}
            }
        }
    });
}

/// Runs one endpoint until its stop file appears and it has caught up.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.exit_with_parent {
        exit_when_stdin_closes();
    }
    let role = Role::parse(&args.role)?;
    let layout = Layout::new(&args.dir);
    let reconnect = ReconnectPolicy {
        attempts_max: args.reconnect_attempts,
        backoff_initial_ms: RECONNECT_BACKOFF_INITIAL_MS,
        backoff_max_ms: args.reconnect_backoff_max_ms,
    };
    let mut open = || open_store(&args.store, &layout, role, &args.schema_prefix);
    // The store first: a bad store fails fast, before waiting for the input.
    let store = open_first(&reconnect, &mut open)?;
    let own_dir = layout.log_dir(role);
    let own = Arc::new(
        Log::open(&own_dir, LogConfig::default())
            .with_context(|| format!("opening {}", own_dir.display()))?,
    );
    own.create_topic(DEAD_LETTERS_TOPIC, 1)?;
    if role == Role::A {
        own.create_topic(CREDITS_TOPIC, 1)?;
    }
    let (input_dir, topic) = layout.input(role);
    let input = open_input(&input_dir, topic)?;
    let (a, b) = (
        Accounts::new("a", args.accounts),
        Accounts::new("b", args.accounts),
    );
    let loop_args = Loop {
        own,
        input,
        topic,
        stop_file: layout.stop_file(role),
        fetch_max: args.batch * 4,
        reconnect,
    };
    match role {
        Role::A => loop_args.run(
            DebitHandler {
                local: a,
                remote: b,
                batch_max: args.batch,
            },
            store,
            open,
        ),
        Role::B => loop_args.run(
            CreditHandler {
                local: b,
                batch_max: args.batch,
            },
            store,
            open,
        ),
    }
}

/// Follows another process's log, waiting until `topic` exists there.
fn open_input(dir: &std::path::Path, topic: &str) -> anyhow::Result<Arc<Log>> {
    let deadline = Instant::now() + Duration::from_secs(INPUT_WAIT_S);
    loop {
        if let Ok(log) = Log::open_read_only(dir, LogConfig::default()) {
            if log.partition_count(topic).is_some() {
                return Ok(Arc::new(log));
            }
        }
        if Instant::now() > deadline {
            anyhow::bail!(
                "input topic {topic} did not appear in {} within {INPUT_WAIT_S} s",
                dir.display()
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

struct Loop {
    own: Arc<Log>,
    input: Arc<Log>,
    topic: &'static str,
    stop_file: PathBuf,
    fetch_max: usize,
    reconnect: ReconnectPolicy,
}

impl Loop {
    /// Serves until the stop file says so. A lost store connection ends the session; the
    /// store is reopened (with backoff, bounded) and a new session starts from the
    /// committed positions, exactly like a restart.
    fn run<H: Handler>(
        self,
        handler: H,
        store: Box<dyn Store>,
        mut open: impl FnMut() -> anyhow::Result<Box<dyn Store>>,
    ) -> anyhow::Result<()> {
        let config = EndpointConfig {
            dead_letter_topic: DEAD_LETTERS_TOPIC.to_string(),
            ..EndpointConfig::default()
        };
        let clock = Arc::new(SystemClock);
        let mut publisher = LogPublisher::new(Arc::clone(&self.own));
        let mut failures = 0u32;
        let mut endpoint = Endpoint::new(handler, store, config.clone(), clock.clone());
        loop {
            let error = match self.session(&mut endpoint, &mut publisher, &mut failures) {
                Ok(()) => return Ok(()),
                Err(error) if is_connection_lost(&error) => error,
                Err(error) => return Err(error),
            };
            // The old store (and its dead connection) goes before a new one takes the lock.
            let (handler, old_store) = endpoint.into_parts();
            drop(old_store);
            let store = reopen(&self.reconnect, &mut open, &mut failures, &error)?;
            endpoint = Endpoint::new(handler, store, config.clone(), clock.clone());
        }
    }

    /// One session on one store connection: recovery (positions, outbox), then the loop
    /// over any [`Source`] (the log here; NATS would plug in the same way).
    fn session<H: Handler>(
        &self,
        endpoint: &mut Endpoint<H, Box<dyn Store>>,
        publisher: &mut LogPublisher,
        failures: &mut u32,
    ) -> anyhow::Result<()> {
        let positions = endpoint.store().positions()?;
        let source = LogSource::new(Arc::clone(&self.input), self.topic, &positions)?;
        for gap in source.lost_tails() {
            eprintln!("warning: {gap}");
        }
        // Whatever a previous session committed but did not dispatch goes out first.
        endpoint.dispatch(publisher)?;
        *failures = 0;
        self.serve(endpoint, publisher, source)
    }

    /// The endpoint loop over any [`Source`] (the log here; NATS would plug in the same way).
    fn serve<H: Handler>(
        &self,
        endpoint: &mut Endpoint<H, Box<dyn Store>>,
        publisher: &mut LogPublisher,
        mut source: impl Source,
    ) -> anyhow::Result<()> {
        loop {
            let batch = source.poll(self.fetch_max, Duration::from_millis(50))?;
            if batch.is_empty() {
                if self.stop_file.exists() && source.caught_up()? {
                    endpoint.dispatch(publisher)?;
                    return Ok(());
                }
                continue;
            }
            endpoint.process(&batch)?;
            endpoint.dispatch(publisher)?;
        }
    }
}
