//! `exactly bench pipe`: raw UDP datagram throughput on loopback against the exactly-once
//! pipe (resend + ID de-dup) at 0%, 1% and 10% injected loss, 1 KiB messages, all measured
//! in the same run; and the simulator's messages per second.
//!
//! Each UDP measurement uses two threads (a sending end and a receiving end, one socket
//! each). Raw UDP is a blast: its figure is what the receiving thread got per second, which
//! is the receive path's capacity. The pipe's figure is messages confirmed per second, all
//! of them delivered exactly once (checked).

use crate::pipe_cmd::udp::is_transient;
use anyhow::{ensure, Context};
use exactly_core::StdStorage;
use exactly_pipe::{
    Delivery, DurableReceiver, DurableSender, PipeMode, Receiver, ReceiverConfig, SeenSet, Sender,
    SenderConfig, SenderStats,
};
use exactly_sim::{run as run_sim, NetConfig, SimConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Arguments of `exactly bench pipe`.
#[derive(clap::Args, Debug)]
pub struct PipeBenchArgs {
    /// Messages per UDP measurement.
    #[arg(long, default_value_t = 200_000)]
    messages: u64,
    /// Message payload size.
    #[arg(long, default_value_t = 1024)]
    message_bytes: usize,
    /// Pipe sender window (1 KiB frames: larger windows overflow the default loopback
    /// socket buffer and turn into loss).
    #[arg(long, default_value_t = 128)]
    window: u64,
    /// Pipe first resend timeout (fast retransmit and ack repeats recover most losses
    /// sooner; the timer is the last resort).
    #[arg(long, default_value_t = 20)]
    resend_timeout_ms: u64,
    /// Messages per simulator measurement.
    #[arg(long, default_value_t = 1_000_000)]
    sim_messages: u64,
    /// Print JSON lines instead of a table.
    #[arg(long)]
    json: bool,
}

/// One row of the result.
struct Row {
    name: String,
    messages_per_s: f64,
    mib_per_s: f64,
    ratio_to_raw: Option<f64>,
    note: String,
}

/// Runs the benchmark.
pub fn run(args: PipeBenchArgs) -> anyhow::Result<()> {
    ensure!(
        args.message_bytes >= 8,
        "--message-bytes must be at least 8"
    );
    let mut rows = Vec::new();
    let raw = raw_udp(&args)?;
    let raw_rate = raw.messages_per_s;
    rows.push(raw);
    for (loss, durable) in [
        (0.0, false),
        (0.01, false),
        (0.1, false),
        (0.0, true),
        (0.1, true),
    ] {
        let mut row = pipe_udp(&args, loss, durable)?;
        row.ratio_to_raw = Some(row.messages_per_s / raw_rate);
        rows.push(row);
    }
    rows.push(sim_row(
        "sim resend+id-dedup, perfect link",
        &args,
        NetConfig::perfect(),
    ));
    rows.push(sim_row(
        "sim resend+id-dedup, hostile link",
        &args,
        NetConfig::hostile(),
    ));
    print_rows(&rows, args.json);
    Ok(())
}

fn print_rows(rows: &[Row], json: bool) {
    if !json {
        println!(
            "{:<52} {:>12} {:>9} {:>8}  note",
            "measurement", "msg/s", "MiB/s", "vs raw"
        );
    }
    for r in rows {
        if json {
            let v = json!({"measurement": r.name, "messages_per_s": r.messages_per_s,
                "mib_per_s": r.mib_per_s, "ratio_to_raw_udp": r.ratio_to_raw, "note": r.note});
            println!("{v}");
        } else {
            let ratio = r
                .ratio_to_raw
                .map_or("-".to_owned(), |x| format!("{:.0}%", x * 100.0));
            println!(
                "{:<52} {:>12.0} {:>9.1} {:>8}  {}",
                r.name, r.messages_per_s, r.mib_per_s, ratio, r.note
            );
        }
    }
}

fn mib(messages_per_s: f64, bytes: usize) -> f64 {
    messages_per_s * bytes as f64 / (1024.0 * 1024.0)
}

fn socket_pair() -> anyhow::Result<(UdpSocket, UdpSocket)> {
    let a = UdpSocket::bind("127.0.0.1:0").context("binding")?;
    let b = UdpSocket::bind("127.0.0.1:0").context("binding")?;
    a.connect(b.local_addr()?)?;
    b.connect(a.local_addr()?)?;
    Ok((a, b))
}

/// Raw UDP: one thread blasts datagrams, the other counts what arrives.
fn raw_udp(args: &PipeBenchArgs) -> anyhow::Result<Row> {
    let (tx, rx) = socket_pair()?;
    rx.set_read_timeout(Some(Duration::from_millis(200)))?;
    let n = args.messages;
    let receiver = std::thread::spawn(move || -> (u64, Option<Instant>, Option<Instant>) {
        let mut buf = vec![0u8; 65_536];
        let (mut got, mut first, mut last) = (0u64, None, None);
        while got < n {
            match rx.recv(&mut buf) {
                Ok(_) => {
                    got += 1;
                    let now = Instant::now();
                    first.get_or_insert(now);
                    last = Some(now);
                }
                Err(_) => break,
            }
        }
        (got, first, last)
    });
    let payload = vec![0xA5u8; args.message_bytes];
    for _ in 0..n {
        if let Err(e) = tx.send(&payload) {
            ensure!(is_transient(&e), "raw send: {e}");
        }
    }
    let (got, first, last) = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("raw receiver thread panicked"))?;
    let secs = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64().max(1e-9),
        _ => anyhow::bail!("raw UDP: nothing arrived"),
    };
    let rate = got as f64 / secs;
    Ok(Row {
        name: "raw UDP datagrams (receive capacity)".into(),
        messages_per_s: rate,
        mib_per_s: mib(rate, args.message_bytes),
        ratio_to_raw: Some(1.0),
        note: format!("{got} of {n} arrived (the rest overflowed the socket buffer)"),
    })
}

