//! `exactly man`: the man page (`clap_mangen`), generated from the same definitions the
//! parser uses. Without `--out-dir`, `exactly(1)` on standard output; with it, one page
//! per command (`exactly.1`, `exactly-log.1`, `exactly-log-consume.1`, …) in that
//! directory.

use anyhow::Context;
use clap::Args;
use std::io::Write;
use std::path::PathBuf;

/// Arguments of `exactly man`.
#[derive(Args, Debug)]
pub struct ManArgs {
    /// Write every command's page into this directory instead (created if missing).
    #[arg(long)]
    out_dir: Option<PathBuf>,
}

/// Prints or writes the man pages.
pub fn run(args: ManArgs, command: clap::Command) -> anyhow::Result<()> {
    let Some(dir) = args.out_dir else {
        let mut page = Vec::new();
        clap_mangen::Man::new(command)
            .render(&mut page)
            .context("rendering the man page")?;
        let mut out = std::io::stdout().lock();
        // A closed pipe ends the output quietly, as for any other command.
        let _ = out.write_all(&page).and_then(|()| out.flush());
        return Ok(());
    };
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let pages = page_count(&command);
    clap_mangen::generate_to(command, &dir)
        .with_context(|| format!("writing man pages into {}", dir.display()))?;
    println!(
        "{}",
        serde_json::json!({"man_pages": pages, "dir": dir.display().to_string()})
    );
    Ok(())
}

/// Pages `clap_mangen::generate_to` writes: one per command that is not hidden (named
/// after its path, `exactly-log-consume.1`), the `help` subcommand left out.
fn page_count(command: &clap::Command) -> usize {
    1 + command
        .get_subcommands()
        .filter(|sub| !sub.is_hide_set() && sub.get_name() != "help")
        .map(page_count)
        .sum::<usize>()
}
