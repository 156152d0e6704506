//! `bench pipe`: raw UDP datagram throughput on loopback against the exactly-once pipe
//! (resend + ID de-dup) at 0%, 1% and 10% injected loss, in memory and durable, plaintext
//! and inside a Noise IK secure channel (throughput and CPU time per message, encrypted
//! against plaintext), all measured in the same run; and the simulator's messages per
//! second.
//!
//! Each UDP measurement uses two threads (a sending end and a receiving end, one socket
//! each). Raw UDP is a blast: its figure is what the receiving thread got per second, which
//! is the receive path's capacity. The pipe's figure is messages confirmed per second, all
//! of them delivered exactly once (checked). Every figure is the median of `rounds`
//! interleaved rounds.

mod ends;
mod secure_ends;

use crate::error::{io_error, net_error, BenchError, Context};
use crate::stats::median_by;
use ends::{is_transient, receive_loop, send_loop, Loss, RecvEnd, SendEnd};
use exactly_core::StdStorage;
use exactly_pipe::secure::{InitiatorChannel, ResponderChannel};
use exactly_pipe::{
    DurableReceiver, DurableSender, PipeMode, Receiver, ReceiverConfig, Sender, SenderConfig,
};
use exactly_sim::{run as run_sim, NetConfig, SimConfig};
use secure_ends::{channel_alone_us, channel_pair, process_cpu_us, SecureRecv, SecureSend};
use serde::Serialize;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Settings of the pipe benchmark.
#[derive(Clone, Debug)]
#[cfg_attr(feature = "clap", derive(clap::Args))]
pub struct PipeBenchConfig {
    /// Messages per UDP measurement.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 200_000))]
    pub messages: u64,
    /// Message payload size.
    // At least 8 bytes: the id travels in it.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 1024))]
    pub message_bytes: usize,
    /// Pipe sender window (1 KiB frames: larger windows overflow the default loopback
    /// socket buffer and turn into loss).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 128))]
    pub window: u64,
    /// Pipe first resend timeout (fast retransmit and ack repeats recover most losses
    /// sooner; the timer is the last resort).
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 20))]
    pub resend_timeout_ms: u64,
    /// Messages per simulator measurement.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 1_000_000))]
    pub sim_messages: u64,
    /// Interleaved rounds; medians are reported.
    #[cfg_attr(feature = "clap", arg(long, default_value_t = 3))]
    pub rounds: usize,
}

impl Default for PipeBenchConfig {
    fn default() -> Self {
        Self {
            messages: 200_000,
            message_bytes: 1024,
            window: 128,
            resend_timeout_ms: 20,
            sim_messages: 1_000_000,
            rounds: 3,
        }
    }
}

/// One reported figure (the median round).
#[derive(Clone, Debug, Serialize)]
pub struct PipeRow {
    /// What was measured.
    #[serde(rename = "measurement")]
    pub name: String,
    /// Messages per second.
    pub messages_per_s: f64,
    /// Payload MiB per second.
    pub mib_per_s: f64,
    /// `messages_per_s` divided by raw UDP's (UDP measurements only).
    #[serde(rename = "ratio_to_raw_udp")]
    pub ratio_to_raw: Option<f64>,
    /// Process CPU time (both ends) per message in microseconds (UDP pipe measurements).
    pub cpu_us_per_message: Option<f64>,
    /// Secure-channel rows: messages per second relative to the same pipe in plaintext.
    #[serde(rename = "ratio_to_plaintext")]
    pub ratio_to_plaintext: Option<f64>,
    /// What else the median round showed (arrivals, resends, R and UR).
    pub note: String,
    /// Messages per second of every round, in round order.
    pub rounds_messages_per_s: Vec<f64>,
}

/// Everything `bench pipe` measured, in report order.
#[derive(Clone, Debug, Serialize)]
pub struct PipeReport {
    /// The figures.
    pub rows: Vec<PipeRow>,
}

/// The pipe configurations: (loss each way, durable ends, secure channel). Every secure
/// one has its plaintext twin in the same run.
const PIPES: [(f64, bool, bool); 8] = [
    (0.0, false, false),
    (0.01, false, false),
    (0.1, false, false),
    (0.0, true, false),
    (0.1, true, false),
    (0.0, false, true),
    (0.1, false, true),
    (0.0, true, true),
];

