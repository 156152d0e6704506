//! The two ends of a pipe as the benchmark drives them over a UDP socket: in memory or
//! durable (journal + fsync per batch), with loss injected into what each end sends.

use crate::error::{net_error, BenchError, Context};
use exactly_pipe::{
    Delivery, DurableReceiver, DurableSender, Receiver, SeenSet, Sender, SenderStats,
};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::ErrorKind;
use std::net::UdpSocket;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// Socket errors that mean "try again" (or a datagram lost to a full buffer, which the
/// pipe repairs), not a broken socket.
pub(super) fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused
            | ErrorKind::WouldBlock
            | ErrorKind::TimedOut
            | ErrorKind::Interrupted
            | ErrorKind::ConnectionReset
    ) || e.raw_os_error() == Some(libc::ENOBUFS)
}

/// Loss injected into what an end sends, from a fixed seed (the same schedule each run).
pub(super) struct Loss {
    rate: f64,
    rng: SmallRng,
}

impl Loss {
    pub(super) fn new(rate: f64, seed: u64) -> Self {
        Self {
            rate,
            rng: SmallRng::seed_from_u64(seed),
        }
    }

    fn keep(&mut self) -> bool {
        self.rate <= 0.0 || self.rng.random::<f64>() >= self.rate
    }
}

/// A sending end as the bench drives it: in memory, or durable (journal + fsync per batch).
pub(super) trait SendEnd {
    fn can_send(&self) -> bool;
    fn send(&mut self, now_ms: u64, payload: &[u8]) -> Result<(), BenchError>;
    /// Makes accepted messages durable (durable end) before they go on the wire.
    fn flush(&mut self, now_ms: u64) -> Result<(), BenchError>;
    fn poll_transmit(&mut self) -> Option<Vec<u8>>;
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]);
    fn handle_timeout(&mut self, now_ms: u64);
    fn poll_confirmed(&mut self) -> Result<bool, BenchError>;
    fn stats(&self) -> SenderStats;
}

impl SendEnd for Sender {
    fn can_send(&self) -> bool {
        Sender::can_send(self)
    }
    fn send(&mut self, now_ms: u64, payload: &[u8]) -> Result<(), BenchError> {
        Sender::send(self, now_ms, payload).during("sending")?;
        Ok(())
    }
    fn flush(&mut self, _now_ms: u64) -> Result<(), BenchError> {
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
    fn poll_confirmed(&mut self) -> Result<bool, BenchError> {
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
    fn send(&mut self, _now_ms: u64, payload: &[u8]) -> Result<(), BenchError> {
        DurableSender::send(self, payload).during("sending")?;
        Ok(())
    }
    fn flush(&mut self, now_ms: u64) -> Result<(), BenchError> {
        self.commit(now_ms).during("committing the sender journal")
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
    fn poll_confirmed(&mut self) -> Result<bool, BenchError> {
        Ok(self.poll_event().during("reading confirmations")?.is_some())
    }
    fn stats(&self) -> SenderStats {
        self.sender().stats()
    }
}

/// A receiving end as the bench drives it.
pub(super) trait RecvEnd {
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), BenchError>;
    fn handle_timeout(&mut self, now_ms: u64);
    /// Deliveries made durable (durable end: one fsync) and confirmed.
    fn take_deliveries(&mut self) -> Result<Vec<Delivery>, BenchError>;
    fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)>;
}

impl RecvEnd for Receiver {
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), BenchError> {
        Receiver::handle_frame(self, now_ms, bytes);
        Ok(())
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        Receiver::handle_timeout(self, now_ms);
    }
    fn take_deliveries(&mut self) -> Result<Vec<Delivery>, BenchError> {
        Ok(std::iter::from_fn(|| self.poll_delivery()).collect())
    }
    fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)> {
        Receiver::poll_transmit(self)
    }
}

