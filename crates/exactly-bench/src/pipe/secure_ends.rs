//! The pipe ends of the benchmark behind a secure channel (Noise IK): the same
//! [`SendEnd`] / [`RecvEnd`] the plaintext measurements drive, with every frame sealed and
//! opened on the way — so the encrypted and plaintext figures differ only by the channel.
//! And the process's CPU time, to report what the channel costs per message.

use super::ends::{RecvEnd, SendEnd};
use crate::error::{BenchError, Context};
use exactly_pipe::secure::{
    InitiatorChannel, InitiatorConfig, ResponderChannel, ResponderConfig, StaticKeypair,
};
use exactly_pipe::{Delivery, SenderStats};
use std::net::SocketAddr;

/// Both channel ends of one measurement, from fresh keys, and the sender id the sending
/// end must use (its key's: the responder drops frames declaring another).
pub(super) fn channel_pair() -> Result<(InitiatorChannel, ResponderChannel, u64), BenchError> {
    let sender = StaticKeypair::generate().during("generating keys")?;
    let receiver = StaticKeypair::generate().during("generating keys")?;
    let sender_id = sender.public().sender_id();
    let initiator = InitiatorChannel::new(InitiatorConfig::new(sender.clone(), receiver.public()))
        .during("opening the initiator channel")?;
    let responder = ResponderChannel::new(ResponderConfig::new(receiver, vec![sender.public()]), 0)
        .during("opening the responder channel")?;
    Ok((initiator, responder, sender_id))
}

/// A sending end whose frames go through an [`InitiatorChannel`].
pub(super) struct SecureSend<S> {
    pub(super) end: S,
    pub(super) channel: InitiatorChannel,
    pub(super) now_ms: u64,
}

impl<S: SendEnd> SecureSend<S> {
    fn seal_pending(&mut self) {
        while let Some(frame) = self.end.poll_transmit() {
            self.channel.send_inner(self.now_ms, &frame);
        }
    }
}

impl<S: SendEnd> SendEnd for SecureSend<S> {
    fn can_send(&self) -> bool {
        self.end.can_send()
    }
    fn send(&mut self, now_ms: u64, payload: &[u8]) -> Result<(), BenchError> {
        self.end.send(now_ms, payload)
    }
    fn flush(&mut self, now_ms: u64) -> Result<(), BenchError> {
        self.now_ms = now_ms;
        self.end.flush(now_ms)
    }
    fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.seal_pending();
        self.channel.poll_transmit()
    }
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) {
        if let Some(inner) = self.channel.handle_datagram(now_ms, bytes) {
            self.end.handle_frame(now_ms, &inner);
        }
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.end.handle_timeout(now_ms);
        self.channel.handle_timeout(now_ms);
    }
    fn poll_confirmed(&mut self) -> Result<bool, BenchError> {
        self.end.poll_confirmed()
    }
    fn stats(&self) -> SenderStats {
        self.end.stats()
    }
}

/// A receiving end whose frames come through a [`ResponderChannel`]. The benchmark's
/// sockets are connected, so the address only names the one sender.
pub(super) struct SecureRecv<R> {
    pub(super) end: R,
    pub(super) channel: ResponderChannel,
    pub(super) from: SocketAddr,
    pub(super) now_ms: u64,
}

impl<R: RecvEnd> RecvEnd for SecureRecv<R> {
    fn handle_frame(&mut self, now_ms: u64, bytes: &[u8]) -> Result<(), BenchError> {
        self.now_ms = now_ms;
        match self.channel.handle_datagram(now_ms, self.from, bytes) {
            Some(inner) => self.end.handle_frame(now_ms, &inner),
            None => Ok(()),
        }
    }
    fn handle_timeout(&mut self, now_ms: u64) {
        self.now_ms = now_ms;
        self.end.handle_timeout(now_ms);
    }
    fn take_deliveries(&mut self) -> Result<Vec<Delivery>, BenchError> {
        self.end.take_deliveries()
    }
    fn poll_transmit(&mut self) -> Option<(u64, Vec<u8>)> {
        while let Some((sender_id, ack)) = self.end.poll_transmit() {
            self.channel.send_inner(self.now_ms, sender_id, &ack);
        }
        self.channel
            .poll_transmit()
            .map(|(_, datagram)| (0, datagram))
    }
}

/// CPU time (user + system) of this process so far, in microseconds, from
/// `/proc/self/stat` (clock ticks of 10 ms: Linux's `USER_HZ` is 100). Both ends of a
/// measurement are threads of this process, so the difference over a run is what the whole
/// pipe cost.
pub(super) fn process_cpu_us() -> Result<u64, BenchError> {
    let path = std::path::Path::new("/proc/self/stat");
    let stat = std::fs::read_to_string(path).map_err(crate::error::io_error("reading", path))?;
    // Fields after the command name (which is in parentheses and may hold spaces).
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| BenchError::Check(format!("unexpected /proc/self/stat: {stat}")))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name.
    let ticks = |i: usize| -> Result<u64, BenchError> {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .ok_or_else(|| BenchError::Check(format!("unexpected /proc/self/stat: {stat}")))
    };
    Ok((ticks(11)? + ticks(12)?) * 10_000)
}

/// The secure channel alone, without sockets or pipe ends: seals and opens `messages`
/// data frames of `message_bytes` and one range-ack-sized frame (64 bytes) back per
/// message, after one handshake, on one thread. Returns the wall time and the process CPU
/// time per message in microseconds: the CPU figure is the channel's own cost, which the
/// wall time exceeds when other processes share the cores.
pub(super) fn channel_alone_us(
    messages: u64,
    message_bytes: usize,
) -> Result<(f64, f64), BenchError> {
    let (mut initiator, mut responder, sender_id) = channel_pair()?;
    let from: SocketAddr = ([127, 0, 0, 1], 9).into();
    let mut data = Vec::new();
    exactly_pipe::frame::encode(
        exactly_pipe::frame::FrameKind::Data,
        sender_id,
        0,
        &vec![0xA5; message_bytes],
        &mut data,
    );
    let ack = vec![0u8; 64];
    let mut opened = 0u64;
    let mut pump = |initiator: &mut InitiatorChannel, responder: &mut ResponderChannel| {
        while let Some(datagram) = initiator.poll_transmit() {
            opened += u64::from(responder.handle_datagram(0, from, &datagram).is_some());
        }
        while let Some((_, datagram)) = responder.poll_transmit() {
            initiator.handle_datagram(0, &datagram);
        }
    };
    initiator.send_inner(0, &data); // starts the handshake; sent once it completes
    pump(&mut initiator, &mut responder);
    pump(&mut initiator, &mut responder);
    let (started, cpu_start_us) = (std::time::Instant::now(), process_cpu_us()?);
    for _ in 0..messages {
        initiator.send_inner(0, &data);
        pump(&mut initiator, &mut responder);
        responder.send_inner(0, sender_id, &ack);
        pump(&mut initiator, &mut responder);
    }
    let secs = started.elapsed().as_secs_f64();
    let cpu_us = process_cpu_us()?.saturating_sub(cpu_start_us);
    if opened != messages + 1 {
        return Err(BenchError::Check(format!(
            "secure channel opened {opened} of {} frames",
            messages + 1
        )));
    }
    let per_message = |total_us: f64| total_us / messages as f64;
    Ok((per_message(secs * 1e6), per_message(cpu_us as f64)))
}
