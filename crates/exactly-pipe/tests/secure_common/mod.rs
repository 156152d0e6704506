//! Shared driver of the sans-IO secure-pipe scenarios: a [`Sender`] behind an
//! [`InitiatorChannel`] and a [`Receiver`] behind a [`ResponderChannel`], moved along a
//! simulated clock by the test, with every datagram the sender's side put on the wire
//! recorded (for replay attacks) and a hook for the attacker's datagrams.

// Test helpers, not library code: a panic is the failure report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    dead_code
)]

use exactly_pipe::secure::{
    InitiatorChannel, InitiatorConfig, ResponderChannel, ResponderConfig, StaticKeypair,
};
use exactly_pipe::{Delivery, PipeMode, Receiver, ReceiverConfig, Sender, SenderConfig};
use std::net::SocketAddr;

/// Where the legitimate sender's datagrams come from.
pub fn sender_address() -> SocketAddr {
    "10.0.0.1:4000".parse().unwrap()
}

/// A sender and a receiver joined by a secure channel over a perfect simulated link.
pub struct SecureEnds {
    pub sender: Sender,
    pub initiator: InitiatorChannel,
    pub receiver: Receiver,
    pub responder: ResponderChannel,
    pub now_ms: u64,
    /// Every datagram the sender's side sent, in order.
    pub recorded: Vec<Vec<u8>>,
    pub delivered: Vec<Delivery>,
    /// Datagrams the receiver's side sent to anyone but the legitimate sender.
    pub to_others: Vec<(SocketAddr, Vec<u8>)>,
}

impl SecureEnds {
    pub fn new(
        sender_keys: &StaticKeypair,
        receiver_keys: &StaticKeypair,
        receiver_config: ReceiverConfig,
    ) -> Self {
        let sender_id = sender_keys.public().sender_id();
        let initiator = InitiatorChannel::new(InitiatorConfig::new(
            sender_keys.clone(),
            receiver_keys.public(),
        ))
        .unwrap();
        let responder = ResponderChannel::new(
            ResponderConfig::new(receiver_keys.clone(), vec![sender_keys.public()]),
            0,
        )
        .unwrap();
        SecureEnds {
            sender: Sender::new(SenderConfig::for_mode(PipeMode::ResendIdDedup, sender_id)),
            initiator,
            receiver: Receiver::new(receiver_config),
            responder,
            now_ms: 0,
            recorded: Vec::new(),
            delivered: Vec::new(),
            to_others: Vec::new(),
        }
    }

    /// One millisecond of traffic; `attacker` datagrams (with their source) arrive at the
    /// receiver's side first.
    pub fn step(&mut self, attacker: &[(SocketAddr, Vec<u8>)]) {
        self.now_ms += 1;
        let now = self.now_ms;
        for (from, datagram) in attacker {
            if let Some(inner) = self.responder.handle_datagram(now, *from, datagram) {
                self.receiver.handle_frame(now, &inner);
            }
        }
        self.sender.handle_timeout(now);
        self.initiator.handle_timeout(now);
        while let Some(frame) = self.sender.poll_transmit() {
            self.initiator.send_inner(now, &frame);
        }
        while let Some(datagram) = self.initiator.poll_transmit() {
            if let Some(inner) = self
                .responder
                .handle_datagram(now, sender_address(), &datagram)
            {
                self.receiver.handle_frame(now, &inner);
            }
            self.recorded.push(datagram);
        }
        self.receiver.handle_timeout(now);
        self.delivered
            .extend(std::iter::from_fn(|| self.receiver.poll_delivery()));
        while let Some((sender_id, ack)) = self.receiver.poll_transmit() {
            self.responder.send_inner(now, sender_id, &ack);
        }
        while let Some((to, datagram)) = self.responder.poll_transmit() {
            if to == sender_address() {
                if let Some(inner) = self.initiator.handle_datagram(now, &datagram) {
                    self.sender.handle_frame(now, &inner);
                }
            } else {
                self.to_others.push((to, datagram));
            }
        }
        while self.sender.poll_event().is_some() {}
    }

    /// Sends `messages` and steps until every one is confirmed (at most `ms_max` ms).
    pub fn send_all(&mut self, messages: &[Vec<u8>], ms_max: u64) {
        let mut next = 0;
        let deadline = self.now_ms + ms_max;
        while !(next == messages.len() && self.sender.is_idle()) {
            while next < messages.len() && self.sender.can_send() {
                self.sender.send(self.now_ms, &messages[next]).unwrap();
                next += 1;
            }
            self.step(&[]);
            assert!(self.now_ms < deadline, "not confirmed within {ms_max} ms");
        }
    }
}
