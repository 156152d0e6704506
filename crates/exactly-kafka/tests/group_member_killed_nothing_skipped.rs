//! A kafka-python consumer group of 3 members reads 6 000 records from 6 partitions,
//! committing after every poll; one member is SIGKILLed midway and the group rebalances.
//! Oracles computed from the members' own output and a separate reader: every record is
//! processed at least once (nothing skipped), no record is processed *and committed* by
//! two members (committed offsets are honoured: only a dead or rebalanced member's
//! uncommitted tail is read again), and the group's final committed offsets are the ends
//! of the partitions.

use crate::common;

use common::{python, script, ServerProc};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const RECORDS: u64 = 6_000;
const MEMBERS: usize = 3;

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

type Lines = Arc<Mutex<Vec<String>>>;

fn member(addr: &str, stop: &str) -> Result<(Child, Lines), Box<dyn std::error::Error>> {
    let mut child = Command::new(python())
        .args([&py("group_member.py")?, addr, "work", "workers", stop])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let lines: Lines = Arc::default();
    let sink = lines.clone();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            sink.lock().unwrap_or_else(|e| e.into_inner()).push(line);
        }
    });
    Ok((child, lines))
}

fn processed_ids(members: &[(Child, Lines)]) -> usize {
    let mut ids = std::collections::HashSet::new();
    for (_, lines) in members {
        for line in lines.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            if let Some(rest) = line.strip_prefix("rec ") {
                ids.insert(rest.rsplit(' ').next().unwrap_or_default().to_string());
            }
        }
    }
    ids.len()
}

#[test]
fn a_killed_member_skips_nothing() -> Result<(), Box<dyn std::error::Error>> {
    let dir = tempfile::tempdir()?;
    let server = ServerProc::start(
        "group_member_killed_nothing_skipped::server_child",
        dir.path(),
        &common::free_addr()?,
    )?;
    let addr = server.addr.clone();
    run(&[&py("create_topic.py")?, &addr, "work", "6"])?;
    // Paced input, so that the members are still reading when one is killed.
    let input = Command::new(python())
        .args([
            &py("idempotent_produce.py")?,
            &addr,
            "work",
            &RECORDS.to_string(),
            "1500",
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let stop = dir.path().join("stop");
    let stop = stop.to_str().ok_or("path")?.to_string();
    let mut members = Vec::new();
    for _ in 0..MEMBERS {
        members.push(member(&addr, &stop)?);
    }
    let deadline = Instant::now() + Duration::from_secs(120);
    while processed_ids(&members) < (RECORDS / 4) as usize {
        assert!(Instant::now() < deadline, "members made no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    let killed = 1;
    members[killed].0.kill()?;
    members[killed].0.wait()?;
    while processed_ids(&members) < RECORDS as usize {
        assert!(
            Instant::now() < deadline,
            "only {} of {RECORDS} records processed",
            processed_ids(&members)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let mut input = input;
    input.wait()?;
    std::fs::write(&stop, b"")?;
    for (i, (child, _)) in members.iter_mut().enumerate() {
        if i != killed {
            let status = child.wait()?;
            assert!(status.success(), "member {i} failed: {status}");
        }
    }

    // (partition, offset) → how many members processed it and covered it by a commit.
    let mut committed_processings: HashMap<(u32, u64), u32> = HashMap::new();
    let mut processings: HashMap<String, u32> = HashMap::new();
    for (_, lines) in &members {
        let mut pending: Vec<(u32, u64)> = Vec::new();
        for line in lines.lock().unwrap_or_else(|e| e.into_inner()).iter() {
            let fields: Vec<&str> = line.split(' ').collect();
            match fields.as_slice() {
                ["rec", p, o, id] => {
                    pending.push((p.parse()?, o.parse()?));
                    *processings.entry(id.to_string()).or_default() += 1;
                }
                ["commit", positions @ ..] => {
                    let positions: BTreeMap<u32, u64> = positions
                        .iter()
                        .filter_map(|p| p.split_once(':'))
                        .map(|(p, o)| Ok::<_, std::num::ParseIntError>((p.parse()?, o.parse()?)))
                        .collect::<Result<_, _>>()?;
                    pending.retain(|(p, o)| {
                        let covered = positions.get(p).is_some_and(|pos| o < pos);
                        if covered {
                            *committed_processings.entry((*p, *o)).or_default() += 1;
                        }
                        !covered
                    });
                }
                _ => {}
            }
        }
    }
    assert_eq!(processings.len() as u64, RECORDS, "every record processed");
    let twice: Vec<_> = committed_processings
        .iter()
        .filter(|(_, n)| **n > 1)
        .collect();
    assert!(twice.is_empty(), "processed and committed twice: {twice:?}");
    let reread = processings.values().filter(|n| **n > 1).count();
    println!("{reread} records read again after the kill (uncommitted tails)");

    let stored = run(&[&py("read_all.py")?, &addr, "work"])?;
    let mut ends: BTreeMap<u32, u64> = BTreeMap::new();
    for line in stored.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        if let [p, o, _] = fields.as_slice() {
            let end = ends.entry(p.parse()?).or_default();
            *end = (*end).max(o.parse::<u64>()? + 1);
        }
    }
    let committed = run(&[&py("committed.py")?, &addr, "work", "workers"])?;
    for line in committed.lines() {
        let (p, o) = line.split_once(' ').ok_or("bad line")?;
        let end = ends.get(&p.parse()?).copied().unwrap_or(0) as i64;
        let committed: i64 = o.parse()?;
        // An empty partition may have no committed offset at all.
        let at_end = committed == end || (end == 0 && committed == -1);
        assert!(at_end, "partition {p}: committed {committed}, end {end}");
    }
    drop(server);
    Ok(())
}
