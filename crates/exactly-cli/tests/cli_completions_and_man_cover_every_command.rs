//! `exactly completions SHELL` and `exactly man`: every command of the binary, as its own
//! `--help` lists them, is in the bash, zsh and fish completion scripts; the bash script
//! passes `bash -n`; the man pages (one on standard output, one per command with
//! `--out-dir`) pass groff without a warning and name every command.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)] // Tests fail by panicking.

use std::path::Path;
use std::process::{Command, Stdio};

fn exactly(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_exactly"))
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "exactly {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The subcommands `--help` lists under "Commands:" (help itself left out).
fn listed_subcommands(path: &[&str]) -> Vec<String> {
    let mut args = path.to_vec();
    args.push("--help");
    let help = exactly(&args);
    let Some((_, commands)) = help.split_once("Commands:\n") else {
        return Vec::new();
    };
    commands
        .lines()
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// Every command path below the top, e.g. `["log", "consume"]`.
fn all_command_paths() -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let mut queue: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = queue.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        for name in listed_subcommands(&args) {
            let mut child = path.clone();
            child.push(name);
            paths.push(child.clone());
            queue.push(child);
        }
    }
    paths
}

fn groff_clean(page: &Path) -> String {
    let output = Command::new("groff")
        .args(["-k", "-man", "-Tutf8", "-ww"]) // -k: preconv, as man runs it (UTF-8 input)
        .arg(page)
        .output()
        .expect("groff runs (Debian's groff-base, installed with man-db)");
    assert!(
        output.status.success(),
        "groff failed on {}",
        page.display()
    );
    let warnings = String::from_utf8_lossy(&output.stderr);
    assert!(
        warnings.is_empty(),
        "groff warns on {}: {warnings}",
        page.display()
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[test]
fn completions_and_man_pages_cover_every_command() {
    let paths = all_command_paths();
    assert!(paths.len() > 20, "walked the command tree: {paths:?}");
    for expected in ["log", "run", "completions", "man"] {
        assert!(paths.iter().any(|p| p == &[expected]), "{expected} listed");
    }

    for shell in ["bash", "zsh", "fish"] {
        let script = exactly(&["completions", shell]);
        for path in &paths {
            let name = path.last().unwrap();
            assert!(
                script.contains(name.as_str()),
                "{shell} completion lacks {path:?}"
            );
        }
        if shell == "bash" {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("exactly.bash");
            std::fs::write(&file, &script).unwrap();
            let check = Command::new("bash").arg("-n").arg(&file).output().unwrap();
            assert!(
                check.status.success(),
                "{}",
                String::from_utf8_lossy(&check.stderr)
            );
        }
    }
    // A flag deep in the tree is completed too.
    assert!(exactly(&["completions", "bash"]).contains("--key-delimiter"));

    let dir = tempfile::tempdir().unwrap();
    let top = dir.path().join("exactly.1");
    std::fs::write(&top, exactly(&["man"])).unwrap();
    let rendered = groff_clean(&top);
    for path in paths.iter().filter(|p| p.len() == 1) {
        assert!(rendered.contains(&path[0]), "man page lacks {}", path[0]);
    }

    let pages = dir.path().join("pages");
    let summary: serde_json::Value =
        serde_json::from_str(&exactly(&["man", "--out-dir", pages.to_str().unwrap()])).unwrap();
    assert_eq!(
        summary["man_pages"],
        paths.len() + 1,
        "one page per command"
    );
    for path in &paths {
        let page = pages.join(format!("exactly-{}.1", path.join("-")));
        assert!(page.exists(), "{} written", page.display());
        groff_clean(&page);
    }
    assert!(pages.join("exactly.1").exists());
}
