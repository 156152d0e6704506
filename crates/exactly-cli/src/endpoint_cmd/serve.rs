//! `exactly endpoint serve`: one endpoint process of the bank. Reads its input topic from
//! the positions its store committed, processes batches, dispatches the outbox to its own
//! log, and exits once its stop file exists and it has caught up. Killed at any moment by
//! `bank`; restarting it is the whole recovery.

use super::{open_store, Layout, Role};
use anyhow::Context;
use clap::Args;
use exactly_endpoint::bank::{Accounts, CreditHandler, DebitHandler, CREDITS_TOPIC};
use exactly_endpoint::serve::{
    open_store as open_with_retry, ReconnectPolicy, ServeObserver, ServeOptions, Server,
    StoreOpener,
};
use exactly_endpoint::testkit::DEAD_LETTERS_TOPIC;
use exactly_endpoint::{EndpointConfig, LogPublisher, LostTail, Store};
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

/// Why opening the store failed: the error of `open_store`, with its causes as sources.
#[derive(Debug)]
struct OpenFailed(anyhow::Error);

impl std::fmt::Display for OpenFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The outermost message only: the causes follow as sources.
        write!(f, "{}", self.0)
    }
}

impl std::error::Error for OpenFailed {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        (*self.0).source()
    }
}

/// Opens the endpoint's store (`embedded` or PostgreSQL) for the serve loop.
struct Opener<'a> {
    choice: &'a str,
    layout: &'a Layout,
    role: Role,
    schema_prefix: &'a str,
}

impl StoreOpener for Opener<'_> {
    type Store = Box<dyn Store>;
    type Error = OpenFailed;

    fn open(&mut self) -> Result<Self::Store, Self::Error> {
        open_store(self.choice, self.layout, self.role, self.schema_prefix).map_err(OpenFailed)
    }

    fn is_transient(&self, error: &Self::Error) -> bool {
        exactly_postgres::is_connection_lost(&*error.0)
    }
}

/// Prints the serve loop's warnings on standard error (`bank` keeps them per endpoint).
struct Warnings;

impl ServeObserver for Warnings {
    fn lost_tail(&mut self, gap: &LostTail) {
        eprintln!("warning: {gap}");
    }

    fn reconnecting(&mut self, last: &str, delay: Duration, attempt: u32, attempts_max: u32) {
        eprintln!(
            "warning: store connection lost ({last}); reconnecting in {} ms (attempt \
             {attempt}/{attempts_max})",
            delay.as_millis()
        );
    }
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
    let mut opener = Opener {
        choice: &args.store,
        layout: &layout,
        role,
        schema_prefix: &args.schema_prefix,
    };
    // The store first: a bad store fails fast, before waiting for the input.
    let store = open_with_retry(&reconnect, &mut opener, &mut Warnings)?;
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
    let server = Server {
        input: open_input(&input_dir, topic)?,
        topic: topic.to_string(),
        options: ServeOptions {
            fetch_max: args.batch * 4,
            poll_timeout: Duration::from_millis(50),
            reconnect,
            endpoint: EndpointConfig {
                dead_letter_topic: DEAD_LETTERS_TOPIC.to_string(),
                ..EndpointConfig::default()
            },
        },
    };
    let (a, b) = (
        Accounts::new("a", args.accounts),
        Accounts::new("b", args.accounts),
    );
    let stop_file = layout.stop_file(role);
    let mut stop = || stop_file.exists();
    let mut publisher = LogPublisher::new(own);
    match role {
        Role::A => server.run(
            DebitHandler {
                local: a,
                remote: b,
                batch_max: args.batch,
            },
            store,
            &mut opener,
            &mut publisher,
            &mut stop,
            &mut Warnings,
        )?,
        Role::B => server.run(
            CreditHandler {
                local: b,
                batch_max: args.batch,
            },
            store,
            &mut opener,
            &mut publisher,
            &mut stop,
            &mut Warnings,
        )?,
    }
    Ok(())
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
