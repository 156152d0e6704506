//! `exactly endpoint serve`: one endpoint process of the bank. Reads its input topic from
//! the positions its store committed, processes batches, dispatches the outbox to its own
//! log, and exits once its stop file exists and it has caught up. Killed at any moment by
//! `bank`; restarting it is the whole recovery.

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
    /// Exit as soon as standard input closes (`bank` holds the pipe's only write end, so
    /// the endpoint dies with it even when it is SIGKILLed).
    #[arg(long)]
    exit_with_parent: bool,
}

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
    let store = open_store(&args.store, &layout, role, &args.schema_prefix)?;
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
    };
    match role {
        Role::A => loop_args.run(
            DebitHandler {
                local: a,
                remote: b,
                batch_max: args.batch,
            },
            store,
        ),
        Role::B => loop_args.run(
            CreditHandler {
                local: b,
                batch_max: args.batch,
            },
            store,
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
}

impl Loop {
    fn run<H: Handler>(self, handler: H, mut store: Box<dyn Store>) -> anyhow::Result<()> {
        let positions = store.positions()?;
        let source = LogSource::new(Arc::clone(&self.input), self.topic, &positions)?;
        for gap in source.lost_tails() {
            eprintln!("warning: {gap}");
        }
        self.serve(handler, store, source)
    }

    /// The endpoint loop over any [`Source`] (the log here; NATS would plug in the same way).
    fn serve<H: Handler>(
        self,
        handler: H,
        store: Box<dyn Store>,
        mut source: impl Source,
    ) -> anyhow::Result<()> {
        let config = EndpointConfig {
            dead_letter_topic: DEAD_LETTERS_TOPIC.to_string(),
            ..EndpointConfig::default()
        };
        let mut endpoint = Endpoint::new(handler, store, config, Arc::new(SystemClock));
        let mut publisher = LogPublisher::new(self.own);
        // Whatever a previous incarnation committed but did not dispatch goes out first.
        endpoint.dispatch(&mut publisher)?;
        loop {
            let batch = source.poll(self.fetch_max, Duration::from_millis(50))?;
            if batch.is_empty() {
                if self.stop_file.exists() && source.caught_up()? {
                    endpoint.dispatch(&mut publisher)?;
                    return Ok(());
                }
                continue;
            }
            endpoint.process(&batch)?;
            endpoint.dispatch(&mut publisher)?;
        }
    }
}
