//! confluent-kafka's transactional consume-transform-produce loop copies 3 000 records
//! while the server is SIGKILLed and restarted (`EXACTLY_KILLS`, default 4; `EXACTLY_SEED`
//! replays); the loop starts over from its committed positions with a new producer of the
//! same `transactional.id` after every failure. The oracle is a separate `read_committed`
//! consumer: every input appears in the output exactly once (so nothing of an aborted
//! transaction is visible). Then a zombie with the same `transactional.id` is fenced: its
//! commit fails and only the live producer's record is visible.

use crate::common;

use common::{python, script, ServerProc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn server_child() {
    common::serve_child_if_asked();
}

fn run(args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let out = Command::new(python())
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| format!("{} could not start (run .ci/setup-kafka): {e}", python()))?;
    if !out.status.success() {
        return Err(format!("{args:?}: {}", out.status).into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

fn py(name: &str) -> Result<String, Box<dyn std::error::Error>> {
    Ok(script(name).to_str().ok_or("script path")?.to_string())
}

#[test]
fn copy_is_exactly_once_and_zombies_are_fenced() -> Result<(), Box<dyn std::error::Error>> {
    let (kills, seed) = exactly_testkit::cli::kills_and_seed(4);
    let records: u64 = exactly_testkit::cli::env_or("EXACTLY_KAFKA_RECORDS", 3_000);
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir()?;
    let mut server = ServerProc::start(
        "transactional_copy_survives_kills::server_child",
        dir.path(),
        &common::free_addr()?,
    )?;
    let addr = server.addr.clone();
    run(&[&py("create_topic.py")?, &addr, "in", "3"])?;
    run(&[&py("create_topic.py")?, &addr, "out", "3"])?;
    let produced = run(&[
        &py("idempotent_produce.py")?,
        &addr,
        "in",
        &records.to_string(),
    ])?;
    assert!(
        produced.contains(&format!("done {records} 0 0")),
        "input not produced: {produced}"
    );

    let mut copier = Command::new(python())
        .args([
            &py("txn_copy.py")?,
            &addr,
            "in",
            "out",
            "copier",
            "copier-group",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.random_range(100..1200)));
        if copier.try_wait()?.is_some() {
            break;
        }
        server.kill()?;
        std::thread::sleep(Duration::from_millis(rng.random_range(0..300)));
        server.restart()?;
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    while copier.try_wait()?.is_none() {
        if Instant::now() > deadline {
            copier.kill()?;
            return Err("copier did not finish".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let output = copier.wait_with_output()?;
    let summary = String::from_utf8(output.stdout)?;
    println!(
        "{} kills landed; copier: {}",
        server.kills,
        summary.replace('\n', "; ")
    );
    assert!(summary.contains("done"), "copier failed: {summary}");

    let copied = run(&[&py("read_all.py")?, &addr, "out"])?;
    let mut counts: BTreeMap<u64, u32> = BTreeMap::new();
    for line in copied.lines() {
        let value = line.rsplit(' ').next().ok_or("empty line")?;
        let id: u64 = value.strip_prefix("out-").ok_or("not a copy")?.parse()?;
        *counts.entry(id).or_default() += 1;
    }
    let doubled: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).collect();
    assert!(doubled.is_empty(), "copied more than once: {doubled:?}");
    let missing: Vec<u64> = (0..records).filter(|id| !counts.contains_key(id)).collect();
    assert!(
        missing.is_empty(),
        "{} inputs never copied, e.g. {:?}",
        missing.len(),
        missing.first()
    );
    assert_eq!(counts.len() as u64, records);

    let zombie = run(&[&py("zombie_fenced.py")?, &addr, "zombie", "shared-id"])?;
    assert!(zombie.contains("fenced:"), "the zombie committed: {zombie}");
    assert!(zombie.contains("live committed"), "{zombie}");
    let visible = run(&[&py("read_all.py")?, &addr, "zombie"])?;
    let values: Vec<&str> = visible
        .lines()
        .filter_map(|l| l.rsplit(' ').next())
        .collect();
    assert_eq!(
        values,
        ["live"],
        "only the live producer's record is visible"
    );
    Ok(())
}
