//! `exactly endpoint …`: consistent endpoints. `bank` runs the two-endpoint bank with
//! duplicated deliveries and real SIGKILLs of the endpoint processes, then audits it;
//! `serve` (hidden) is one endpoint process, spawned by `bank`.

mod audit;
mod bank;
mod orphans;
mod serve;

use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, RetentionPolicy, Store};
use exactly_postgres::{PgOptions, PgStore};
use std::path::{Path, PathBuf};

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

/// The two endpoints of the bank.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    /// Debits transfers, sends credits.
    A,
    /// Applies credits.
    B,
}

impl Role {
    pub(crate) fn parse(name: &str) -> anyhow::Result<Self> {
        match name {
            "accounts-a" => Ok(Self::A),
            "accounts-b" => Ok(Self::B),
            other => bail!("unknown endpoint {other:?}: accounts-a or accounts-b"),
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::A => "accounts-a",
            Self::B => "accounts-b",
        }
    }

    fn letter(self) -> &'static str {
        match self {
            Self::A => "a",
            Self::B => "b",
        }
    }
}

/// Where everything of one bank run lives under its directory.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    root: PathBuf,
}

impl Layout {
    pub(crate) fn new(root: &Path) -> Self {
        Self {
            root: root.to_path_buf(),
        }
    }
    /// The bank's directory.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }
    /// The log the bank writes transfers to.
    pub(crate) fn feed_log(&self) -> PathBuf {
        self.root.join("feed")
    }
    /// An endpoint's embedded store.
    pub(crate) fn store_dir(&self, role: Role) -> PathBuf {
        self.root.join(role.letter()).join("store")
    }
    /// An endpoint's own log (its outgoing topics).
    pub(crate) fn log_dir(&self, role: Role) -> PathBuf {
        self.root.join(role.letter()).join("log")
    }
    /// Created by `bank` when an endpoint may exit once it has caught up.
    pub(crate) fn stop_file(&self, role: Role) -> PathBuf {
        self.root.join(format!("stop-{}", role.letter()))
    }
    /// An endpoint's standard error, appended across restarts.
    pub(crate) fn stderr_file(&self, role: Role) -> PathBuf {
        self.root.join(format!("{}.stderr", role.name()))
    }
    /// The input (log directory, topic) of an endpoint.
    pub(crate) fn input(&self, role: Role) -> (PathBuf, &'static str) {
        match role {
            Role::A => (self.feed_log(), exactly_endpoint::testkit::TRANSFERS_TOPIC),
            Role::B => (self.log_dir(Role::A), exactly_endpoint::bank::CREDITS_TOPIC),
        }
    }
}

/// The PostgreSQL schema of an endpoint.
pub(crate) fn schema_of(prefix: &str, role: Role) -> String {
    format!("{prefix}_{}", role.letter())
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
