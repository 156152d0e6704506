//! Puts the build's git commit into `exactly --version`.
//!
//! The hash comes from, in order: `EXACTLY_GIT_HASH` in the build's environment (for builds
//! from a source archive that knows its commit), else `git rev-parse HEAD` in this crate's
//! checkout. Outside a git checkout (or without git) the version says so explicitly:
//! `git unknown (not built from a git checkout)`; the build does not fail, since a source
//! archive must still build.

use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=EXACTLY_GIT_HASH");
    let version = env!("CARGO_PKG_VERSION");
    let git = match std::env::var("EXACTLY_GIT_HASH") {
        Ok(hash) if !hash.trim().is_empty() => format!("git {}", hash.trim()),
        _ => match git_head() {
            Some(hash) => {
                watch_git_head();
                format!("git {hash}")
            }
            None => "git unknown (not built from a git checkout)".to_string(),
        },
    };
    println!("cargo:rustc-env=EXACTLY_VERSION={version} ({git})");
}

/// The checked-out commit, abbreviated to 12 hex digits; `None` outside a checkout.
fn git_head() -> Option<String> {
    let hash = git(&["rev-parse", "--short=12", "HEAD"])?;
    let is_hash = !hash.is_empty() && hash.chars().all(|c| c.is_ascii_hexdigit());
    is_hash.then_some(hash)
}

/// Rebuilds when HEAD moves: the HEAD file (a branch switch), the branch's ref (a
/// commit) and packed-refs (a ref packed by `git gc`). In a worktree these live in
/// different directories: `--git-path` finds each.
fn watch_git_head() {
    let mut paths = vec!["HEAD".to_string(), "packed-refs".to_string()];
    if let Some(reference) = git(&["symbolic-ref", "-q", "HEAD"]) {
        paths.push(reference);
    }
    for path in paths {
        if let Some(file) = git(&["rev-parse", "--git-path", &path]) {
            let file = std::path::Path::new(&file);
            let file = match file.is_absolute() {
                true => file.to_path_buf(),
                false => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(file),
            };
            if file.exists() {
                println!("cargo:rerun-if-changed={}", file.display());
            }
        }
    }
}

/// `git ARGS` in this crate's directory: its trimmed standard output on success.
fn git(args: &[&str]) -> Option<String> {
    let output = Command::new("git")
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()?;
    if !output.status.success() {
        return None;
    }
    String::from_utf8(output.stdout)
        .ok()
        .map(|s| s.trim().to_string())
}
