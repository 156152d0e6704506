//! [`run_receiver`]: drives a [`DurableReceiver`] over a UDP socket: journal, fsync, hand
//! over, then confirm.

use super::clock::elapsed_ms;
use super::error::UdpError;
use super::faults::{is_transient, FaultConfig, Faults};
use super::send::{BATCH_MAX, DATAGRAM_BYTES_MAX};
use crate::{frame, Delivery, DurableReceiver, PipeMode, ReceiverConfig, StateDirLock};
use exactly_core::StdStorage;
use std::collections::HashMap;
use std::net::{SocketAddr, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How [`run_receiver`] runs.
#[derive(Clone, Debug)]
pub struct UdpReceiverOptions {
    /// Address to listen on (host:port).
    pub listen: String,
    /// State directory (journal of delivered messages = de-dup state; locked while in use).
    pub state: PathBuf,
    /// Pipe (must match the sender's).
    pub pipe: PipeMode,
    /// Return after this long without any frame (0: run until killed).
    pub idle_exit_ms: u64,
    /// Senders with full de-dup state at most (at least 1).
    pub senders_max: usize,
    /// Forgotten senders remembered by their floor at most.
    pub sender_floors_max: usize,
    /// A sender with missing messages is forgotten only after this long without a frame.
    pub sender_idle_evict_ms: u64,
    /// Faults injected into the acks the receiver sends.
    pub faults: FaultConfig,
}

impl UdpReceiverOptions {
    /// Runs until killed, with the receiver's default sender table and no faults.
    pub fn new(listen: &str, state: &Path, pipe: PipeMode) -> Self {
        let defaults = ReceiverConfig::for_mode(pipe);
        Self {
            listen: listen.to_string(),
            state: state.to_path_buf(),
            pipe,
            idle_exit_ms: 0,
            senders_max: defaults.senders_max,
            sender_floors_max: defaults.sender_floors_max,
            sender_idle_evict_ms: defaults.sender_idle_evict_ms,
            faults: FaultConfig::default(),
        }
    }
}

/// Receives until killed (or idle for `idle_exit_ms`). Each turn, new messages are
/// journaled and fsynced, then handed to `on_delivered` (an error there stops the
/// receiver before it confirms them), then confirmed to their senders.
pub fn run_receiver(
    options: &UdpReceiverOptions,
    on_delivered: &mut dyn FnMut(&[Delivery]) -> std::io::Result<()>,
) -> Result<(), UdpError> {
    let start = Instant::now();
    let mut config = ReceiverConfig::for_mode(options.pipe);
    config.senders_max = options.senders_max.max(1);
    config.sender_floors_max = options.sender_floors_max;
    config.sender_idle_evict_ms = options.sender_idle_evict_ms;
    let payload_max = config.payload_bytes_max;
    let addresses_max = config.senders_max.saturating_mul(2).saturating_add(1024);
    let lock = StateDirLock::acquire(&options.state)?;
    let mut dr = DurableReceiver::open(Arc::new(StdStorage), &options.state, config)
        .map_err(|e| UdpError::open("receiver", options.state.clone(), e))?
        .with_dir_lock(lock);
    let socket = UdpSocket::bind(&options.listen)
        .map_err(|e| UdpError::socket(format!("listening on {}", options.listen), e))?;
    let socket_setup = |e| UdpError::socket("setting up the receiver socket", e);
    let mut faults = Faults::new(&options.faults);
    let mut peers: HashMap<u64, SocketAddr> = HashMap::new();
    let mut buf = vec![0u8; DATAGRAM_BYTES_MAX];
    let mut last_frame_ms = 0;
    loop {
        socket.set_nonblocking(false).map_err(socket_setup)?;
        socket
            .set_read_timeout(Some(Duration::from_millis(20)))
            .map_err(socket_setup)?;
        for _ in 0..BATCH_MAX {
            match socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let bytes = received(&buf, n);
                    if let Ok(f) = frame::decode(bytes, payload_max) {
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
                Err(e) => return Err(UdpError::socket("receiving", e)),
            }
            socket.set_nonblocking(true).map_err(socket_setup)?;
        }
        dr.handle_timeout(elapsed_ms(start));
        // Durable first, then handed over, then confirmed: cascade confirmation onto
        // storage.
        let delivered = dr.commit()?;
        on_delivered(&delivered).map_err(UdpError::Deliver)?;
        while let Some((sender_id, ack)) = dr.poll_transmit() {
            let Some(addr) = peers.get(&sender_id) else {
                continue;
            };
            for _ in 0..faults.copies() {
                if let Err(e) = socket.send_to(&ack, addr) {
                    if !is_transient(&e) {
                        return Err(UdpError::socket("sending ack", e));
                    }
                }
            }
        }
        if options.idle_exit_ms > 0 && elapsed_ms(start) - last_frame_ms > options.idle_exit_ms {
            return Ok(());
        }
    }
}

/// The `n` bytes a `recv` put at the start of `buf`.
fn received(buf: &[u8], n: usize) -> &[u8] {
    // Invariant: a socket's `recv` returns at most the length of the buffer it was given.
    assert!(
        n <= buf.len(),
        "recv returned {n} bytes into a {}-byte buffer",
        buf.len()
    );
    #[allow(clippy::indexing_slicing)] // checked just above
    &buf[..n]
}
