//! `exactly log`: not built yet.

/// Arguments of `exactly log`.
#[derive(clap::Args, Debug)]
pub struct LogArgs {}

/// Runs `exactly log`.
pub fn run(_args: LogArgs) -> anyhow::Result<()> {
    anyhow::bail!("exactly log is not built yet")
}
