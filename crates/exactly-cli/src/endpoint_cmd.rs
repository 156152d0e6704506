//! `exactly endpoint …`: consistent endpoints. `bank` runs the two-endpoint bank with
//! duplicated deliveries and real SIGKILLs of the endpoint processes, then audits it;
//! `serve` (hidden) is one endpoint process, spawned by `bank`.

mod bank;
mod serve;

use clap::{Args, Subcommand};
use exactly_postgres::StoreChoice;
use exactly_testkit::bank_serve::Transport;

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

/// `--store`: `embedded` or a PostgreSQL URL.
pub(crate) fn store_choice(text: &str) -> anyhow::Result<StoreChoice> {
    StoreChoice::parse(text).map_err(|error| anyhow::anyhow!("--store {error}"))
}

/// `--transport`: `embedded` or a `nats://` address.
pub(crate) fn transport(text: &str) -> anyhow::Result<Transport> {
    Transport::parse(text).map_err(|error| anyhow::anyhow!("--transport {error}"))
}
