//! CPU time and resident memory of a process, read from Linux's `/proc`: the bench's own
//! process, or a server's found by its pid or by the TCP port it listens on (so a server
//! the bench did not start, such as the machine's nats-server, is measured too).

use std::path::Path;

/// What `/proc/<pid>` says about a process at one moment.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ProcUsage {
    /// User + system CPU time consumed so far, seconds.
    pub cpu_seconds: f64,
    /// Resident set size now, bytes.
    pub rss_bytes: u64,
}

/// The usage of process `pid` (`None` for the bench's own), `None` if it cannot be read
/// (the process is gone, or `/proc` is not Linux's).
pub fn usage(pid: Option<u32>) -> Option<ProcUsage> {
    let dir = match pid {
        Some(pid) => format!("/proc/{pid}"),
        None => "/proc/self".to_string(),
    };
    let stat = std::fs::read_to_string(format!("{dir}/stat")).ok()?;
    let status = std::fs::read_to_string(format!("{dir}/status")).ok()?;
    Some(ProcUsage {
        cpu_seconds: cpu_seconds(&stat)?,
        rss_bytes: rss_bytes(&status)?,
    })
}

/// utime + stime of a `/proc/<pid>/stat` line, in seconds.
fn cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: fields are counted
    // after its closing parenthesis, where field 3 (state) starts.
    let after_name = stat.get(stat.rfind(')')? + 1..)?;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line: 11 and 12 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks_per_second()?)
}

/// The unit of `/proc`'s CPU times.
fn clock_ticks_per_second() -> Option<f64> {
    // SAFETY: sysconf has no preconditions; it only reads a system constant.
    #[allow(unsafe_code)]
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    (ticks > 0).then_some(ticks as f64)
}

/// `VmRSS` of a `/proc/<pid>/status` text, in bytes.
fn rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The pid of the process listening on TCP `port` (IPv4 or IPv6), if one can be found.
pub fn pid_listening_on(port: u16) -> Option<u32> {
    let inode = ["/proc/net/tcp", "/proc/net/tcp6"]
        .iter()
        .filter_map(|table| std::fs::read_to_string(table).ok())
        .find_map(|table| listening_inode(&table, port))?;
    let wanted = format!("socket:[{inode}]");
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|entry| entry.file_name().to_str()?.parse::<u32>().ok())
        .find(|pid| holds_socket(&Path::new("/proc").join(pid.to_string()), &wanted))
}

/// The inode of the socket listening on `port` in a `/proc/net/tcp{,6}` table.
fn listening_inode(table: &str, port: u16) -> Option<u64> {
    const LISTEN: &str = "0A";
    let port_hex = format!(":{port:04X}");
    table.lines().skip(1).find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let local = fields.get(1)?;
        let listening = fields.get(3) == Some(&LISTEN);
        (listening && local.ends_with(&port_hex)).then(|| fields.get(9)?.parse().ok())?
    })
}

fn holds_socket(process: &Path, wanted: &str) -> bool {
    let Ok(fds) = std::fs::read_dir(process.join("fd")) else {
        return false;
    };
    fds.filter_map(Result::ok)
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .any(|target| target.as_os_str() == wanted)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_stat_with_a_name_holding_spaces() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1 0 5 0 0";
        let ticks = clock_ticks_per_second().expect("a clock tick");
        assert_eq!(cpu_seconds(stat), Some(300.0 / ticks));
    }

    #[test]
    fn finds_the_listener_of_a_port() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bound");
        let port = listener.local_addr().expect("address").port();
        assert_eq!(pid_listening_on(port), Some(std::process::id()));
        let own = usage(None).expect("own usage");
        assert!(own.rss_bytes > 0);
    }
}
