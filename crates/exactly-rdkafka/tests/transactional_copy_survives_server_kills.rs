//! A librdkafka transactional consume-transform-produce loop against `exactly serve`
//! (`init_transactions`, `begin_transaction`, `send_offsets_to_transaction`,
//! `commit_transaction`, and every fifth transaction `abort_transaction`) while a
//! thread SIGKILLs and restarts the server several times. Afterwards a `read_committed`
//! reader finds every input record copied exactly once, no record of an aborted
//! transaction, and every transaction whose commit returned OK; then a zombie producer
//! with the same `transactional.id` is fenced and its record never visible.
//! `EXACTLY_KILLS` (default 4) kills, `EXACTLY_RECORDS` (default 4 000) records; the seed
//! is printed.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use crate::common;

use common::{
    env_u64, produce_all, producer_config, read_committed, reader_config, send_threaded, ServerProc,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, KafkaResult};
use rdkafka::message::Message;
use rdkafka::producer::{Producer, ThreadedProducer};
use rdkafka::{Offset, TopicPartitionList};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const INPUT: &str = "in";
const OUTPUT: &str = "out";
const PARTITIONS: u32 = 2;
const GROUP: &str = "copier";
const TXN_TIMEOUT: Duration = Duration::from_secs(10);

#[test]
fn server_child() {
    common::serve_child_if_asked();
}

/// The copier's clients: a transactional producer and a consumer positioned at the
/// group's committed offsets.
struct Copier {
    producer: ThreadedProducer<rdkafka::producer::DefaultProducerContext>,
    consumer: BaseConsumer,
    /// Partitions whose end the consumer reported, with nothing read since.
    at_end: BTreeSet<u32>,
}

impl Copier {
    fn new(addr: &str) -> KafkaResult<Self> {
        let producer: ThreadedProducer<_> = producer_config(addr)
            .set("transactional.id", "copier-txn")
            .set("transaction.timeout.ms", "20000")
            .set("message.timeout.ms", "10000")
            .create()?;
        producer.init_transactions(TXN_TIMEOUT)?;
        let consumer: BaseConsumer = reader_config(addr).set("group.id", GROUP).create()?;
        let mut copier = Self {
            producer,
            consumer,
            at_end: BTreeSet::new(),
        };
        copier.rewind()?;
        Ok(copier)
    }

    /// Positions the consumer at the group's committed offsets (the start without any).
    fn rewind(&mut self) -> KafkaResult<()> {
        let mut partitions = TopicPartitionList::new();
        for partition in 0..PARTITIONS {
            partitions.add_partition(INPUT, partition as i32);
        }
        let committed = self.consumer.committed_offsets(partitions, TXN_TIMEOUT)?;
        let mut assignment = TopicPartitionList::new();
        for element in committed.elements() {
            let offset = match element.offset() {
                Offset::Offset(offset) => Offset::Offset(offset),
                _ => Offset::Beginning, // nothing committed yet
            };
            assignment.add_partition_offset(INPUT, element.partition(), offset)?;
        }
        self.consumer.assign(&assignment)?;
        self.at_end.clear();
        Ok(())
    }

    /// Up to `max` input records `(partition, offset, key, value)`; stops after 100 ms
    /// without one.
    fn poll_batch(&mut self, max: usize) -> Vec<(i32, i64, Vec<u8>, Vec<u8>)> {
        let mut records = Vec::new();
        while records.len() < max {
            match self.consumer.poll(Duration::from_millis(100)) {
                None => break,
                Some(Ok(m)) => {
                    self.at_end.remove(&(m.partition() as u32));
                    let key = m.key().expect("a key").to_vec();
                    let value = m.payload().expect("a value").to_vec();
                    records.push((m.partition(), m.offset(), key, value));
                }
                Some(Err(KafkaError::PartitionEOF(partition))) => {
                    self.at_end.insert(partition as u32);
                }
                Some(Err(error)) => eprintln!("copier consumer: {error}"),
            }
        }
        records
    }

    /// Copies `records` in one transaction: committed (`Ok(true)`) or aborted on purpose
    /// with an extra marker record (`Ok(false)`).
    fn transaction(
        &mut self,
        records: &[(i32, i64, Vec<u8>, Vec<u8>)],
        abort: Option<u64>,
    ) -> KafkaResult<bool> {
        self.producer.begin_transaction()?;
        for (_, _, key, value) in records {
            let mut copied = b"copy-".to_vec();
            copied.extend_from_slice(value);
            send_threaded(&self.producer, OUTPUT, key, &copied)?;
        }
        if let Some(number) = abort {
            send_threaded(
                &self.producer,
                OUTPUT,
                b"aborted",
                format!("aborted-{number}").as_bytes(),
            )?;
            self.producer.abort_transaction(TXN_TIMEOUT)?;
            self.rewind()?;
            return Ok(false);
        }
        let mut positions = TopicPartitionList::new();
        let mut next = BTreeMap::new();
        for (partition, offset, _, _) in records {
            next.insert(*partition, offset + 1);
        }
        for (partition, offset) in next {
            positions.add_partition_offset(INPUT, partition, Offset::Offset(offset))?;
        }
        let group = self
            .consumer
            .group_metadata()
            .expect("consumer group metadata");
        self.producer
            .send_offsets_to_transaction(&positions, &group, TXN_TIMEOUT)?;
        self.producer.commit_transaction(TXN_TIMEOUT)?;
        Ok(true)
    }
}

