//! What this crate's tests share: `exactly serve` in a child process (this same test
//! binary, re-run with environment variables, so a test can SIGKILL it), librdkafka
//! producers and a read-committed reader, seeds.
#![allow(dead_code)] // each test file uses a part
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::KafkaError;
use rdkafka::message::Message;
use rdkafka::producer::{
    BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer,
};
use rdkafka::types::RDKafkaErrorCode;
use rdkafka::{ClientConfig, ClientContext, Offset, TopicPartitionList};
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Set in a child to make [`serve_child_if_asked`] serve this log directory.
const CHILD_DIR_ENV: &str = "EXACTLY_RDKAFKA_TEST_SERVER_DIR";
const CHILD_LISTEN_ENV: &str = "EXACTLY_RDKAFKA_TEST_SERVER_LISTEN";
/// `topic:partitions,…` the child creates before serving (if missing).
const CHILD_TOPICS_ENV: &str = "EXACTLY_RDKAFKA_TEST_SERVER_TOPICS";

/// Each test file calls this from a test named `server_child`: in a child started by
/// [`ServerProc::start`] it serves forever; in a normal run it returns at once.
pub fn serve_child_if_asked() {
    let (Ok(dir), Ok(listen)) = (
        std::env::var(CHILD_DIR_ENV),
        std::env::var(CHILD_LISTEN_ENV),
    ) else {
        return;
    };
    let log = exactly_log::Log::open(&dir, exactly_log::LogConfig::default())
        .unwrap_or_else(|e| child_exit(&format!("opening {dir}: {e}")));
    if let Ok(topics) = std::env::var(CHILD_TOPICS_ENV) {
        for spec in topics.split(',').filter(|s| !s.is_empty()) {
            let (topic, partitions) = spec.split_once(':').expect("topic:partitions");
            let partitions: u32 = partitions.parse().expect("a partition count");
            if log.partition_count(topic).is_none() {
                log.create_topic(topic, partitions)
                    .unwrap_or_else(|e| child_exit(&format!("creating {topic}: {e}")));
            }
        }
    }
    let log: &'static exactly_log::Log = Box::leak(Box::new(log));
    let options = exactly_kafka::ServerOptions {
        listen: listen
            .parse()
            .unwrap_or_else(|e| child_exit(&format!("bad address {listen}: {e}"))),
        ..exactly_kafka::ServerOptions::default()
    };
    let served = exactly_kafka::serve_blocking(log, options, |addr| {
        println!("listening on {addr}");
    });
    child_exit(&format!("stopped: {served:?}"));
}

fn child_exit(message: &str) -> ! {
    eprintln!("server child: {message}");
    std::process::exit(3)
}

/// The server running in a child process; SIGKILLed when dropped.
pub struct ServerProc {
    child: Child,
    dir: PathBuf,
    topics: String,
    /// `host:port` it listens on.
    pub addr: String,
    test_name: String,
    /// Kills so far.
    pub kills: u32,
}

impl ServerProc {
    /// Starts the server of the calling test binary (`test_name` is the test that calls
    /// [`serve_child_if_asked`]) on `dir` at a free loopback port, creating `topics`
    /// (`topic:partitions,…`).
    pub fn start(test_name: &str, dir: &Path, topics: &str) -> std::io::Result<Self> {
        let (child, addr) = spawn(test_name, dir, "127.0.0.1:0", topics)?;
        Ok(Self {
            child,
            dir: dir.to_path_buf(),
            topics: topics.to_string(),
            addr,
            test_name: test_name.to_string(),
            kills: 0,
        })
    }

    /// SIGKILLs the server and waits for it to be gone.
    pub fn kill(&mut self) -> std::io::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        self.kills += 1;
        Ok(())
    }

    /// Starts it again on the same directory and address.
    pub fn restart(&mut self) -> std::io::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            match spawn(&self.test_name, &self.dir, &self.addr, &self.topics) {
                Ok((child, _)) => {
                    self.child = child;
                    return Ok(());
                }
                // The port may linger for a moment after the kill.
                Err(e) if Instant::now() < deadline => {
                    eprintln!("restart failed ({e}); retrying");
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

impl Drop for ServerProc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(
    test_name: &str,
    dir: &Path,
    addr: &str,
    topics: &str,
) -> std::io::Result<(Child, String)> {
    let mut child = Command::new(std::env::current_exe()?)
        .args([test_name, "--exact", "--nocapture", "--test-threads", "1"])
        .env(CHILD_DIR_ENV, dir)
        .env(CHILD_LISTEN_ENV, addr)
        .env(CHILD_TOPICS_ENV, topics)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| std::io::Error::other("no stdout"))?;
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        let line = line?;
        // The test harness may print "test server_child ... " on the same line first.
        if let Some((_, addr)) = line.split_once("listening on ") {
            let addr = addr.trim().to_string();
            // Keep draining its stdout so the child never blocks on a full pipe.
            std::thread::spawn(move || for _ in lines {});
            return Ok((child, addr));
        }
    }
    let _ = child.kill();
    let status = child.wait()?;
    Err(std::io::Error::other(format!(
        "server child exited before listening: {status}"
    )))
}

