//! `exactly endpoint bank`: feeds transfers (with duplicates and bad messages) to
//! `accounts-a`, runs both endpoints as child processes, SIGKILLs and restarts them at
//! random moments, lets them drain, then audits: every transfer applied exactly once on
//! both sides, money conserved, no credit without its debit, bad messages dead-lettered.
//!
//! The endpoint processes die with `bank`, even when it is SIGKILLed: each reads its
//! standard input, a pipe whose only writer is `bank`, and exits when it closes. The
//! PostgreSQL schemas of a killed run are dropped by the next run (see [`super::orphans`]).

use super::audit::{audit, Audit};
use super::orphans::{drop_orphans, lock_run, SCHEMA_PREFIX_START};
use super::{schema_of, Layout, Role};

/// An endpoint that exits by itself this many times is broken, not unlucky: stop.
const CHILD_FAILURES_MAX: usize = 5;
use anyhow::{bail, Context};
use clap::Args;
use exactly_core::Timestamp;
use exactly_endpoint::testkit::{bank_workload, record_value, Workload, TRANSFERS_TOPIC};
use exactly_log::{Log, LogConfig, Record};
use exactly_testkit::Supervised;
use indicatif::{ProgressBar, ProgressStyle};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::PathBuf;
use std::process::{Command, Stdio};
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

/// What the process management did.
#[derive(Debug, Default)]
pub(crate) struct Runs {
    pub(crate) kills: u32,
    pub(crate) restarts: u32,
    pub(crate) child_failures: Vec<String>,
    pub(crate) wall: Duration,
}

/// The two endpoint processes, each supervised: killed and restarted on demand, dying
/// with `bank` (their standard input is a pipe only `bank` holds) and when dropped.
struct Children<'a> {
    layout: &'a Layout,
    a: Supervised,
    b: Supervised,
}