/// Kills and restarts the server `kills` times at random moments, then sets `done`.
fn killer(server: Arc<Mutex<ServerProc>>, kills: u64, seed: u64, done: Arc<AtomicBool>) {
    let mut rng = SmallRng::seed_from_u64(seed ^ 0x6b696c6c);
    for _ in 0..kills {
        std::thread::sleep(Duration::from_millis(rng.random_range(300..1500)));
        let mut server = server.lock().expect("server lock");
        server.kill().expect("kill");
        std::thread::sleep(Duration::from_millis(rng.random_range(50..400)));
        server.restart().expect("restart");
    }
    done.store(true, Ordering::SeqCst);
}

#[test]
fn transactional_copy_is_exact_across_server_kills_and_fences_a_zombie() {
    let seed = common::seed();
    let mut rng = SmallRng::seed_from_u64(seed);
    let kills = env_u64("EXACTLY_KILLS", 4);
    let count = env_u64("EXACTLY_RECORDS", 4_000);
    let dir = tempfile::tempdir().expect("tempdir");
    let topics = format!("{INPUT}:{PARTITIONS},{OUTPUT}:{PARTITIONS}");
    let server = ServerProc::start(
        "transactional_copy_survives_server_kills::server_child",
        dir.path(),
        &topics,
    )
    .expect("server");
    let addr = server.addr.clone();
    let inputs: Vec<_> = (0..count)
        .map(|id| {
            (
                format!("k{}", id % 97).into_bytes(),
                format!("i-{id}").into_bytes(),
            )
        })
        .collect();
    produce_all(&addr, INPUT, &inputs);

    let server = Arc::new(Mutex::new(server));
    let killed = Arc::new(AtomicBool::new(false));
    let kill_thread = {
        let (server, killed) = (server.clone(), killed.clone());
        std::thread::spawn(move || killer(server, kills, seed, killed))
    };
    let mut acknowledged = BTreeSet::new();
    let (mut commits, mut aborts, mut failures) = (0u64, 0u64, 0u64);
    let mut copier: Option<Copier> = None;
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        assert!(Instant::now() < deadline, "the copy did not finish");
        let mut current = match copier.take() {
            Some(current) => current,
            None => match Copier::new(&addr) {
                Ok(fresh) => fresh,
                Err(error @ KafkaError::ClientCreation(_)) => {
                    panic!("creating the copier: {error}")
                }
                Err(error) => {
                    eprintln!("creating the copier: {error}");
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
            },
        };
        let records = current.poll_batch(rng.random_range(1..200));
        if records.is_empty() {
            let ended = current.at_end.len() == PARTITIONS as usize;
            if ended && killed.load(Ordering::SeqCst) {
                break;
            }
            copier = Some(current);
            continue;
        }
        let abort = match (commits + aborts + failures) % 5 == 4 {
            true => Some(aborts),
            false => None,
        };
        match current.transaction(&records, abort) {
            Ok(true) => {
                commits += 1;
                acknowledged.extend(records.iter().map(|r| r.3.clone()));
                copier = Some(current);
            }
            Ok(false) => {
                aborts += 1;
                copier = Some(current);
            }
            Err(error) => {
                // A killed server forgets its transactional producers: start over from
                // the group's committed offsets with a new producer (what fences this one).
                eprintln!("transaction failed ({error}); recreating the copier");
                failures += 1;
            }
        }
    }
    kill_thread.join().expect("killer");
    eprintln!("{commits} commits, {aborts} aborts, {failures} failed transactions, {kills} kills");
    assert!(aborts > 0, "the loop aborted transactions");

    let output = read_committed(&addr, OUTPUT, PARTITIONS);
    let mut copies = BTreeMap::<Vec<u8>, u64>::new();
    for value in output.values().flatten() {
        *copies.entry(value.clone()).or_default() += 1;
    }
    let aborted_visible: Vec<_> = copies
        .keys()
        .filter(|v| v.starts_with(b"aborted-"))
        .collect();
    assert!(
        aborted_visible.is_empty(),
        "records of aborted transactions: {aborted_visible:?}"
    );
    for (_, value) in &inputs {
        let mut copied = b"copy-".to_vec();
        copied.extend_from_slice(value);
        let found = copies.get(&copied).copied();
        assert_eq!(
            found,
            Some(1),
            "{} copied once",
            String::from_utf8_lossy(value)
        );
    }
    assert_eq!(copies.len(), inputs.len(), "nothing but the copies");
    assert!(
        acknowledged.len() as u64 <= count,
        "acknowledged records are inputs"
    );

    fences_a_zombie(&addr);
}

/// A second producer with the same `transactional.id` fences the first: the first one's
/// commit fails and its record is never visible; the second one's is.
fn fences_a_zombie(addr: &str) {
    let create = || -> ThreadedProducer<rdkafka::producer::DefaultProducerContext> {
        let producer: ThreadedProducer<_> = producer_config(addr)
            .set("transactional.id", "zombie-test")
            .create()
            .expect("producer");
        producer.init_transactions(TXN_TIMEOUT).expect("init");
        producer
    };
    let zombie = create();
    zombie.begin_transaction().expect("begin");
    send_threaded(&zombie, OUTPUT, b"z", b"zombie").expect("send");
    zombie.flush(TXN_TIMEOUT).expect("flush");
    let live = create();
    live.begin_transaction().expect("begin");
    send_threaded(&live, OUTPUT, b"z", b"live").expect("send");
    live.commit_transaction(TXN_TIMEOUT).expect("live commit");
    assert!(
        zombie.commit_transaction(TXN_TIMEOUT).is_err(),
        "the zombie is fenced"
    );
    let values: Vec<_> = read_committed(addr, OUTPUT, PARTITIONS)
        .into_values()
        .flatten()
        .collect();
    assert_eq!(
        values.iter().filter(|v| *v == b"live").count(),
        1,
        "the live record once"
    );
    assert!(
        !values.iter().any(|v| v == b"zombie"),
        "the zombie's record is not visible"
    );
}
