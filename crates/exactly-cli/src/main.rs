//! The `exactly` command-line tool. Every subcommand lives in its own module; this file only
//! parses arguments and dispatches.

mod bench_cmd;
mod demo_cmd;
mod endpoint_cmd;
mod gen_cmd;
mod log_cmd;
mod pipe_cmd;
mod run_cmd;
mod sim_cmd;

use clap::{Parser, Subcommand};

/// exactly: exactly-once message processing — durable logs, idempotent producers, measured
/// reliability.
#[derive(Parser, Debug)]
#[command(name = "exactly", version, about)]
struct Cli {
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
}

fn main() -> std::process::ExitCode {
    restore_default_sigpipe();
    init_tracing();
    let cli = Cli::parse();
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
fn init_tracing() {
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
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
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
    }
}