/// Runs the benchmark. `progress` is told what is being measured.
pub fn run(config: &PipeBenchConfig, progress: &dyn Fn(&str)) -> Result<PipeReport, BenchError> {
    if config.message_bytes < 8 || config.rounds == 0 || config.messages == 0 {
        return Err(BenchError::Settings(
            "message bytes must be at least 8, rounds and messages positive".into(),
        ));
    }
    let sims = [
        ("sim resend+id-dedup, perfect link", NetConfig::perfect()),
        ("sim resend+id-dedup, hostile link", NetConfig::hostile()),
    ];
    let mut raw = Vec::new();
    let mut pipes: Vec<Vec<PipeRow>> = PIPES.iter().map(|_| Vec::new()).collect();
    let mut sim_rows: Vec<Vec<PipeRow>> = sims.iter().map(|_| Vec::new()).collect();
    let mut channel_rows = Vec::new();
    for round in 0..config.rounds {
        progress(&format!("round {}: raw UDP", round + 1));
        raw.push(raw_udp(config)?);
        let mut order: Vec<usize> = (0..PIPES.len()).collect();
        if round % 2 == 1 {
            order.reverse();
        }
        for i in order {
            let (Some(&(loss, durable, secure)), Some(rows)) = (PIPES.get(i), pipes.get_mut(i))
            else {
                continue;
            };
            progress(&format!(
                "round {}: pipe, {:.0}% loss{}",
                round + 1,
                loss * 100.0,
                if secure { ", encrypted" } else { "" }
            ));
            rows.push(pipe_udp(config, loss, durable, secure)?);
        }
        progress(&format!("round {}: secure channel alone", round + 1));
        channel_rows.push(channel_row(config)?);
        for ((name, net), rows) in sims.iter().zip(sim_rows.iter_mut()) {
            progress(&format!("round {}: {name}", round + 1));
            rows.push(sim_row(name, config, net.clone()));
        }
    }
    let raw = median_row(raw)?;
    let raw_rate = raw.messages_per_s;
    let mut rows = vec![raw];
    let mut pipe_rows = Vec::new();
    for results in pipes {
        let mut row = median_row(results)?;
        row.ratio_to_raw = Some(row.messages_per_s / raw_rate.max(1e-9));
        pipe_rows.push(row);
    }
    compare_to_plaintext(&mut pipe_rows);
    rows.extend(pipe_rows);
    rows.push(median_row(channel_rows)?);
    for results in sim_rows {
        rows.push(median_row(results)?);
    }
    Ok(PipeReport { rows })
}

/// Gives each secure row its ratio to the plaintext row of the same loss and durability
/// (rows are in [`PIPES`] order).
fn compare_to_plaintext(rows: &mut [PipeRow]) {
    let plain: Vec<(usize, f64, Option<f64>)> = PIPES
        .iter()
        .zip(rows.iter())
        .enumerate()
        .map(|(i, (_, row))| (i, row.messages_per_s, row.cpu_us_per_message))
        .collect();
    for (i, &(loss, durable, secure)) in PIPES.iter().enumerate() {
        if !secure {
            continue;
        }
        let twin = PIPES
            .iter()
            .position(|&(l, d, s)| l == loss && d == durable && !s)
            .and_then(|t| plain.get(t));
        let (Some(&(_, plain_rate, plain_cpu)), Some(row)) = (twin, rows.get_mut(i)) else {
            continue;
        };
        row.ratio_to_plaintext = Some(row.messages_per_s / plain_rate.max(1e-9));
        if let (Some(cpu), Some(plain_cpu)) = (row.cpu_us_per_message, plain_cpu) {
            row.note.push_str(&format!(
                "; CPU {cpu:.2} us/msg vs {plain_cpu:.2} plaintext (+{:.2})",
                cpu - plain_cpu
            ));
        }
    }
}

fn median_row(results: Vec<PipeRow>) -> Result<PipeRow, BenchError> {
    let rounds: Vec<f64> = results.iter().map(|r| r.messages_per_s).collect();
    let mut row = median_by(results, |r| r.messages_per_s)
        .ok_or_else(|| BenchError::Settings("no rounds measured".into()))?;
    row.rounds_messages_per_s = rounds;
    Ok(row)
}

fn mib(messages_per_s: f64, bytes: usize) -> f64 {
    messages_per_s * bytes as f64 / (1024.0 * 1024.0)
}

