//! `exactly demo`: not built yet.

/// Arguments of `exactly demo`.
#[derive(clap::Args, Debug)]
pub struct DemoArgs {}

/// Runs `exactly demo`.
pub fn run(_args: DemoArgs) -> anyhow::Result<()> {
    anyhow::bail!("exactly demo is not built yet")
}