impl<'a> Children<'a> {
    fn spawn_both(
        layout: &'a Layout,
        args: &BankArgs,
        schema_prefix: &str,
    ) -> anyhow::Result<Self> {
        let exe = crate::exactly_exe()?;
        let spawn = |role: Role| {
            let make = serve_command(layout, args, schema_prefix, role, exe.clone());
            Supervised::spawn(make).with_context(|| format!("starting {}", role.name()))
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
    fn kill_and_restart(&mut self, role: Role, runs: &mut Runs) -> anyhow::Result<()> {
        match self.child(role).kill()? {
            None => runs.kills += 1,
            Some(status) => {
                let failure = format!("{} exited by itself: {status}", role.name());
                runs.child_failures.push(failure);
                self.give_up_if_broken(role, runs)?;
            }
        }
        self.restart(role, runs)
    }

    fn restart(&mut self, role: Role, runs: &mut Runs) -> anyhow::Result<()> {
        self.child(role)
            .restart()
            .with_context(|| format!("restarting {}", role.name()))?;
        runs.restarts += 1;
        Ok(())
    }

    /// Fails with the endpoint's last error output once it failed too often.
    fn give_up_if_broken(&self, role: Role, runs: &Runs) -> anyhow::Result<()> {
        if runs.child_failures.len() < CHILD_FAILURES_MAX {
            return Ok(());
        }
        let path = self.layout.stderr_file(role);
        let last = match std::fs::read_to_string(&path) {
            Ok(stderr) => stderr.lines().last().unwrap_or("(no output)").to_string(),
            Err(error) => format!(
                "(its error output {} is unreadable: {error})",
                path.display()
            ),
        };
        bail!(
            "{} keeps failing ({} failures); its last error: {last}",
            role.name(),
            runs.child_failures.len()
        )
    }

    /// Creates the stop file of `role` and waits for it to exit cleanly.
    fn drain(&mut self, role: Role, deadline: Instant, runs: &mut Runs) -> anyhow::Result<()> {
        std::fs::write(self.layout.stop_file(role), b"stop")?;
        loop {
            if let Some(status) = self.child(role).try_wait()? {
                if status.success() {
                    return Ok(());
                }
                let failure = format!("{} failed while draining: {status}", role.name());
                runs.child_failures.push(failure);
                self.give_up_if_broken(role, runs)?;
                self.restart(role, runs)?;
            }
            if Instant::now() > deadline {
                // The error below is what matters; the process is killed on drop anyway.
                let _ = self.child(role).kill();
                bail!("{} did not drain before the timeout", role.name());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// Builds `exactly endpoint serve` for `role`, its error output appended to its file.
fn serve_command(
    layout: &Layout,
    args: &BankArgs,
    schema_prefix: &str,
    role: Role,
    exe: PathBuf,
) -> impl FnMut() -> std::io::Result<Command> + 'static {
    let stderr_path = layout.stderr_file(role);
    let root = layout.root().to_path_buf();
    let store = args.store.clone();
    let schema_prefix = schema_prefix.to_string();
    let (accounts, batch) = (args.accounts.to_string(), args.batch.to_string());
    move || {
        let stderr = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&stderr_path)?;
        let mut command = Command::new(&exe);
        command
            .args([
                "endpoint",
                "serve",
                "--role",
                role.name(),
                "--store",
                &store,
            ])
            .args(["--schema-prefix", &schema_prefix])
            .arg("--dir")
            .arg(&root)
            .args(["--accounts", &accounts, "--batch", &batch])
            // Exits when its standard input (a pipe only `bank` writes to) closes.
            .arg("--exit-with-parent")
            .stdout(Stdio::null())
            .stderr(stderr);
        Ok(command)
    }
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
    let runs = Runs {
        wall: started.elapsed(),
        ..runs
    };
    print_report(&args, seed, &workload, &runs, &report);
    if !report.errors.is_empty() || !runs.child_failures.is_empty() {
        bail!("the bank invariant does not hold (seed {seed})");
    }
    Ok(())
}

fn drive(
    layout: &Layout,
    args: &BankArgs,
    workload: &Workload,
    seed: u64,
    schema_prefix: &str,
) -> anyhow::Result<Runs> {
    let feed = Log::open(layout.feed_log(), LogConfig::default())?;
    feed.create_topic(TRANSFERS_TOPIC, 1)?;
    let deadline = Instant::now() + Duration::from_secs(args.timeout_s);
    let mut rng = SmallRng::seed_from_u64(seed);
    let mut runs = Runs::default();
    let mut children = Children::spawn_both(layout, args, schema_prefix)?;
    let chunk_count = u64::from(args.kills.unwrap_or(20).max(1));
    let chunk_len = (workload.deliveries.len() as u64)
        .div_ceil(chunk_count)
        .max(1) as usize;
    let mut chunks = workload.deliveries.chunks(chunk_len);
    let bar = progress(workload.deliveries.len() as u64);
    let mut fed = 0u64;
    loop {
        let more = match chunks.next() {
            Some(chunk) => {
                append(&feed, chunk)?;
                fed += chunk.len() as u64;
                true
            }
            None => false,
        };
        let kills_wanted = args.kill_every > 0 && args.kills.is_some_and(|k| runs.kills < k);
        if (!more && !kills_wanted) || Instant::now() > deadline {
            break;
        }
        let pause = match args.kill_every {
            0 => 10,
            ms => rng.random_range(ms / 2..=ms + ms / 2),
        };
        std::thread::sleep(Duration::from_millis(pause));
        if args.kill_every > 0 {
            let victims: &[Role] = match rng.random_range(0..3) {
                0 => &[Role::A],
                1 => &[Role::B],
                _ => &[Role::A, Role::B],
            };
            for &role in victims {
                children.kill_and_restart(role, &mut runs)?;
            }
        }
        bar.set_position(fed);
        bar.set_message(format!("kills {}", runs.kills));
    }
    bar.set_message("draining".to_string());
    children.drain(Role::A, deadline, &mut runs)?;
    children.drain(Role::B, deadline, &mut runs)?;
    bar.finish_and_clear();
    Ok(runs)
}

fn append(feed: &Log, chunk: &[exactly_endpoint::Delivery]) -> anyhow::Result<()> {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .context("the system clock is before 1970")?;
    let now = Timestamp(since_epoch.as_millis() as i64);
    for piece in chunk.chunks(1000) {
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

fn print_report(args: &BankArgs, seed: u64, workload: &Workload, runs: &Runs, report: &Audit) {
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
