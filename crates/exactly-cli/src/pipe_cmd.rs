//! `exactly pipe`: not built yet (issue "Reliable delivery pipes and the reliability simulator").

/// Arguments of `exactly pipe`.
#[derive(clap::Args, Debug)]
pub struct PipeArgs {}

/// Runs `exactly pipe`.
pub fn run(_args: PipeArgs) -> anyhow::Result<()> {
    anyhow::bail!("exactly pipe is not built yet")
}
