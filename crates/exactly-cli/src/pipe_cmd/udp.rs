//! The UDP drivers of the durable pipe ends: sockets, wall-clock time and fault injection
//! around the sans-IO state machines.

use super::{delivery_json, FaultArgs, InputLines, RecvArgs, SendArgs};
use anyhow::Context;
use exactly_core::StdStorage;
use exactly_pipe::durable::{DurableReceiver, DurableSender};
use exactly_pipe::{frame, ReceiverConfig, ResumeMismatch, SenderConfig, StateDirLock};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::io::{ErrorKind, Write};
use std::net::{SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Largest datagram read (a 64 KiB payload plus the header fits).
const DATAGRAM_BYTES_MAX: usize = 65_536 + frame::HEADER_BYTES;
/// Datagrams handled per loop turn before committing (one fsync per batch).
const BATCH_MAX: usize = 512;

/// Drops and duplicates outgoing frames at random.
pub struct Faults {
    loss: f64,
    dup: f64,
    rng: SmallRng,
    /// Frames dropped on purpose.
    pub dropped: u64,
}

impl Faults {
    /// Faults from the command line.
    pub fn new(args: &FaultArgs) -> Self {
        let seed = args.seed.unwrap_or_else(rand::random);
        Faults {
            loss: args.loss,
            dup: args.dup,
            rng: SmallRng::seed_from_u64(seed),
            dropped: 0,
        }
    }

    /// How many copies of the next frame to send (0, 1 or 2).
    pub fn copies(&mut self) -> usize {
        if self.loss > 0.0 && self.rng.random::<f64>() < self.loss {
            self.dropped += 1;
            return 0;
        }
        if self.dup > 0.0 && self.rng.random::<f64>() < self.dup {
            return 2;
        }
        1
    }
}

/// Whether a socket error is the transient kind UDP reports (peer not listening yet,
/// buffer full) rather than a real failure.
pub fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused
            | ErrorKind::WouldBlock
            | ErrorKind::TimedOut
            | ErrorKind::Interrupted
            | ErrorKind::ConnectionReset
    ) || e.raw_os_error() == Some(libc_enobufs())
}

fn libc_enobufs() -> i32 {
    105 // ENOBUFS on Linux
}

