//! `exactly endpoint serve`: one endpoint process of the bank, spawned by `bank`
//! (`exactly_testkit::bank_serve`): reads its input from the positions its store
//! committed, dispatches its outbox to its own log (or its own topics on NATS JetStream),
//! and exits once its stop file exists and it has caught up. Killed at any moment by
//! `bank`; restarting it is the whole recovery.

use clap::Args;
use exactly_endpoint::bank_layout::{Layout, Role};
use exactly_endpoint::serve::ReconnectPolicy;
use exactly_nats::bank::is_nats_address;
use exactly_testkit::bank_serve::{serve_endpoint, EndpointServeConfig, StderrWarnings, Transport};
use exactly_testkit::supervised::exit_when_stdin_closes;
use std::path::PathBuf;

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
    /// Prefix of the PostgreSQL schemas (and of the topics on NATS).
    #[arg(long, default_value = "exactly_bank")]
    schema_prefix: String,
    /// `embedded` (each endpoint's own log in `--dir`) or a `nats://host:port[,…]` address.
    #[arg(long, default_value = "embedded")]
    transport: String,
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

/// Runs one endpoint until its stop file appears and it has caught up.
pub fn run(args: ServeArgs) -> anyhow::Result<()> {
    if args.exit_with_parent {
        exit_when_stdin_closes(EXIT_PARENT_GONE);
    }
    let config = EndpointServeConfig {
        role: Role::parse(&args.role)?,
        layout: Layout::new(&args.dir),
        store: super::store_choice(&args.store)?,
        schema_prefix: args.schema_prefix,
        // Anything but a NATS address is the embedded logs, as `bank` passes it.
        transport: match is_nats_address(&args.transport) {
            true => Transport::Nats(args.transport),
            false => Transport::Embedded,
        },
        accounts: args.accounts,
        batch: args.batch,
        reconnect: ReconnectPolicy {
            attempts_max: args.reconnect_attempts,
            backoff_initial_ms: RECONNECT_BACKOFF_INITIAL_MS,
            backoff_max_ms: args.reconnect_backoff_max_ms,
        },
    };
    serve_endpoint(&config, &mut StderrWarnings)?;
    Ok(())
}