/// Loss injected into what an end sends.
fn keep(rng: &mut SmallRng, loss: f64) -> bool {
    loss <= 0.0 || rng.random::<f64>() >= loss
}

/// The exactly-once pipe over loopback with `loss` injected on data and acks.
fn pipe_udp(args: &PipeBenchArgs, loss: f64, durable: bool) -> anyhow::Result<Row> {
    let (tx, rx) = socket_pair()?;
    let dir = tempfile::tempdir().context("temp dir for durable state")?;
    let (send_dir, recv_dir) = (dir.path().join("send"), dir.path().join("recv"));
    tx.set_nonblocking(true)?;
    rx.set_read_timeout(Some(Duration::from_millis(1)))?;
    let stop = Arc::new(AtomicBool::new(false));
    let n = args.messages;
    let receiver = {
        let stop = stop.clone();
        std::thread::spawn(move || -> anyhow::Result<(u64, u64)> {
            let mut config = ReceiverConfig::for_mode(PipeMode::ResendIdDedup);
            config.gap_ids_max = 4096;
            if durable {
                let storage = Arc::new(StdStorage);
                let mut end = DurableReceiver::open(storage, &recv_dir, config)?;
                receive_loop(&rx, &mut end, &stop, loss, n)
            } else {
                receive_loop(&rx, &mut Receiver::new(config), &stop, loss, n)
            }
        })
    };
    let started = Instant::now();
    let mut config = SenderConfig::for_mode(PipeMode::ResendIdDedup, 1);
    config.in_flight_max = args.window;
    config.resend_timeout_ms = args.resend_timeout_ms;
    config.resend_timeout_max_ms = args.resend_timeout_ms * 8;
    let sent = if durable {
        let storage = Arc::new(StdStorage);
        let mut end = DurableSender::open(storage, &send_dir, config, 0)?;
        send_loop(&tx, &mut end, args, loss)
    } else {
        send_loop(&tx, &mut Sender::new(config), args, loss)
    };
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    stop.store(true, Ordering::Relaxed);
    let (delivered, unique) = receiver
        .join()
        .map_err(|_| anyhow::anyhow!("pipe receiver thread panicked"))??;
    let (frames, resends) = sent?;
    ensure!(
        delivered == n && unique == n,
        "pipe not exactly-once: {delivered} delivered, {unique} unique of {n}"
    );
    let rate = n as f64 / elapsed;
    Ok(Row {
        name: format!(
            "exactly-once pipe{}, {:.0}% loss each way",
            if durable { " (durable, fsync)" } else { "" },
            loss * 100.0
        ),
        messages_per_s: rate,
        mib_per_s: mib(rate, args.message_bytes),
        ratio_to_raw: None,
        note: format!("R=1 UR=1 checked; {frames} frames, {resends} resends"),
    })
}

