//! `exactly endpoint bank`: feeds transfers (with duplicates and bad messages) to
//! `accounts-a`, runs both endpoints as child processes, SIGKILLs and restarts them at
//! random moments, lets them drain (all that is `exactly_testkit::bank`), then audits:
//! every transfer applied exactly once on both sides, money conserved, no credit without
//! its debit, bad messages dead-lettered.
//!
//! The PostgreSQL schemas of a killed run are dropped by the next run (see
//! [`super::orphans`]).

use super::audit::{audit, Audit};
use super::orphans::{drop_orphans, lock_run, SCHEMA_PREFIX_START};
use super::{schema_of, Layout, Role};

use anyhow::bail;
use clap::Args;
use exactly_endpoint::testkit::{bank_workload, Workload};
use exactly_testkit::bank::{self, BankProgress, BankRuns, FeedPlan, ServeOptions};
use indicatif::{ProgressBar, ProgressStyle};
use rand::Rng;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Arguments of `exactly endpoint bank`.
#[derive(Args, Debug)]
pub struct BankArgs {
    /// `embedded`, or a PostgreSQL URL such as `postgres://postgres@127.0.0.1:5432/test`.
    #[arg(long, default_value = "embedded")]
    store: String,
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
    let plain = text
        .bytes()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'_');
    if !text.starts_with(SCHEMA_PREFIX_START) || !plain || text.len() > 40 {
        return Err(format!(
            "{text:?}: want {SCHEMA_PREFIX_START}…, lower-case letters, digits and _, at most 40 characters"
        ));
    }
    Ok(text.to_string())
}

/// Runs the bank and prints the audit; fails if the invariant does not hold.
pub fn run(args: BankArgs) -> anyhow::Result<()> {
    super::check_store_choice(&args.store)?;
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
    let layout = Layout::new(&root.canonicalize()?);
    let bad = args.bad.unwrap_or((args.transfers / 500).max(3));
    let workload = bank_workload(seed, args.transfers, args.accounts, args.dup, bad);
    let schema_prefix = args.schema_prefix.clone().unwrap_or_else(|| {
        format!(
            "{SCHEMA_PREFIX_START}{}_{}",
            std::process::id(),
            seed % 1_000_000
        )
    });
    // Held until the run ends; the server releases it if this process is killed.
    let mut run_lock = match args.store.as_str() {
        "embedded" => None,
        url => {
            let lock = lock_run(url, &schema_prefix)?;
            for prefix in drop_orphans(url)? {
                eprintln!("dropped the schemas {prefix}_a, {prefix}_b left by a killed run");
            }
            Some(lock)
        }
    };
    // A prefix given again after a killed run: start from empty schemas.
    cleanup(&args.store, &schema_prefix);
    if let Some(lock) = run_lock.as_mut() {
        lock.create_schemas(&schema_prefix)?;
    }
    let started = Instant::now();
    let outcome = drive(&layout, &args, &workload, seed, &schema_prefix).and_then(|runs| {
        let report = audit(&layout, &args.store, &schema_prefix, &workload)?;
        Ok((runs, report))
    });
    // The schemas go whatever happened: a failed run must not leave tables behind.
    cleanup(&args.store, &schema_prefix);
    let (runs, report) = outcome?;
    let runs = BankRuns {
        wall: started.elapsed(),
        ..runs
    };
    print_report(&args, seed, &workload, &runs, &report);
    if !report.errors.is_empty() || !runs.child_failures.is_empty() {
        bail!("the bank invariant does not hold (seed {seed})");
    }
    Ok(())
}

/// Drives the endpoint processes (see `exactly_testkit::bank`) with a progress bar.
fn drive(
    layout: &Layout,
    args: &BankArgs,
    workload: &Workload,
    seed: u64,
    schema_prefix: &str,
) -> anyhow::Result<BankRuns> {
    let serve = ServeOptions {
        exe: crate::exactly_exe()?,
        store: args.store.clone(),
        schema_prefix: schema_prefix.to_string(),
        accounts: args.accounts,
        batch: args.batch,
    };
    let plan = FeedPlan {
        kill_every_ms: args.kill_every,
        kills: args.kills,
        timeout: Duration::from_secs(args.timeout_s),
    };
    let bar = progress(workload.deliveries.len() as u64);
    let runs = bank::drive(layout, &serve, &plan, workload, seed, |step| match step {
        BankProgress::Fed { fed, kills } => {
            bar.set_position(fed);
            bar.set_message(format!("kills {kills}"));
        }
        BankProgress::Draining => bar.set_message("draining".to_string()),
    });
    bar.finish_and_clear();
    Ok(runs?)
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

fn cleanup(store: &str, schema_prefix: &str) {
    if store == "embedded" {
        return;
    }
    for role in [Role::A, Role::B] {
        if let Err(error) = exactly_postgres::drop_schema(store, &schema_of(schema_prefix, role)) {
            eprintln!("warning: could not drop schema of {}: {error}", role.name());
        }
    }
}

fn print_report(args: &BankArgs, seed: u64, workload: &Workload, runs: &BankRuns, report: &Audit) {
    let ok = report.errors.is_empty() && runs.child_failures.is_empty();
    if args.json {
        let value = serde_json::json!({
            "ok": ok, "seed": seed, "store": if args.store == "embedded" { "embedded" } else { "postgres" },
            "transfers": workload.transfers.len(), "deliveries": workload.deliveries.len(),
            "kills": runs.kills, "restarts": runs.restarts, "wall_s": runs.wall.as_secs_f64(),
            "debited_once": report.debited, "credited_once": report.credited,
            "credits_without_debit": report.credits_without_debit,
            "money_before": report.money_before, "money_after": report.money_after,
            "dead_letters": report.dead_letters, "dead_letters_expected": report.dead_letters_expected,
            "duplicates_dropped_a": report.duplicates_dropped_a, "copies_dropped_b": report.copies_dropped_b,
            "child_failures": runs.child_failures, "errors": report.errors,
        });
        println!("{value}");
        return;
    }
    let n = workload.transfers.len();
    let rows = [
        ("seed", seed.to_string()),
        ("store", args.store.clone()),
        ("transfers (distinct, valid)", n.to_string()),
        (
            "deliveries to accounts-a (with duplicates and bad)",
            workload.deliveries.len().to_string(),
        ),
        ("SIGKILLs of endpoint processes", runs.kills.to_string()),
        ("restarts", runs.restarts.to_string()),
        (
            "debited exactly once at accounts-a",
            format!("{}/{n}", report.debited),
        ),
        (
            "credited exactly once at accounts-b",
            format!("{}/{n}", report.credited),
        ),
        (
            "credits without their debit",
            report.credits_without_debit.to_string(),
        ),
        (
            "money before → after",
            format!("{} → {}", report.money_before, report.money_after),
        ),
        (
            "dead letters (distinct / expected)",
            format!("{} / {}", report.dead_letters, report.dead_letters_expected),
        ),
        (
            "duplicate deliveries dropped by accounts-a's inbox",
            report.duplicates_dropped_a.to_string(),
        ),
        (
            "republished credits dropped by accounts-b's inbox",
            report.copies_dropped_b.to_string(),
        ),
        ("wall time", format!("{:.1} s", runs.wall.as_secs_f64())),
    ];
    for (name, value) in rows {
        println!("{name:<52} {value}");
    }
    for failure in runs.child_failures.iter().chain(&report.errors) {
        println!("VIOLATION: {failure}");
    }
    println!(
        "{}",
        if ok {
            "exactly once: OK"
        } else {
            "exactly once: FAILED"
        }
    );
}