fn socket_pair() -> Result<(UdpSocket, UdpSocket), BenchError> {
    let a = UdpSocket::bind("127.0.0.1:0").map_err(net_error("binding"))?;
    let b = UdpSocket::bind("127.0.0.1:0").map_err(net_error("binding"))?;
    let (a_addr, b_addr) = (
        a.local_addr().map_err(net_error("local address"))?,
        b.local_addr().map_err(net_error("local address"))?,
    );
    a.connect(b_addr).map_err(net_error("connecting"))?;
    b.connect(a_addr).map_err(net_error("connecting"))?;
    Ok((a, b))
}

/// Raw UDP: one thread blasts datagrams, the other counts what arrives.
fn raw_udp(config: &PipeBenchConfig) -> Result<PipeRow, BenchError> {
    let (tx, rx) = socket_pair()?;
    rx.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(net_error("setting a timeout"))?;
    let n = config.messages;
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
                // The timeout ends the count: the sender is done and the rest was dropped.
                Err(_) => break,
            }
        }
        (got, first, last)
    });
    let payload = vec![0xA5u8; config.message_bytes];
    for _ in 0..n {
        if let Err(e) = tx.send(&payload) {
            if !is_transient(&e) {
                return Err(net_error("raw send")(e));
            }
        }
    }
    let (got, first, last) = receiver.join().map_err(|_| BenchError::ThreadPanicked)?;
    let secs = match (first, last) {
        (Some(f), Some(l)) => l.duration_since(f).as_secs_f64().max(1e-9),
        _ => return Err(BenchError::Check("raw UDP: nothing arrived".into())),
    };
    let rate = got as f64 / secs;
    Ok(PipeRow {
        name: "raw UDP datagrams (receive capacity)".into(),
        messages_per_s: rate,
        mib_per_s: mib(rate, config.message_bytes),
        ratio_to_raw: Some(1.0),
        cpu_us_per_message: None,
        ratio_to_plaintext: None,
        note: format!("{got} of {n} arrived (the rest overflowed the socket buffer)"),
        rounds_messages_per_s: Vec::new(),
    })
}

/// The exactly-once pipe over loopback with `loss` injected on data and acks, in plaintext
/// or inside a secure channel.
fn pipe_udp(
    config: &PipeBenchConfig,
    loss: f64,
    durable: bool,
    secure: bool,
) -> Result<PipeRow, BenchError> {
    let (tx, rx) = socket_pair()?;
    let sender_address = tx.local_addr().map_err(net_error("local address"))?;
    let (initiator, responder, sender_id) = if secure {
        let (i, r, id) = channel_pair()?;
        (Some(i), Some(r), id)
    } else {
        (None, None, 1)
    };
    let cpu_start_us = process_cpu_us()?;
    let temp = std::env::temp_dir();
    let dir = tempfile::tempdir().map_err(io_error("creating a directory in", &temp))?;
    let (send_dir, recv_dir) = (dir.path().join("send"), dir.path().join("recv"));
    tx.set_nonblocking(true)
        .map_err(net_error("setting non-blocking"))?;
    rx.set_read_timeout(Some(Duration::from_millis(1)))
        .map_err(net_error("setting a timeout"))?;
    let stop = Arc::new(AtomicBool::new(false));
    let n = config.messages;
    let receiver = {
        let stop = stop.clone();
        std::thread::spawn(move || -> Result<(u64, u64), BenchError> {
            let mut receiver_config = ReceiverConfig::for_mode(PipeMode::ResendIdDedup);
            receiver_config.gap_ids_max = 4096;
            let loss = Loss::new(loss, 2);
            if durable {
                let storage = Arc::new(StdStorage);
                let end = DurableReceiver::open(storage, &recv_dir, receiver_config)
                    .during("opening the durable receiver")?;
                receive_with(&rx, end, responder, sender_address, &stop, loss, n)
            } else {
                let end = Receiver::new(receiver_config);
                receive_with(&rx, end, responder, sender_address, &stop, loss, n)
            }
        })
    };
    let started = Instant::now();
    let mut sender_config = SenderConfig::for_mode(PipeMode::ResendIdDedup, sender_id);
    sender_config.in_flight_max = config.window;
    sender_config.resend_timeout_ms = config.resend_timeout_ms;
    sender_config.resend_timeout_max_ms = config.resend_timeout_ms * 8;
    let send_loss = Loss::new(loss, 1);
    let (messages, bytes) = (config.messages, config.message_bytes);
    let sent = if durable {
        let storage = Arc::new(StdStorage);
        DurableSender::open(storage, &send_dir, sender_config, 0)
            .during("opening the durable sender")
            .and_then(|end| send_with(&tx, end, initiator, messages, bytes, send_loss))
    } else {
        let end = Sender::new(sender_config);
        send_with(&tx, end, initiator, messages, bytes, send_loss)
    };
    let elapsed = started.elapsed().as_secs_f64().max(1e-9);
    stop.store(true, Ordering::Relaxed);
    let (delivered, unique) = receiver.join().map_err(|_| BenchError::ThreadPanicked)??;
    let cpu_us = process_cpu_us()?.saturating_sub(cpu_start_us);
    let (frames, resends) = sent?;
    if delivered != n || unique != n {
        return Err(BenchError::Check(format!(
            "pipe not exactly-once: {delivered} delivered, {unique} unique of {n}"
        )));
    }
    let rate = n as f64 / elapsed;
    Ok(PipeRow {
        name: format!(
            "exactly-once pipe{}{}, {:.0}% loss each way",
            if durable { " (durable, fsync)" } else { "" },
            if secure { ", encrypted (Noise IK)" } else { "" },
            loss * 100.0
        ),
        messages_per_s: rate,
        mib_per_s: mib(rate, config.message_bytes),
        ratio_to_raw: None,
        cpu_us_per_message: Some(cpu_us as f64 / n as f64),
        ratio_to_plaintext: None,
        note: format!("R=1 UR=1 checked; {frames} frames, {resends} resends"),
        rounds_messages_per_s: Vec::new(),
    })
}

