//! [`run_receiver`]: drives a [`DurableReceiver`] over a UDP socket: journal, fsync, hand
//! over, then confirm.

use super::clock::elapsed_ms;
use super::error::UdpError;
use super::faults::{is_transient, FaultConfig, Faults};
use super::security::ReceiverSecurity;
use super::send::{BATCH_MAX, DATAGRAM_BYTES_MAX};
use crate::secure::{ResponderChannel, ResponderConfig, INCARNATIONS_PER_KEY_MAX};
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
    /// Incarnations (sender state directories) of one sender key taken from at once (secure
    /// channels only, at least 1); one more is refused visibly at its sender.
    pub incarnations_per_key_max: usize,
    /// Faults injected into the acks the receiver sends.
    pub faults: FaultConfig,
    /// Secure channels from allow-listed senders, or plaintext from anyone.
    pub security: ReceiverSecurity,
}

impl UdpReceiverOptions {
    /// [`UdpReceiverOptions::new`] taking plaintext frames from anyone (no secure channel).
    pub fn insecure(listen: &str, state: &Path, pipe: PipeMode) -> Self {
        Self::new(listen, state, pipe, ReceiverSecurity::Insecure)
    }

    /// Runs until killed, with the receiver's default sender table and no faults,
    /// protected as `security` says.
    pub fn new(listen: &str, state: &Path, pipe: PipeMode, security: ReceiverSecurity) -> Self {
        let defaults = ReceiverConfig::for_mode(pipe);
        Self {
            listen: listen.to_string(),
            state: state.to_path_buf(),
            pipe,
            idle_exit_ms: 0,
            senders_max: defaults.senders_max,
            sender_floors_max: defaults.sender_floors_max,
            sender_idle_evict_ms: defaults.sender_idle_evict_ms,
            incarnations_per_key_max: INCARNATIONS_PER_KEY_MAX,
            faults: FaultConfig::default(),
            security,
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
    let mut channel = match &options.security {
        ReceiverSecurity::Noise { local, allowed } => {
            let mut config = ResponderConfig::new(local.clone(), allowed.clone());
            config.incarnations_per_key_max = options.incarnations_per_key_max.max(1);
            // An incarnation is let go no sooner than the receiver may forget its sender.
            config.incarnation_idle_ms = options.sender_idle_evict_ms;
            Some(ResponderChannel::new(config, elapsed_ms(start))?)
        }
        ReceiverSecurity::Insecure => None,
    };
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
                    let (now, bytes) = (elapsed_ms(start), received(&buf, n));
                    last_frame_ms = now;
                    if let Some(channel) = channel.as_mut() {
                        // Only authenticated frames reach the journal and the sender table.
                        if let Some(inner) = channel.handle_datagram(now, from, bytes) {
                            dr.handle_frame(now, &inner)?;
                        }
                        socket.set_nonblocking(true).map_err(socket_setup)?;
                        continue;
                    }
                    if let Ok(f) = frame::decode(bytes, payload_max) {
                        // Bounded like the receiver's sender table: forged sender ids must
                        // not grow it without limit. Forgetting addresses only costs acks,
                        // and every sender's next resend brings its address back.
                        if peers.len() >= addresses_max && !peers.contains_key(&f.sender_id) {
                            peers.clear();
                        }
                        peers.insert(f.sender_id, from);
                    }
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
        let now = elapsed_ms(start);
        while let Some((sender_id, ack)) = dr.poll_transmit() {
            if let Some(channel) = channel.as_mut() {
                channel.send_inner(now, sender_id, &ack);
            } else if let Some(addr) = peers.get(&sender_id) {
                put_to(&socket, &mut faults, &ack, *addr)?;
            }
        }
        while let Some((addr, datagram)) = channel.as_mut().and_then(|c| c.poll_transmit()) {
            put_to(&socket, &mut faults, &datagram, addr)?;
        }
        if options.idle_exit_ms > 0 && elapsed_ms(start) - last_frame_ms > options.idle_exit_ms {
            return Ok(());
        }
    }
}

/// Sends one datagram to `addr` (0, 1 or 2 copies, as the injected faults say).
fn put_to(
    socket: &UdpSocket,
    faults: &mut Faults,
    datagram: &[u8],
    addr: SocketAddr,
) -> Result<(), UdpError> {
    for _ in 0..faults.copies() {
        if let Err(e) = socket.send_to(datagram, addr) {
            if !is_transient(&e) {
                return Err(UdpError::socket("sending ack", e));
            }
        }
    }
    Ok(())
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
