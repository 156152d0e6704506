//! confluent-kafka's idempotent producer sends 20 000 payload ids while the server is
//! SIGKILLed and restarted (`EXACTLY_KILLS`, default 5; `EXACTLY_SEED` replays). The
//! oracle is a separate consumer reading the topic back: every acknowledged id is there
//! exactly once, at the offset its acknowledgement named, no id is there twice, and each
//! partition holds its ids in the order they were sent.

use crate::common;

use common::{python, script, ServerProc};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap};
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[test]
fn server_child() {
    common::serve_child_if_asked();
}

fn run(args: &[&str]) -> Result<String, Box<dyn std::error::Error>> {
    let out = Command::new(python())
        .args(args)
        .output()
        .map_err(|e| format!("{} could not start (run .ci/setup-kafka): {e}", python()))?;
    if !out.status.success() {
        return Err(format!(
            "{args:?}: {}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok(String::from_utf8(out.stdout)?)
}

#[test]
fn every_acknowledged_record_is_stored_exactly_once() -> Result<(), Box<dyn std::error::Error>> {
    let (kills, seed) = exactly_testkit::cli::kills_and_seed(5);
    let records: u64 = exactly_testkit::cli::env_or("EXACTLY_KAFKA_RECORDS", 20_000);
    let mut rng = SmallRng::seed_from_u64(seed);
    let dir = tempfile::tempdir()?;
    let mut server = ServerProc::start(
        "idempotent_producer_survives_kills::server_child",
        dir.path(),
        &common::free_addr()?,
    )?;
    let topic = "idempotent";
    run(&[
        script("create_topic.py").to_str().ok_or("path")?,
        &server.addr,
        topic,
        "3",
    ])?;

    // Paced so that the sends span the kills (a kill cycle takes about 1.5 s).
    let rate = records as f64 / (f64::from(kills.max(1)) * 1.5);
    let mut producer = Command::new(python())
        .args([
            script("idempotent_produce.py").to_str().ok_or("path")?,
            &server.addr,
            topic,
            &records.to_string(),
            &format!("{rate:.0}"),
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = producer.stdout.take().ok_or("no stdout")?;
    let reader = std::thread::spawn(move || -> Vec<String> {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .collect()
    });
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.random_range(200..1500)));
        if producer.try_wait()?.is_some() {
            break;
        }
        server.kill()?;
        std::thread::sleep(Duration::from_millis(rng.random_range(0..400)));
        server.restart()?;
    }
    let deadline = Instant::now() + Duration::from_secs(240);
    while producer.try_wait()?.is_none() {
        if Instant::now() > deadline {
            producer.kill()?;
            return Err("producer did not finish".into());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let lines = reader.join().map_err(|_| "reader thread panicked")?;
    println!("{} kills landed", server.kills);

    let mut acked: HashMap<u64, (u32, u64)> = HashMap::new();
    for line in &lines {
        let fields: Vec<&str> = line.split(' ').collect();
        if let ["ack", id, partition, offset] = fields.as_slice() {
            let previous = acked.insert(id.parse()?, (partition.parse()?, offset.parse()?));
            assert!(previous.is_none(), "id {id} acknowledged twice");
        }
    }
    let summary = lines.last().ok_or("producer printed nothing")?;
    println!("producer: {summary}; {} acknowledged", acked.len());
    assert!(
        summary.starts_with("done "),
        "producer did not finish cleanly: {summary}"
    );

    let stored = run(&[
        script("read_all.py").to_str().ok_or("path")?,
        &server.addr,
        topic,
    ])?;
    let mut at: HashMap<u64, (u32, u64)> = HashMap::new();
    let mut per_partition: BTreeMap<u32, Vec<u64>> = BTreeMap::new();
    for line in stored.lines() {
        let fields: Vec<&str> = line.split(' ').collect();
        let [partition, offset, id] = fields.as_slice() else {
            return Err(format!("bad line {line}").into());
        };
        let (partition, offset, id): (u32, u64, u64) =
            (partition.parse()?, offset.parse()?, id.parse()?);
        assert!(
            at.insert(id, (partition, offset)).is_none(),
            "id {id} stored twice"
        );
        per_partition.entry(partition).or_default().push(id);
    }
    for (id, place) in &acked {
        assert_eq!(
            at.get(id),
            Some(place),
            "acknowledged id {id} not where its ack said"
        );
    }
    for (partition, ids) in &per_partition {
        assert!(
            ids.windows(2).all(|w| w[0] < w[1]),
            "partition {partition} out of order"
        );
    }
    assert_eq!(
        acked.len() as u64,
        records,
        "every record acknowledged in the end"
    );
    Ok(())
}
