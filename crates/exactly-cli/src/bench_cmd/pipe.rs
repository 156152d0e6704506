//! `exactly bench pipe`: not built yet.

/// Arguments of `exactly bench pipe`.
#[derive(clap::Args, Debug)]
pub struct PipeBenchArgs {}

/// Runs the benchmark.
pub fn run(_args: PipeBenchArgs) -> anyhow::Result<()> {
    anyhow::bail!("exactly bench pipe is not built yet")
}