fn elapsed_ms(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Runs `pipe send` until every line is confirmed; returns a JSON summary.
pub fn run_sender(args: &SendArgs, input: &InputLines) -> anyhow::Result<serde_json::Value> {
    let start = Instant::now();
    let lines = &input.lines;
    let mut config = SenderConfig::for_mode(args.pipe, rand::random::<u64>() | 1);
    config.in_flight_max = args.window.max(1);
    config.resend_timeout_ms = args.resend_timeout_ms.max(1);
    let lock = StateDirLock::acquire(&args.state)?;
    let mut ds = DurableSender::open(Arc::new(StdStorage), &args.state, config, 0)
        .with_context(|| format!("opening sender state {}", args.state.display()))?
        .with_dir_lock(lock);
    check_resume_input(&ds, args, input)?;
    let resumed_at = ds.next_seq();
    let mut next_line = usize::try_from(resumed_at).unwrap_or(usize::MAX);
    let socket = UdpSocket::bind("127.0.0.1:0").context("binding the sender socket")?;
    socket
        .connect(&args.to)
        .with_context(|| format!("connecting to {}", args.to))?;
    let mut faults = Faults::new(&args.faults);
    let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
    loop {
        let now = elapsed_ms(start);
        let allowed = paced_limit(args.rate, resumed_at, now, lines.len());
        while ds.can_send() && next_line < allowed {
            let Some(line) = lines.get(next_line) else {
                break;
            };
            ds.send(line.as_bytes())?;
            next_line += 1;
        }
        ds.commit(now)?;
        while let Some(f) = ds.poll_transmit() {
            for _ in 0..faults.copies() {
                if let Err(e) = socket.send(&f) {
                    anyhow::ensure!(is_transient(&e), "sending: {e}");
                }
            }
        }
        if next_line >= lines.len() && ds.is_idle() {
            break;
        }
        let wait_ms = ds
            .poll_timeout()
            .map_or(5, |t| t.saturating_sub(now))
            .clamp(1, 5);
        socket.set_read_timeout(Some(Duration::from_millis(wait_ms)))?;
        for _ in 0..BATCH_MAX {
            match socket.recv(&mut buf) {
                Ok(n) => ds.handle_frame(elapsed_ms(start), buf.get(..n).unwrap_or_default()),
                Err(e) if is_transient(&e) => break,
                Err(e) => return Err(e).context("receiving acks"),
            }
            socket.set_nonblocking(true)?;
        }
        socket.set_nonblocking(false)?;
        ds.handle_timeout(elapsed_ms(start));
        while ds.poll_event()?.is_some() {}
    }
    ds.commit(elapsed_ms(start))?;
    let stats = ds.sender().stats();
    Ok(serde_json::json!({
        "sent": lines.len(), "resumed_at": resumed_at, "frames_sent": stats.frames_sent,
        "resends": stats.resends, "confirmed": stats.confirmed,
        "injected_drops": faults.dropped, "ms": elapsed_ms(start),
    }))
}

/// Refuses to resume with an input other than the one the state already sent part of.
fn check_resume_input(
    ds: &DurableSender,
    args: &SendArgs,
    input: &InputLines,
) -> anyhow::Result<()> {
    let line_of = |seq: u64| {
        usize::try_from(seq)
            .ok()
            .and_then(|i| input.line_numbers.get(i).copied())
            .map_or_else(|| format!("#{}", seq + 1), |n| n.to_string())
    };
    let state = args.state.display();
    let fresh = format!(
        "to resume, pass the input this state was sending; to send this input from its first \
         line as new messages, use a new, empty --state directory instead of {state}"
    );
    match ds.check_resume_input(&input.lines) {
        Ok(()) => Ok(()),
        Err(ResumeMismatch::Unverifiable { from_seq }) => {
            eprintln!(
                "warning: sender state {state} predates input fingerprints: the first \
                 {from_seq} non-empty input lines cannot be checked against what it sent"
            );
            Ok(())
        }
        Err(ResumeMismatch::InputDiffers {
            first_seq,
            last_seq,
        }) => {
            let differs = if first_seq == last_seq {
                format!(
                    "input line {} differs from the line it sent at that position",
                    line_of(first_seq)
                )
            } else {
                format!(
                    "the first difference from what it sent is between input lines {} and {}",
                    line_of(first_seq),
                    line_of(last_seq)
                )
            };
            anyhow::bail!(
                "the input is not the one sender state {state} was sending: {differs} (it \
                 already sent {} lines, which resuming would skip as duplicates); {fresh}",
                ds.next_seq()
            )
        }
        Err(ResumeMismatch::InputShorter {
            accepted,
            input_len,
        }) => anyhow::bail!(
            "the input has {input_len} non-empty lines but sender state {state} already sent \
             {accepted}: it is not the input this state was sending; {fresh}"
        ),
        Err(other) => Err(other.into()),
    }
}

/// With `--rate`, how many lines may have been handed to the sender by `now_ms`.
fn paced_limit(rate: u64, resumed_at: u64, now_ms: u64, total: usize) -> usize {
    if rate == 0 {
        return total;
    }
    let allowed = resumed_at.saturating_add(rate.saturating_mul(now_ms) / 1000 + 1);
    usize::try_from(allowed).unwrap_or(usize::MAX).min(total)
}

/// Runs `pipe recv` until killed (or idle for `--idle-exit-ms`).
pub fn run_receiver(args: &RecvArgs) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut config = ReceiverConfig::for_mode(args.pipe);
    config.senders_max = args.senders_max.max(1);
    config.sender_floors_max = args.sender_floors_max;
    config.sender_idle_evict_ms = args.sender_idle_evict_ms;
    let addresses_max = config.senders_max.saturating_mul(2).saturating_add(1024);
    let lock = StateDirLock::acquire(&args.state)?;
    let mut dr = DurableReceiver::open(Arc::new(StdStorage), &args.state, config)
        .with_context(|| format!("opening receiver state {}", args.state.display()))?
        .with_dir_lock(lock);
    let socket =
        UdpSocket::bind(&args.listen).with_context(|| format!("listening on {}", args.listen))?;
    let mut faults = Faults::new(&args.faults);
    let mut peers: HashMap<u64, SocketAddr> = HashMap::new();
    let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
    let mut last_frame_ms = 0;
    let mut out = std::io::stdout().lock();
    loop {
        socket.set_nonblocking(false)?;
        socket.set_read_timeout(Some(Duration::from_millis(20)))?;
        for _ in 0..BATCH_MAX {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let bytes = buf.get(..n).unwrap_or_default();
                    if let Ok(f) = frame::decode(bytes, config_payload_max()) {
                        // Bounded like the receiver's sender table: forged sender ids must
                        // not grow it without limit. Forgetting addresses only costs acks,
                        // and every sender's next resend brings its address back.
                        if peers.len() >= addresses_max && !peers.contains_key(&f.sender_id) {
                            peers.clear();
                        }
                        peers.insert(f.sender_id, from);
                    }
                    let now = elapsed_ms(start);
                    last_frame_ms = now;
                    dr.handle_frame(now, bytes)?;
                }
                Err(e) if is_transient(&e) => break,
                Err(e) => return Err(e).context("receiving"),
            }
            socket.set_nonblocking(true)?;
        }
        dr.handle_timeout(elapsed_ms(start));
        // Durable first, then printed, then confirmed: cascade confirmation onto storage.
        for d in dr.commit()? {
            if !args.quiet {
                writeln!(out, "{}", delivery_json(d.sender_id, d.seq, &d.payload))?;
            }
        }
        out.flush()?;
        while let Some((sender_id, ack)) = dr.poll_transmit() {
            let Some(addr) = peers.get(&sender_id) else {
                continue;
            };
            for _ in 0..faults.copies() {
                if let Err(e) = socket.send_to(&ack, addr) {
                    anyhow::ensure!(is_transient(&e), "sending ack: {e}");
                }
            }
        }
        if args.idle_exit_ms > 0 && elapsed_ms(start) - last_frame_ms > args.idle_exit_ms {
            return Ok(());
        }
    }
}

fn config_payload_max() -> usize {
    ReceiverConfig::for_mode(exactly_pipe::PipeMode::ResendIdDedup).payload_bytes_max
}
