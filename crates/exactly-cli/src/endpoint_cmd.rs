//! `exactly endpoint …`: consistent endpoints. `bank` runs the two-endpoint bank with
//! duplicated deliveries and real SIGKILLs of the endpoint processes, then audits it;
//! `serve` (hidden) is one endpoint process, spawned by `bank`.

mod audit;
mod bank;
mod orphans;
mod serve;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
pub(crate) use exactly_endpoint::bank_layout::{schema_of, Layout, Role};
use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, RetentionPolicy, Store};
use exactly_postgres::{PgOptions, PgStore};

/// Arguments of `exactly endpoint`.
#[derive(Args, Debug)]
pub struct EndpointArgs {
    #[command(subcommand)]
    command: EndpointCommand,
}

#[derive(Subcommand, Debug)]
enum EndpointCommand {
    /// The bank: transfers debited at `accounts-a`, credited at `accounts-b`, with
    /// duplicates and SIGKILLs; audited exactly once at the end.
    Bank(bank::BankArgs),
    /// One endpoint process (spawned by `bank`).
    #[command(hide = true)]
    Serve(serve::ServeArgs),
}

/// Runs the chosen endpoint command.
pub fn run(args: EndpointArgs) -> anyhow::Result<()> {
    match args.command {
        EndpointCommand::Bank(args) => bank::run(args),
        EndpointCommand::Serve(args) => serve::run(args),
    }
}

/// `--accounts`: accounts per endpoint.
pub(crate) fn accounts_range() -> clap::builder::RangedU64ValueParser<u32> {
    clap::builder::RangedU64ValueParser::<u32>::new().range(1..=1_000_000)
}

/// `--batch`: messages per store transaction.
pub(crate) fn batch_range() -> clap::builder::RangedU64ValueParser<usize> {
    clap::builder::RangedU64ValueParser::<usize>::new().range(1..=100_000)
}

/// Checks `--store` before any process is started: `embedded` or a PostgreSQL URL.
pub(crate) fn check_store_choice(choice: &str) -> anyhow::Result<()> {
    match choice == "embedded" || is_postgres(choice) {
        true => Ok(()),
        false => bail!("--store must be `embedded` or a PostgreSQL URL, not {choice:?}"),
    }
}

fn is_postgres(choice: &str) -> bool {
    choice.starts_with("postgres") || choice.contains("host=")
}

/// Opens an endpoint's store: `embedded`, or a PostgreSQL URL (`postgres://…` or
/// `host=… user=…`). Inbox retention keeps every id (the audit reads the whole inbox).
pub(crate) fn open_store(
    choice: &str,
    layout: &Layout,
    role: Role,
    schema_prefix: &str,
) -> anyhow::Result<Box<dyn Store>> {
    if choice == "embedded" {
        let options = EmbeddedOptions {
            retention: RetentionPolicy::KeepAll,
            ..EmbeddedOptions::default()
        };
        let dir = layout.store_dir(role);
        let store = EmbeddedStore::open(&dir, options).with_context(|| {
            format!("opening the store of {} in {}", role.name(), dir.display())
        })?;
        return Ok(Box::new(store));
    }
    if is_postgres(choice) {
        let options = PgOptions {
            retention: RetentionPolicy::KeepAll,
            ..PgOptions::default()
        };
        let schema = schema_of(schema_prefix, role);
        let store = PgStore::connect(choice, &schema, options).with_context(|| {
            format!("connecting the store of {} (schema {schema})", role.name())
        })?;
        return Ok(Box::new(store));
    }
    bail!("--store must be `embedded` or a PostgreSQL URL, not {choice:?}")
}
