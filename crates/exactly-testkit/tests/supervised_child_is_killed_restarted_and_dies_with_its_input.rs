//! A supervised child: kills that land are counted, an exit by itself is reported instead
//! of counted as a kill, every restart starts the command again, and a child that reads
//! its standard input until it closes exits once its supervisor is gone.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use exactly_testkit::Supervised;
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn kills_and_restarts_are_counted_and_exits_reported() {
    let mut child = Supervised::spawn(|| {
        let mut sleep = Command::new("sleep");
        sleep.arg("30");
        Ok(sleep)
    })
    .unwrap();
    assert_eq!(child.kill_and_restart().unwrap(), None);
    assert_eq!(child.kill_and_restart().unwrap(), None);
    assert_eq!((child.kills, child.restarts), (2, 2));
    assert!(child.try_wait().unwrap().is_none());
}

#[test]
fn an_exit_by_itself_is_not_a_kill() {
    let mut child = Supervised::spawn(|| Ok(Command::new("true"))).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "`true` did not exit");
        std::thread::sleep(Duration::from_millis(5));
    }
    let exited = child.kill_and_restart().unwrap();
    assert!(exited.is_some_and(|s| s.success()));
    assert_eq!((child.kills, child.restarts), (0, 1));
}

#[test]
fn a_child_reading_its_input_exits_when_the_supervisor_drops_its_end() {
    // `cat` exits when its standard input closes; keep its pid to look for it afterwards.
    let mut child = Supervised::spawn(|| Ok(Command::new("cat"))).unwrap();
    let pid = child.child().id();
    // Close only the input pipe: the child must exit by itself.
    drop(child.child().stdin.take());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "cat {pid}: {status}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "cat {pid} did not exit on end of input"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}
