//! `exactly cluster status`: every job of a cluster in one line each — state, live
//! workers, tasks owned, takeovers so far (the epochs above 1), lag and min clock — and
//! the live workers across jobs. `exactly job status NAME` shows one job's tasks.

use crate::log_cmd::nats_connect;
use crate::worker_cmd::ClusterArgs;
use clap::{Args, Subcommand};
use exactly_worker::status::job_status;
use exactly_worker::{BuiltInJobs, Catalog};
use serde_json::json;
use std::collections::BTreeSet;

/// Arguments of `exactly cluster`.
#[derive(Args, Debug)]
pub struct ClusterCmdArgs {
    #[command(subcommand)]
    command: ClusterCommand,
}

#[derive(Subcommand, Debug)]
enum ClusterCommand {
    /// Every job in one line, and the live workers.
    Status(StatusArgs),
}

#[derive(Args, Debug)]
struct StatusArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
    /// One JSON object per job, then one for the workers.
    #[arg(long)]
    json: bool,
}

/// Runs `exactly cluster …`.
pub fn run(args: ClusterCmdArgs) -> anyhow::Result<()> {
    match args.command {
        ClusterCommand::Status(args) => status(&args),
    }
}

fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let (url, schema) = (&args.cluster.cluster, &args.cluster.schema);
    let log = nats_connect(&args.cluster.log).ok();
    let mut workers = BTreeSet::new();
    for entry in Catalog::connect(url, schema)?.list()? {
        let view = job_status(url, schema, &entry.spec.name, &BuiltInJobs, log.as_ref())?;
        workers.extend(view.members.iter().map(|(worker, _)| *worker));
        let owned = view.tasks.iter().filter(|t| t.live).count();
        let takeovers: u64 = view.tasks.iter().map(|t| t.epoch.saturating_sub(1)).sum();
        let lag = view.lag_records.map_or("?".to_string(), |l| l.to_string());
        if args.json {
            println!(
                "{}",
                json!({"job": view.job, "kind": view.kind, "state": view.state,
                       "workers": view.members.len(), "tasks": view.tasks.len(),
                       "tasks_owned": owned, "takeovers": takeovers,
                       "lag_records": view.lag_records, "min_clock_ms": view.min_clock_ms})
            );
        } else {
            println!(
                "job {} ({}, {:?}): {} worker(s), {owned}/{} tasks owned, {takeovers} takeover(s), lag {lag}, min clock {}",
                view.job,
                view.kind,
                view.state,
                view.members.len(),
                view.tasks.len(),
                view.min_clock_ms.map_or("-".into(), |c| c.to_string()),
            );
        }
    }
    let listed: Vec<String> = workers.iter().map(|w| format!("{w:016x}")).collect();
    if args.json {
        println!("{}", json!({"workers": listed}));
    } else {
        println!("{} live worker(s): {}", listed.len(), listed.join(" "));
    }
    Ok(())
}
