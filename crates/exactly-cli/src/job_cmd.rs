//! `exactly job submit|list|status|cancel`: the distributed jobs of a cluster.

use crate::log_cmd::nats_connect;
use crate::worker_cmd::ClusterArgs;
use anyhow::Context;
use clap::{Args, Subcommand};
use exactly_worker::spec::{CHECKPOINT_INTERVAL_MS_DEFAULT, KEY_GROUPS_DEFAULT};
use exactly_worker::status::{job_status, JobStatusView};
use exactly_worker::{BuiltInJobs, Catalog, JobKinds, JobSpec, Submitted};
use std::collections::BTreeMap;

/// Arguments of `exactly job`.
#[derive(Args, Debug)]
pub struct JobArgs {
    #[command(subcommand)]
    command: JobCommand,
}

#[derive(Subcommand, Debug)]
enum JobCommand {
    /// Add a job to the cluster's catalog; workers start running it within a second.
    Submit(SubmitArgs),
    /// The cluster's jobs.
    List(ListArgs),
    /// A job's workers, tasks, owners, epochs, leases, checkpoints and lag.
    Status(StatusArgs),
    /// Stop a job: workers take a final checkpoint of each task and leave it.
    Cancel(StatusArgs),
}

#[derive(Args, Debug)]
struct SubmitArgs {
    /// The job's name (`[A-Za-z0-9-]`, at most 60 characters).
    name: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Which job: `balances-by-branch` or `balances`.
    #[arg(long)]
    kind: String,
    /// The input topic (must exist).
    #[arg(long)]
    input: String,
    /// The output topic (created with `--key-groups` partitions).
    #[arg(long)]
    output: String,
    /// Key groups: tasks per keyed stage and partitions of the topics between stages.
    /// Fixed for the job's life.
    #[arg(long, default_value_t = KEY_GROUPS_DEFAULT)]
    key_groups: u32,
    /// Time between a task's checkpoints.
    #[arg(long, default_value_t = CHECKPOINT_INTERVAL_MS_DEFAULT)]
    checkpoint_interval_ms: u64,
    /// A setting of the kind, `NAME=VALUE` (e.g. `branches=16`); repeatable.
    #[arg(long = "param", value_name = "NAME=VALUE")]
    params: Vec<String>,
}

#[derive(Args, Debug)]
struct ListArgs {
    #[command(flatten)]
    cluster: ClusterArgs,
}

#[derive(Args, Debug)]
struct StatusArgs {
    /// The job.
    name: String,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// One JSON object instead of the table.
    #[arg(long)]
    json: bool,
}

/// Runs `exactly job …`.
pub fn run(args: JobArgs) -> anyhow::Result<()> {
    match args.command {
        JobCommand::Submit(args) => submit(args),
        JobCommand::List(args) => list(&args),
        JobCommand::Status(args) => status(&args),
        JobCommand::Cancel(args) => {
            Catalog::connect(&args.cluster.cluster, &args.cluster.schema)?.cancel(&args.name)?;
            println!("job {} cancelled", args.name);
            Ok(())
        }
    }
}

fn submit(args: SubmitArgs) -> anyhow::Result<()> {
    let log = nats_connect(&args.cluster.log)?;
    let input = (log.open_topic(&args.input))
        .with_context(|| format!("opening the input topic {}", args.input))?;
    let mut params = BTreeMap::new();
    for param in &args.params {
        let (name, value) = (param.split_once('='))
            .with_context(|| format!("--param {param:?}: expected NAME=VALUE"))?;
        params.insert(name.to_string(), value.to_string());
    }
    let spec = JobSpec {
        name: args.name,
        kind: args.kind,
        input: args.input,
        output: args.output,
        source_partitions: input.partitions(),
        key_groups: args.key_groups,
        checkpoint_interval_ms: args.checkpoint_interval_ms,
        params,
    };
    spec.validate()?;
    BuiltInJobs.build(&spec)?; // refuse a kind or setting no worker can run
    let mut catalog = Catalog::connect(&args.cluster.cluster, &args.cluster.schema)?;
    match catalog.submit(&spec)? {
        Submitted::Created => println!("job {} submitted", spec.name),
        Submitted::AlreadyThere => println!("job {} was already submitted", spec.name),
    }
    Ok(())
}

fn list(args: &ListArgs) -> anyhow::Result<()> {
    let mut catalog = Catalog::connect(&args.cluster.cluster, &args.cluster.schema)?;
    for entry in catalog.list()? {
        println!("{}", serde_json::to_string(&entry)?);
    }
    Ok(())
}

fn status(args: &StatusArgs) -> anyhow::Result<()> {
    let log = nats_connect(&args.cluster.log).ok();
    let view = job_status(
        &args.cluster.cluster,
        &args.cluster.schema,
        &args.name,
        &BuiltInJobs,
        log.as_ref(),
    )?;
    if args.json {
        println!("{}", serde_json::to_string(&view)?);
    } else {
        print_status(&view);
    }
    Ok(())
}

fn print_status(view: &JobStatusView) {
    let show = |value: Option<u64>| value.map_or("-".to_string(), |v| format!("{v:016x}"));
    println!(
        "job {} ({}, {:?}): coordinator {} epoch {}, assignment v{}, {} live worker(s), lag {}, min clock {}",
        view.job,
        view.kind,
        view.state,
        show(view.coordinator),
        view.coordinator_epoch,
        view.assignment_version,
        view.members.len(),
        view.lag_records.map_or("?".into(), |l| l.to_string()),
        view.min_clock_ms.map_or("-".into(), |c| c.to_string()),
    );
    println!(
        "{:>4}  {:<28} {:<16} {:<16} {:>5} {:>9} {:>10} {:>8}",
        "task", "name", "assigned", "owner", "epoch", "lease ms", "checkpoint", "lag"
    );
    for task in &view.tasks {
        println!(
            "{:>4}  {:<28} {:<16} {:<16} {:>5} {:>9} {:>10} {:>8}",
            task.task,
            task.name,
            show(task.assigned),
            show(task.owner),
            task.epoch,
            if task.live {
                task.lease_remaining_ms.to_string()
            } else {
                "expired".into()
            },
            task.checkpoint
                .as_ref()
                .map_or("-".into(), |c| c.id.to_string()),
            task.lag_records.map_or("?".into(), |l| l.to_string()),
        );
    }
}
