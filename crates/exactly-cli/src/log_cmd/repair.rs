//! `exactly log repair`: the operator's explicit cut of damaged data at the end of a
//! partition — also data the log has evidence was durable, which opening refuses to cut.
//! Prints every cut (file, byte range, offsets) as a JSON line, checks that no damage
//! remains (damage in a sealed segment is not cut: exit non-zero naming it), then opens the
//! log once so recovery reconciles transactions whose markers were cut.

use anyhow::{bail, Context};
use clap::Args;
use exactly_log::existing::open_existing;
use exactly_log::repair::repair_dir;
use exactly_log::verify::verify_log;
use exactly_log::{LogConfig, ReadOnlyStorage};
use serde_json::json;
use std::path::PathBuf;

/// Arguments of `exactly log repair`.
#[derive(Args, Debug)]
pub struct RepairArgs {
    /// Log directory.
    #[arg(long)]
    dir: PathBuf,
    /// Only this topic.
    #[arg(long)]
    topic: Option<String>,
    /// Only this partition (of `--topic`).
    #[arg(long, requires = "topic")]
    partition: Option<u32>,
}

/// Runs `exactly log repair`.
pub fn run(args: RepairArgs) -> anyhow::Result<()> {
    if !args.dir.is_dir() {
        anyhow::bail!("log directory {} does not exist", args.dir.display());
    }
    let config = LogConfig::default();
    let actions = repair_dir(&args.dir, &config, args.topic.as_deref(), args.partition)
        .with_context(|| format!("repairing log {}", args.dir.display()))?;
    for action in &actions {
        println!("{}", action.json());
        eprintln!("{action}");
    }
    // Repair cuts only the end of active segments; anything else must not pass as repaired.
    let report = verify_log(&ReadOnlyStorage, &args.dir, &config);
    if let Some(damage) = report.findings.iter().find(|f| f.is_damage()) {
        bail!(
            "damage remains that repair does not cut (it cuts only the end of each \
             partition's active segment): {damage}"
        );
    }
    if actions.is_empty() {
        println!("{}", json!({"repaired": 0, "message": "nothing to repair"}));
        eprintln!("nothing to repair in {}", args.dir.display());
        return Ok(());
    }
    // Recovery on open writes the markers of transactions whose markers were cut.
    let log = open_existing(&args.dir, config)?;
    log.close()?;
    Ok(())
}