impl RecvEnd for DurableReceiver {
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), BenchError> {
        DurableReceiver::handle_frame(self, now_ms, bytes).during("receiving")
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        DurableReceiver::handle_timeout(self, now_ms);
    }
    fn take_deliveries(&mut self) -> Result<Vec<Delivery>, BenchError> {
        self.commit().during("committing the receiver journal")
    }
    fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)> {
        DurableReceiver::poll_transmit(self)
    }
}

fn elapsed_ms(start: Instant) -> u64 {
    // A run lasting more than u64::MAX ms cannot happen; saturate instead of wrapping.
    u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Sends `messages` payloads of `message_bytes` (the id in the first 8 bytes) until all
/// are confirmed. Returns (frames sent, resends).
pub(super) fn send_loop(
    socket: &UdpSocket,
    sender: &mut impl SendEnd,
    messages: u64,
    message_bytes: usize,
    mut loss: Loss,
) -> Result<(u64, u64), BenchError> {
    let mut payload = vec![0u8; message_bytes];
    let mut buf = vec![0u8; 65_536];
    let (start, mut next, mut done) = (Instant::now(), 0u64, 0u64);
    while done < messages {
        let now = elapsed_ms(start);
        while next < messages && sender.can_send() {
            if let Some(head) = payload.get_mut(..8) {
                head.copy_from_slice(&next.to_le_bytes());
            }
            sender.send(now, &payload)?;
            next += 1;
        }
        sender.flush(now)?;
        while let Some(f) = sender.poll_transmit() {
            if loss.keep() {
                if let Err(e) = socket.send(&f) {
                    if !is_transient(&e) {
                        return Err(net_error("pipe send")(e));
                    }
                }
            }
        }
        let mut idle = true;
        loop {
            match socket.recv(&mut buf) {
                Ok(len) => {
                    idle = false;
                    if let Some(frame) = buf.get(..len) {
                        sender.handle_frame(now, frame);
                    }
                }
                Err(e) if is_transient(&e) => break,
                Err(e) => return Err(net_error("pipe recv")(e)),
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

/// Receives until `stop`; returns (deliveries, distinct ids among them).
pub(super) fn receive_loop(
    socket: &UdpSocket,
    receiver: &mut impl RecvEnd,
    stop: &AtomicBool,
    mut loss: Loss,
    n: u64,
) -> Result<(u64, u64), BenchError> {
    let mut seen = SeenSet::with_capacity(n);
    let (mut delivered, mut unique) = (0u64, 0u64);
    let mut buf = vec![0u8; 65_536];
    let start = Instant::now();
    let blocking = |on: bool| {
        socket
            .set_nonblocking(!on)
            .map_err(net_error("switching blocking mode"))
    };
    while !stop.load(Ordering::Relaxed) {
        // Wait (up to the read timeout) for the first frame only, then take what is queued:
        // acks must not wait for a full batch.
        blocking(true)?;
        for i in 0..64 {
            if i == 1 {
                blocking(false)?;
            }
            match socket.recv(&mut buf) {
                Ok(len) => {
                    let now = elapsed_ms(start);
                    if let Some(frame) = buf.get(..len) {
                        receiver.handle_frame(now, frame)?;
                    }
                }
                Err(e) if is_transient(&e) => break,
                Err(e) => return Err(net_error("pipe receiver recv")(e)),
            }
        }
        receiver.handle_timeout(elapsed_ms(start));
        for d in receiver.take_deliveries()? {
            delivered += 1;
            // A payload without its 8-byte id counts as one id that was never sent, so the
            // exactly-once check fails instead of passing silently.
            let id = d
                .payload
                .get(..8)
                .and_then(|b| b.try_into().ok())
                .map_or(u64::MAX, u64::from_le_bytes);
            unique += u64::from(seen.insert(id));
        }
        while let Some((_, ack)) = receiver.poll_transmit() {
            if loss.keep() {
                if let Err(e) = socket.send(&ack) {
                    if !is_transient(&e) {
                        return Err(net_error("ack send")(e));
                    }
                }
            }
        }
    }
    Ok((delivered, unique))
}
