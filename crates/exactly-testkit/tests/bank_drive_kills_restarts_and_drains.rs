//! `bank::drive` with stand-in endpoint processes (a shell script that waits for its
//! stop file): every delivery reaches the feed log, the kills asked for land and each is
//! followed by a restart, both endpoints drain cleanly, and progress ends in `Draining`.
//! A stand-in that exits by itself is counted as a failure and, repeated, stops the run.

#![allow(clippy::expect_used)] // test helpers: a failed step is the test failing

use exactly_core::Offset;
use exactly_endpoint::bank_layout::Layout;
use exactly_endpoint::testkit::{bank_workload, TRANSFERS_TOPIC};
use exactly_log::{Log, LogConfig};
use exactly_testkit::bank::{drive, BankError, BankProgress, FeedPlan, ServeOptions};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A stand-in for `exactly endpoint serve --role R … --dir ROOT …`: waits for ROOT's stop
/// file of its role, then exits 0 (or exits 3 at once when `broken`).
fn stand_in(dir: &Path, broken: bool) -> PathBuf {
    let path = dir.join(if broken { "broken.sh" } else { "serve.sh" });
    let body = if broken {
        "#!/bin/sh\nexit 3\n".to_string()
    } else {
        "#!/bin/sh\nrole=\"$4\"\nroot=\"${10}\"\nletter=\"${role#accounts-}\"\n\
         while [ ! -e \"$root/stop-$letter\" ]; do sleep 0.01; done\nexit 0\n"
            .to_string()
    };
    std::fs::write(&path, body).expect("script");
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    path
}

fn serve(exe: PathBuf) -> ServeOptions {
    ServeOptions {
        exe,
        store: "embedded".to_string(),
        schema_prefix: "exactly_bank_test".to_string(),
        accounts: 5,
        batch: 8,
        transport: "embedded".to_string(),
    }
}

#[test]
fn bank_drive_kills_restarts_and_drains() {
    let seed = 11;
    println!("seed {seed}");
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("bank");
    std::fs::create_dir_all(&root).expect("root");
    let layout = Layout::new(&root);
    let workload = bank_workload(seed, 200, 5, 0.1, 3);
    let plan = FeedPlan {
        kill_every_ms: 20,
        kills: Some(4),
        timeout: Duration::from_secs(60),
    };
    let mut steps = Vec::new();
    let exe = stand_in(dir.path(), false);
    let runs = drive(&layout, &serve(exe), &plan, &workload, seed, |s| {
        steps.push(s)
    })
    .expect("drive");
    assert!(runs.kills >= 4, "{runs:?}");
    assert_eq!(runs.restarts, runs.kills, "one restart per kill: {runs:?}");
    assert!(runs.child_failures.is_empty(), "{runs:?}");
    assert_eq!(steps.last(), Some(&BankProgress::Draining));
    let fed = steps.iter().rev().find_map(|s| match s {
        BankProgress::Fed { fed, .. } => Some(*fed),
        BankProgress::Draining => None,
    });
    assert_eq!(fed, Some(workload.deliveries.len() as u64));

    let feed = Log::open_read_only(layout.feed_log(), LogConfig::default()).expect("feed");
    let stored = feed
        .read(TRANSFERS_TOPIC, 0, Offset(0), 1_000_000)
        .expect("read");
    assert_eq!(stored.len(), workload.deliveries.len());

    let broken_root = dir.path().join("broken");
    std::fs::create_dir_all(&broken_root).expect("root");
    let broken = stand_in(dir.path(), true);
    let result = drive(
        &Layout::new(&broken_root),
        &serve(broken),
        &plan,
        &workload,
        seed,
        |_| {},
    );
    assert!(
        matches!(result, Err(BankError::Broken { .. })),
        "{result:?}"
    );
}
