//! The `exactly` command-line tool. Every subcommand lives in its own module; this file only
//! parses arguments and dispatches.

mod bench_cmd;
mod checkpoints_cmd;
mod cluster_cmd;
mod completions_cmd;
mod demo_cmd;
mod endpoint_cmd;
mod gen_cmd;
mod job_cmd;
mod log_cmd;
mod man_cmd;
mod metrics_flag;
mod nats_cmd;
mod pipe_cmd;
mod run_cmd;
mod run_pipeline_cmd;
mod serve_cmd;
mod sim_cmd;
mod worker_cmd;

use clap::{CommandFactory, Parser, Subcommand};

/// exactly: exactly-once message processing — durable logs, idempotent producers, measured
/// reliability.
#[derive(Parser, Debug)]
#[command(name = "exactly", version = env!("EXACTLY_VERSION"), about)]
struct Cli {
    /// Read the command's flags from this TOML file (a table per command, e.g.
    /// `[pipe.recv]`); flags on the command line override it.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Serve Prometheus metrics on this address while the command runs (`curl
    /// ADDR/metrics`); for the long-running commands (`run`, `endpoint serve`, `pipe`).
    #[arg(long, global = true, value_name = "ADDR")]
    metrics: Option<std::net::SocketAddr>,
    /// How the libraries' logs (`RUST_LOG`) are written to stderr: `text` or `json` (one
    /// object per line).
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// The embedded durable log: create, produce, consume, describe, verify.
    Log(log_cmd::LogArgs),
    /// The main job: the balances stream job under at-most-once, at-least-once and
    /// exactly-once, killed with SIGKILL and restarted, audited (`demo producer`: the log's
    /// idempotent producer alone).
    Demo(demo_cmd::DemoArgs),
    /// Benchmarks that report ratios measured in the same run.
    Bench(bench_cmd::BenchArgs),
    /// The reliability simulator: pipes over a seeded lossy network, measured R and UR.
    Sim(sim_cmd::SimArgs),
    /// Reliable delivery pipes over UDP.
    Pipe(pipe_cmd::PipeArgs),
    /// Generate input for the built-in jobs.
    Gen(gen_cmd::GenArgs),
    /// Run a built-in stream job (balances, wordcount, window-count), its status or check.
    Run(run_cmd::RunArgs),
    /// Consistent endpoints: inbox, state and outbox in one transaction (the bank).
    Endpoint(endpoint_cmd::EndpointArgs),
    /// Serve the log over the Kafka wire protocol (unmodified Kafka clients).
    Serve(serve_cmd::ServeArgs),
    /// NATS JetStream logs: `verify` counts records by lineage id (duplicates, gaps).
    Nats(nats_cmd::NatsArgs),
    /// Join a distributed-jobs cluster and run its jobs' tasks (PostgreSQL + NATS).
    Worker(worker_cmd::WorkerArgs),
    /// Distributed jobs: submit, list, status, cancel.
    Job(job_cmd::JobArgs),
    /// A distributed-jobs cluster: `status` of every job and the live workers.
    Cluster(cluster_cmd::ClusterCmdArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions(completions_cmd::CompletionsArgs),
    /// Print the man page, or write one page per command with `--out-dir`.
    Man(man_cmd::ManArgs),
}

/// The format of the libraries' logs on stderr.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line (timestamp, level, target, fields).
    Json,
}

fn main() -> std::process::ExitCode {
    restore_default_sigpipe();
    let args = match exactly_config::apply(std::env::args_os().collect(), &Cli::command()) {
        Ok(args) => args,
        Err(error) => {
            eprintln!("error: {error}");
            return std::process::ExitCode::from(2); // a usage error, as clap's own
        }
    };
    let cli = Cli::parse_from(args);
    init_tracing(cli.log_format);
    if let Some(addr) = cli.metrics {
        if let Err(error) = metrics_flag::install(addr) {
            eprintln!("error: {}", error_chain(&error));
            return std::process::ExitCode::FAILURE;
        }
    }
    match dispatch(cli) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {}", error_chain(&error));
            std::process::ExitCode::FAILURE
        }
    }
}

/// The libraries log every I/O failure (with its path) through `tracing`; the command
/// itself reports the error it returns. Quiet by default: `RUST_LOG=warn` (or a finer
/// filter such as `RUST_LOG=exactly_log=debug`) shows those logs on stderr.
fn init_tracing(format: LogFormat) {
    let Some(directives) = std::env::var_os("RUST_LOG") else {
        return; // quiet by default
    };
    let filter = match tracing_subscriber::EnvFilter::try_new(directives.to_string_lossy()) {
        Ok(filter) => filter,
        Err(error) => {
            eprintln!("warning: RUST_LOG={directives:?} ignored: {error}");
            return;
        }
    };
    let logs = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => logs.init(),
        LogFormat::Json => logs.json().init(),
    }
}

/// Output piped into a reader that stops early (`exactly log consume … | head`) must end
/// the process quietly, as for every Unix tool: Rust ignores SIGPIPE, so `println!` would
/// panic with a backtrace on the closed pipe instead.
#[allow(unsafe_code)]
fn restore_default_sigpipe() {
    // SAFETY: called first thing in `main`, before any thread exists; setting a signal's
    // disposition to its default has no memory-safety preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// The error and its causes on one line, `outer: cause: root`. A cause whose text the
/// previous link already contains is skipped: an error that prints its source in its own
/// message would otherwise show the same cause twice.
pub(crate) fn error_chain(error: &anyhow::Error) -> String {
    let mut text = String::new();
    let mut previous = String::new();
    for link in error.chain() {
        let link_text = link.to_string();
        if !previous.is_empty() && previous.contains(&link_text) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&link_text);
        previous = link_text;
    }
    text
}

/// This binary: commands that run other `exactly` commands as child processes (so they
/// can be killed with SIGKILL) start it again.
pub(crate) fn exactly_exe() -> anyhow::Result<std::path::PathBuf> {
    use anyhow::Context;
    std::env::current_exe().context("locating the exactly binary")
}

fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Log(args) => log_cmd::run(args),
        Command::Demo(args) => demo_cmd::run(args),
        Command::Bench(args) => bench_cmd::run(args),
        Command::Sim(args) => sim_cmd::run(args),
        Command::Pipe(args) => pipe_cmd::run(args),
        Command::Gen(args) => gen_cmd::run(args),
        Command::Run(args) => run_cmd::run(args),
        Command::Endpoint(args) => endpoint_cmd::run(args),
        Command::Serve(args) => serve_cmd::run(args),
        Command::Nats(args) => nats_cmd::run(args),
        Command::Worker(args) => worker_cmd::run(args),
        Command::Job(args) => job_cmd::run(args),
        Command::Cluster(args) => cluster_cmd::run(args),
        Command::Completions(args) => completions_cmd::run(args, Cli::command()),
        Command::Man(args) => man_cmd::run(args, Cli::command()),
    }
}