/// Drives `end` (behind `channel` when given) as the sending end.
fn send_with<S: SendEnd>(
    socket: &UdpSocket,
    mut end: S,
    channel: Option<InitiatorChannel>,
    messages: u64,
    message_bytes: usize,
    loss: Loss,
) -> Result<(u64, u64), BenchError> {
    match channel {
        Some(channel) => {
            let mut end = SecureSend {
                end,
                channel,
                now_ms: 0,
            };
            send_loop(socket, &mut end, messages, message_bytes, loss)
        }
        None => send_loop(socket, &mut end, messages, message_bytes, loss),
    }
}

/// Drives `end` (behind `channel` when given) as the receiving end.
fn receive_with<R: RecvEnd>(
    socket: &UdpSocket,
    mut end: R,
    channel: Option<ResponderChannel>,
    from: SocketAddr,
    stop: &AtomicBool,
    loss: Loss,
    n: u64,
) -> Result<(u64, u64), BenchError> {
    match channel {
        Some(channel) => {
            let mut end = SecureRecv {
                end,
                channel,
                from,
                now_ms: 0,
            };
            receive_loop(socket, &mut end, stop, loss, n)
        }
        None => receive_loop(socket, &mut end, stop, loss, n),
    }
}

/// The secure channel's own cost: seal + open of each data frame and of an ack-sized
/// frame back, in memory on one core.
fn channel_row(config: &PipeBenchConfig) -> Result<PipeRow, BenchError> {
    let (wall_us, cpu_us) = channel_alone_us(config.messages, config.message_bytes)?;
    let rate = 1e6 / wall_us.max(1e-9);
    Ok(PipeRow {
        name: "secure channel alone (seal + open data and ack, one thread)".into(),
        messages_per_s: rate,
        mib_per_s: mib(rate, config.message_bytes),
        ratio_to_raw: None,
        cpu_us_per_message: Some(cpu_us),
        ratio_to_plaintext: None,
        note: format!(
            "ChaCha20-Poly1305 both ways, replay window, framing; no sockets; wall \
             {wall_us:.2} us/msg"
        ),
        rounds_messages_per_s: Vec::new(),
    })
}

fn sim_row(name: &str, config: &PipeBenchConfig, net: NetConfig) -> PipeRow {
    let sim = SimConfig::new(PipeMode::ResendIdDedup, net, config.sim_messages, 1);
    let started = Instant::now();
    let report = run_sim(&sim);
    let secs = started.elapsed().as_secs_f64().max(1e-9);
    let rate = config.sim_messages as f64 / secs;
    let rel = report.end_to_end.reliability();
    PipeRow {
        name: name.into(),
        messages_per_s: rate,
        mib_per_s: mib(rate, sim.payload_bytes),
        ratio_to_raw: None,
        cpu_us_per_message: None,
        ratio_to_plaintext: None,
        note: format!(
            "R={:.4} UR={:.4}, {} frames, goal >= 1M msg/s",
            rel.r,
            rel.ur,
            report.frames_sent()
        ),
        rounds_messages_per_s: Vec::new(),
    }
}
