//! `exactly endpoint bank`: feeds transfers (with duplicates and bad messages) to
//! `accounts-a`, runs both endpoints as child processes, SIGKILLs and restarts them at
//! random moments, lets them drain, then audits: every transfer applied exactly once on
//! both sides, money conserved, no credit without its debit, bad messages dead-lettered.
//! All that is `exactly_testkit::bank_run`; this is the arguments and the printing.
//!
//! The PostgreSQL schemas of a killed run are dropped by the next run.

use anyhow::bail;
use clap::Args;
use exactly_endpoint::bank_layout::Layout;
use exactly_endpoint::testkit::bank_workload;
use exactly_testkit::bank::{BankProgress, FeedPlan};
use exactly_testkit::bank_report::BankReport;
use exactly_testkit::bank_run::{check_schema_prefix, default_bad_messages, default_schema_prefix};
use exactly_testkit::bank_run::{run_bank, BankEvent, BankRunConfig};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `exactly endpoint bank`.
#[derive(Args, Debug)]
pub struct BankArgs {
    /// `embedded`, or a PostgreSQL URL such as `postgres://postgres@127.0.0.1:5432/test`.
    #[arg(long, default_value = "embedded")]
    store: String,
    /// `embedded` (each endpoint's own log), or a NATS JetStream server
    /// `nats://host:port[,…]` that carries the transfers, credits and dead letters (topics
    /// prefixed with the schema prefix, deleted at the end).
    #[arg(long, default_value = "embedded")]
    transport: String,
    /// Distinct transfers (1..=10000000).
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    transfers: u64,
    /// Probability that a transfer is delivered a second time, later (0..=1).
    #[arg(long, default_value_t = 0.1, value_parser = probability)]
    dup: f64,
    /// Mean time between SIGKILLs of an endpoint process, in ms (0: no kills; at most
    /// 3600000).
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u64).range(0..=3_600_000))]
    kill_every: u64,
    /// Go on killing until this many kills landed (default: stop when all is fed;
    /// 1..=100000).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    kills: Option<u32>,
    /// Bad messages mixed in (unparseable, unknown account, no envelope; at most
    /// --transfers).
    #[arg(long)]
    bad: Option<u64>,
    /// Accounts per endpoint (1..=1000000).
    #[arg(long, default_value_t = 100, value_parser = super::accounts_range())]
    accounts: u32,
    /// Messages per store transaction (1..=100000).
    #[arg(long, default_value_t = 64, value_parser = super::batch_range())]
    batch: usize,
    /// Prefix of the PostgreSQL schemas (`<prefix>_a`, `<prefix>_b`); must start with
    /// `exactly_bank_`, lower-case letters, digits and `_`, at most 40 characters
    /// (default: `exactly_bank_<pid>_<seed>`). Schemas a killed run left behind are
    /// dropped by the next run on the same database.
    #[arg(long, value_parser = schema_prefix)]
    schema_prefix: Option<String>,
    /// Seed of the workload and the kill timing (default: from the clock; printed).
    #[arg(long)]
    seed: Option<u64>,
    /// Keep everything in this directory instead of a temporary one.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Print the report as one JSON object.
    #[arg(long)]
    json: bool,
    /// Give up after this many seconds (1..=86400).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    timeout_s: u64,
}

/// `--dup`: a probability.
fn probability(text: &str) -> Result<f64, String> {
    let value: f64 = text.parse().map_err(|e| format!("{e}"))?;
    match (0.0..=1.0).contains(&value) {
        true => Ok(value),
        false => Err(format!("{value} is not within 0..=1")),
    }
}

/// `--schema-prefix`: a safe, recognisable schema name prefix.
fn schema_prefix(text: &str) -> Result<String, String> {
    check_schema_prefix(text).map_err(|error| error.to_string())?;
    Ok(text.to_string())
}

/// Runs the bank and prints the audit; fails if the invariant does not hold.
pub fn run(args: BankArgs) -> anyhow::Result<()> {
    let store = super::store_choice(&args.store)?;
    let transport = super::transport(&args.transport)?;
    if let Some(bad) = args.bad.filter(|bad| *bad > args.transfers) {
        bail!("--bad {bad} exceeds --transfers {}", args.transfers);
    }
    let seed = args.seed.unwrap_or_else(|| rand::rng().random());
    let temp = tempfile::tempdir()?;
    let root = args
        .dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    std::fs::create_dir_all(&root)?;
    let bad = args.bad.unwrap_or(default_bad_messages(args.transfers));
    let schema_prefix = match args.schema_prefix.clone() {
        Some(prefix) => prefix,
        None => default_schema_prefix(seed),
    };
    let workload = bank_workload(seed, args.transfers, args.accounts, args.dup, bad);
    let config = BankRunConfig {
        exe: crate::exactly_exe()?,
        layout: Layout::new(&root.canonicalize()?),
        store,
        transport,
        schema_prefix,
        accounts: args.accounts,
        batch: args.batch,
        plan: FeedPlan {
            kill_every_ms: args.kill_every,
            kills: args.kills,
            timeout: Duration::from_secs(args.timeout_s),
        },
        seed,
    };
    let (transfers, deliveries) = (workload.transfers.len(), workload.deliveries.len());
    let bar = progress(deliveries as u64);
    let outcome = run_bank(&config, workload, &mut |event| match event {
        BankEvent::Progress(BankProgress::Fed { fed, kills }) => {
            bar.set_position(fed);
            bar.set_message(format!("kills {kills}"));
        }
        BankEvent::Progress(BankProgress::Draining) => bar.set_message("draining".to_string()),
        BankEvent::OrphansDropped(prefix) => bar.suspend(|| {
            eprintln!("dropped the schemas {prefix}_a, {prefix}_b left by a killed run");
        }),
        BankEvent::Warning(warning) => bar.suspend(|| eprintln!("warning: {warning}")),
    });
    bar.finish_and_clear();
    let outcome = outcome?;
    let report = BankReport {
        seed,
        store: &config.store,
        transport: &config.transport,
        transfers,
        deliveries,
        outcome: &outcome,
    };
    match args.json {
        true => println!("{}", report.to_json()),
        false => println!("{}", report.to_text()),
    }
    if !outcome.ok() {
        bail!("the bank invariant does not hold (seed {seed})");
    }
    Ok(())
}

fn progress(total: u64) -> ProgressBar {
    let bar = ProgressBar::new(total);
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} fed {pos}/{len} deliveries, {msg} {elapsed}")
    {
        bar.set_style(style);
    }
    bar.enable_steady_tick(Duration::from_millis(100));
    bar
}