/// The seed of a randomized test: `EXACTLY_SEED` or the clock; printed so a failure
/// can be replayed.
pub fn seed() -> u64 {
    let seed = match std::env::var("EXACTLY_SEED") {
        Ok(text) => text.parse().expect("EXACTLY_SEED is a number"),
        Err(_) => std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_nanos() as u64,
    };
    eprintln!("seed: {seed} (EXACTLY_SEED={seed} replays it)");
    seed
}

/// A number from the environment, or `default`.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text.parse().expect("a number"),
        Err(_) => default,
    }
}

/// Counts delivery reports.
#[derive(Default)]
pub struct Deliveries {
    /// Records acknowledged.
    pub delivered: AtomicU64,
    /// Records that failed.
    pub failed: AtomicU64,
}

impl ClientContext for Deliveries {}

impl ProducerContext for Deliveries {
    type DeliveryOpaque = ();

    fn delivery(&self, result: &DeliveryResult<'_>, _: ()) {
        match result {
            Ok(_) => self.delivered.fetch_add(1, Ordering::SeqCst),
            Err((error, _)) => {
                eprintln!("delivery failed: {error}");
                self.failed.fetch_add(1, Ordering::SeqCst)
            }
        };
    }
}

/// Producer settings: idempotent, acks=all, quick reconnects.
pub fn producer_config(addr: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", "5")
        .set("reconnect.backoff.max.ms", "500")
        .set("message.timeout.ms", "60000");
    config
}

/// Sends `record` on `producer`, polling while librdkafka's queue is full.
pub fn send<C: ProducerContext<DeliveryOpaque = ()>>(
    producer: &BaseProducer<C>,
    topic: &str,
    key: &[u8],
    value: &[u8],
) -> Result<(), KafkaError> {
    let mut record = BaseRecord::to(topic).key(key).payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                producer.poll(Duration::from_millis(10));
                record = back;
            }
            Err((error, _)) => return Err(error),
        }
    }
}

/// Sends every `(key, value)` with an idempotent producer and waits for every ack.
pub fn produce_all(addr: &str, topic: &str, records: &[(Vec<u8>, Vec<u8>)]) {
    let producer: BaseProducer<Deliveries> = producer_config(addr)
        .create_with_context(Deliveries::default())
        .expect("producer");
    for (key, value) in records {
        send(&producer, topic, key, value).expect("send");
    }
    producer.flush(Duration::from_secs(60)).expect("flush");
    let context = producer.context();
    assert_eq!(
        context.failed.load(Ordering::SeqCst),
        0,
        "deliveries failed"
    );
    assert_eq!(
        context.delivered.load(Ordering::SeqCst),
        records.len() as u64,
        "every record acknowledged"
    );
}

/// A read-committed consumer with partitions assigned by hand.
pub fn reader_config(addr: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", addr)
        .set("group.id", "exactly-test-reader")
        .set("enable.auto.commit", "false")
        .set("isolation.level", "read_committed")
        .set("enable.partition.eof", "true");
    config
}

/// Every committed value of `topic` (`partitions` partitions) per partition, in order,
/// read with librdkafka from the beginning to each partition's end.
pub fn read_committed(addr: &str, topic: &str, partitions: u32) -> BTreeMap<u32, Vec<Vec<u8>>> {
    let consumer: BaseConsumer = reader_config(addr).create().expect("consumer");
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition as i32, Offset::Beginning)
            .expect("assignment");
    }
    consumer.assign(&assignment).expect("assign");
    let mut values: BTreeMap<u32, Vec<Vec<u8>>> = BTreeMap::new();
    let mut ended = std::collections::BTreeSet::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while ended.len() < partitions as usize {
        assert!(
            Instant::now() < deadline,
            "reading {topic} did not reach its end"
        );
        match consumer.poll(Duration::from_millis(100)) {
            None => {}
            Some(Ok(message)) => {
                let partition = message.partition() as u32;
                ended.remove(&partition);
                let value = message.payload().expect("a value").to_vec();
                values.entry(partition).or_default().push(value);
            }
            Some(Err(KafkaError::PartitionEOF(partition))) => {
                ended.insert(partition as u32);
            }
            Some(Err(error)) => eprintln!("reader: {error}"),
        }
    }
    values
}

/// [`send`] for a producer that serves its delivery reports on a thread of its own
/// (what aborting a transaction needs).
pub fn send_threaded(
    producer: &ThreadedProducer<rdkafka::producer::DefaultProducerContext>,
    topic: &str,
    key: &[u8],
    value: &[u8],
) -> Result<(), KafkaError> {
    let mut record = BaseRecord::to(topic).key(key).payload(value);
    loop {
        match producer.send(record) {
            Ok(()) => return Ok(()),
            Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                std::thread::sleep(Duration::from_millis(10));
                record = back;
            }
            Err((error, _)) => return Err(error),
        }
    }
}
