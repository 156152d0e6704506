//! Running `ip` (iproute2) for [`crate::netns`]: every failure is a typed
//! [`NetnsError`] carrying the command line and its standard error, and the listings a
//! clean-up needs (namespaces, links, processes in a namespace) by name prefix.

use std::process::Command;

/// Why a network-namespace operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetnsError {
    /// A command could not be started at all (no `ip` binary, say).
    #[error("could not run `{command}`: {source}")]
    Spawn {
        /// The command line.
        command: String,
        /// Why.
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed {
        /// The command line.
        command: String,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed on standard error (trimmed).
        stderr: String,
    },
    /// The prefix is not 1 to 8 characters of `[a-z0-9]`: it names interfaces, whose
    /// names are at most 15 bytes (`<prefix>-h<i>` must fit).
    #[error("bad prefix {0:?}: 1 to 8 characters of [a-z0-9]")]
    BadPrefix(String),
    /// More hosts than the naming and addressing allow.
    #[error("{asked} hosts asked, at most {max}")]
    TooManyHosts {
        /// How many were asked for.
        asked: usize,
        /// The bound.
        max: usize,
    },
    /// Another interface already holds the gateway address: another live `Hosts` (or a
    /// leftover under another prefix) uses the subnet; two bridges with one address would
    /// route at random.
    #[error("{gateway} is already on interface {interface}: the subnet is in use")]
    SubnetInUse {
        /// The gateway address asked for.
        gateway: std::net::Ipv4Addr,
        /// The interface holding it.
        interface: String,
    },
}

/// Runs `ip <args>`; its standard output on success.
pub(crate) fn ip(args: &[&str]) -> Result<String, NetnsError> {
    let mut command = Command::new("ip");
    command.args(args);
    run(command)
}

/// Runs `command` to completion; its standard output on success, else a typed error with
/// the command line and its standard error.
pub(crate) fn run(mut command: Command) -> Result<String, NetnsError> {
    let line = command_line(&command);
    let output = command.output().map_err(|source| NetnsError::Spawn {
        command: line.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(NetnsError::Failed {
            command: line,
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// `program arg arg …`, as a person would type it (for error messages).
pub(crate) fn command_line(command: &Command) -> String {
    let mut parts = vec![command.get_program().to_string_lossy().into_owned()];
    parts.extend(command.get_args().map(|a| a.to_string_lossy().into_owned()));
    parts.join(" ")
}

/// Names of the network namespaces starting with `prefix`.
pub(crate) fn namespaces_with_prefix(prefix: &str) -> Result<Vec<String>, NetnsError> {
    // `ip netns list` prints `name` or `name (id: N)` per line.
    let listing = ip(&["netns", "list"])?;
    Ok(listing
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| name.starts_with(prefix))
        .map(str::to_string)
        .collect())
}

/// Names of the root namespace's links starting with `prefix`.
pub(crate) fn links_with_prefix(prefix: &str) -> Result<Vec<String>, NetnsError> {
    // `ip -o link show` prints `6: name@peer: <FLAGS> …` per line; the name ends at `@`
    // (a veth's peer) or `:`.
    let listing = ip(&["-o", "link", "show"])?;
    Ok(listing
        .lines()
        .filter_map(|line| line.split(": ").nth(1))
        .filter_map(|name| name.split('@').next())
        .filter(|name| name.starts_with(prefix))
        .map(str::to_string)
        .collect())
}

/// The interface holding `address`, if any (in the root namespace).
pub(crate) fn interface_with_address(
    address: std::net::Ipv4Addr,
) -> Result<Option<String>, NetnsError> {
    // `ip -o addr show to A/32` prints `5: name    inet A/24 …` for each holder.
    let listing = ip(&["-o", "-4", "addr", "show", "to", &format!("{address}/32")])?;
    Ok(listing
        .lines()
        .find_map(|line| line.split_whitespace().nth(1))
        .map(str::to_string))
}

/// SIGKILLs every process in namespace `name` (they would keep it, and its veth, alive
/// after `ip netns del`). Waits until none is left, for at most a few seconds.
pub(crate) fn kill_processes_in(name: &str) -> Result<(), NetnsError> {
    for _ in 0..50 {
        let pids = ip(&["netns", "pids", name])?;
        let pids: Vec<&str> = pids.split_whitespace().collect();
        if pids.is_empty() {
            return Ok(());
        }
        let mut kill = Command::new("kill");
        kill.arg("-KILL").args(&pids);
        // A process may exit between the listing and the kill; the next round sees.
        let _ = run(kill);
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Ok(())
}

/// Whether `error` says the object was not there (already deleted): a clean-up ignores
/// those and reports the rest.
pub(crate) fn is_missing(error: &NetnsError) -> bool {
    match error {
        NetnsError::Failed { stderr, .. } => {
            stderr.contains("Cannot find device")
                || stderr.contains("No such file or directory")
                || stderr.contains("does not exist")
        }
        _ => false,
    }
}
