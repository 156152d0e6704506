//! `exactly bench log`: not built yet.

/// Arguments of `exactly bench log`.
#[derive(clap::Args, Debug)]
pub struct LogBenchArgs {}

/// Runs the benchmark.
pub fn run(_args: LogBenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("exactly bench log is not built yet")
}
