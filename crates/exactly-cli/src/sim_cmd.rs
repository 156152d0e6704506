//! `exactly sim`: not built yet (issue "Reliable delivery pipes and the reliability simulator").

/// Arguments of `exactly sim`.
#[derive(clap::Args, Debug)]
pub struct SimArgs {}

/// Runs `exactly sim`.
pub fn run(_args: SimArgs) -> anyhow::Result<()> {
    anyhow::bail!("exactly sim is not built yet")
}
