//! `exactly completions SHELL`: the shell's completion script on standard output
//! (`clap_complete`), generated from the same definitions the parser uses, so every
//! subcommand and flag is in it.

use clap::Args;
use clap_complete::Shell;
use std::io::Write;

/// Arguments of `exactly completions`.
#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// bash, zsh, fish, elvish or powershell. Install e.g. with
    /// `exactly completions bash > /etc/bash_completion.d/exactly`.
    shell: Shell,
}

/// Prints the completion script.
pub fn run(args: CompletionsArgs, mut command: clap::Command) -> anyhow::Result<()> {
    let mut script = Vec::new();
    clap_complete::generate(args.shell, &mut command, "exactly", &mut script);
    let mut out = std::io::stdout().lock();
    // A closed pipe ends the output quietly, as for any other command.
    if out.write_all(&script).and_then(|()| out.flush()).is_err() {
        return Ok(());
    }
    Ok(())
}