/// A sending end as the bench drives it: in memory, or durable (journal + fsync per batch).
trait SendEnd {
    fn can_send(&self) -> bool;
    fn send(&mut self, now_ms: u64, payload: &[u8]) -> anyhow::Result<()>;
    /// Makes accepted messages durable (durable end) before they go on the wire.
    fn flush(&mut self, now_ms: u64) -> anyhow::Result<()>;
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]);
    fn handle_timeout(&mut self, now_ms: u64);
    fn poll_confirmed(&mut self) -> anyhow::Result<bool>;
    fn stats(&self) -> SenderStats;
}

impl SendEnd for Sender {
    fn can_send(&self) -> bool {
        Sender::can_send(self)
    }
    fn send(&mut self, now_ms: u64, payload: &[u8]) -> anyhow::Result<()> {
        Sender::send(self, now_ms, payload)?;
        Ok(())
    }
    fn flush(&mut self, _now_ms: u64) -> anyhow::Result<()> {
        Ok(())
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        Sender::poll_transmit(self)
    }
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) {
        Sender::handle_frame(self, now_ms, bytes);
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        Sender::handle_timeout(self, now_ms);
    }
    fn poll_confirmed(&mut self) -> anyhow::Result<bool> {
        Ok(self.poll_event().is_some())
    }
    fn stats(&self) -> SenderStats {
        Sender::stats(self)
    }
}

impl SendEnd for DurableSender {
    fn can_send(&self) -> bool {
        DurableSender::can_send(self)
    }
    fn send(&mut self, _now_ms: u64, payload: &[u8]) -> anyhow::Result<()> {
        DurableSender::send(self, payload)?;
        Ok(())
    }
    fn flush(&mut self, now_ms: u64) -> anyhow::Result<()> {
        Ok(self.commit(now_ms)?)
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        DurableSender::poll_transmit(self)
    }
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) {
        DurableSender::handle_frame(self, now_ms, bytes);
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        DurableSender::handle_timeout(self, now_ms);
    }
    fn poll_confirmed(&mut self) -> anyhow::Result<bool> {
        Ok(self.poll_event()?.is_some())
    }
    fn stats(&self) -> SenderStats {
        self.sender().stats()
    }
}

/// A receiving end as the bench drives it.
trait RecvEnd {
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> anyhow::Result<()>;
    fn handle_timeout(&mut self, now_ms: u64);
    /// Deliveries made durable (durable end: one fsync) and confirmed.
    fn take_deliveries(&mut self) -> anyhow::Result<Vec<Delivery>>;
    fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)>;
}

impl RecvEnd for Receiver {
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> anyhow::Result<()> {
        Receiver::handle_frame(self, now_ms, bytes);
        Ok(())
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        Receiver::handle_timeout(self, now_ms);
    }
    fn take_deliveries(&mut self) -> anyhow::Result<Vec<Delivery>> {
        Ok(std::iter::from_fn(|| self.poll_delivery()).collect())
    }
    fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)> {
        Receiver::poll_transmit(self)
    }
}

impl RecvEnd for DurableReceiver {
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> anyhow::Result<()> {
        Ok(DurableReceiver::handle_frame(self, now_ms, bytes)?)
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        DurableReceiver::handle_timeout(self, now_ms);
    }
    fn take_deliveries(&mut self) -> anyhow::Result<Vec<Delivery>> {
        Ok(self.commit()?)
    }
    fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)> {
        DurableReceiver::poll_transmit(self)
    }
}

fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn send_loop(
    socket: &UdpSocket,
    sender: &mut impl SendEnd,
    args: &PipeBenchArgs,
    loss: f64,
) -> anyhow::Result<(u64, u64)> {
    let mut rng = SmallRng::seed_from_u64(1);
    let mut payload = vec![0u8; args.message_bytes];
    let mut buf = vec![0u8; 65_536];
    let (start, mut next, mut done) = (Instant::now(), 0u64, 0u64);
    while done < args.messages {
        let now = elapsed_ms(start);
        while next < args.messages && sender.can_send() {
            if let Some(head) = payload.get_mut(..8) {
                head.copy_from_slice(&next.to_le_bytes());
            }
            sender.send(now, &payload)?;
            next += 1;
        }
        sender.flush(now)?;
        while let Some(f) = sender.poll_transmit() {
            if keep(&mut rng, loss) {
                if let Err(e) = socket.send(&f) {
                    ensure!(is_transient(&e), "pipe send: {e}");
                }
            }
        }
        let mut idle = true;
        loop {
            match socket.recv(&mut buf) {
                Ok(len) => {
                    idle = false;
                    sender.handle_frame(now, buf.get(..len).unwrap_or_default());
                }
                Err(e) if is_transient(&e) => break,
                Err(e) => return Err(e).context("pipe recv"),
            }
        }
        sender.handle_timeout(elapsed_ms(start));
        while sender.poll_confirmed()? {
            done += 1;
        }
        if idle && !sender.can_send() {
            // Window full and nothing to read: leave the core to the receiving thread.
            std::thread::sleep(Duration::from_micros(50));
        }
    }
    let stats = sender.stats();
    Ok((stats.frames_sent, stats.resends))
}

fn receive_loop(
    socket: &UdpSocket,
    receiver: &mut impl RecvEnd,
    stop: &AtomicBool,
    loss: f64,
    n: u64,
) -> anyhow::Result<(u64, u64)> {
    let mut rng = SmallRng::seed_from_u64(2);
    let mut seen = SeenSet::with_capacity(n);
    let (mut delivered, mut unique) = (0u64, 0u64);
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        // Wait (up to the read timeout) for the first frame only, then take what is queued:
        // acks must not wait for a full batch.
        socket.set_nonblocking(false)?;
        for i in 0..64 {
            if i == 1 {
                socket.set_nonblocking(true)?;
            }
            match socket.recv(&mut buf) {
                Ok(len) => {
                    let now = elapsed_ms(start);
                    receiver.handle_frame(now, buf.get(..len).unwrap_or_default())?;
                }
                Err(e) if is_transient(&e) => break,
                Err(e) => return Err(e).context("pipe receiver recv"),
            }
        }
        receiver.handle_timeout(elapsed_ms(start));
        for d in receiver.take_deliveries()? {
            delivered += 1;
            let id = d
                .payload
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map_or(u64::MAX, u64::from_le_bytes);
            unique += u64::from(seen.insert(id));
        }
        while let Some((_, ack)) = receiver.poll_transmit() {
            if keep(&mut rng, loss) {
                if let Err(e) = socket.send(&ack) {
                    ensure!(is_transient(&e), "ack send: {e}");
                }
            }
        }
    }
    Ok((delivered, unique))
}

fn sim_row(name: &str, args: &PipeBenchArgs, net: NetConfig) -> Row {
    let config = SimConfig::new(PipeMode::ResendIdDedup, net, args.sim_messages, 1);
    let started = Instant::now();
    let report = run_sim(&config);
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let rate = args.sim_messages as f64 / secs;
    let rel = report.end_to_end.reliability();
    Row {
        name: name.into(),
        messages_per_s: rate,
        mib_per_s: mib(rate, config.payload_bytes),
        ratio_to_raw: None,
        note: format!(
            "R={:.4} UR={:.4}, {} frames, goal >= 1M msg/s",
            rel.r,
            rel.ur,
            report.frames_sent()
        ),
    }
}
