//! Unit tests of `sender` (kept beside it, in their own file).

use super::*;
use crate::config::PipeMode;

fn sender(window: u64) -> Sender {
    let mut config = SenderConfig::for_mode(PipeMode::ResendIdDedup, 9);
    config.in_flight_max = window;
    config.resend_timeout_ms = 10;
    config.resend_timeout_max_ms = 40;
    Sender::new(config)
}

fn ack(cumulative: u64, seqs: &[u64]) -> Vec<u8> {
    let mut out = Vec::new();
    frame::encode_ack(9, cumulative, seqs, &mut out);
    out
}

#[test]
fn window_bounds_span_not_count() {
    let mut s = sender(2);
    s.send(0, b"a").unwrap();
    s.send(0, b"b").unwrap();
    assert!(matches!(s.send(0, b"c"), Err(SendError::WindowFull { .. })));
    s.handle_frame(0, &ack(0, &[1]));
    // seq 0 still holds the window's base: span stays 2.
    assert!(!s.can_send());
    s.handle_frame(0, &ack(1, &[]));
    assert!(s.can_send());
    assert_eq!(s.in_flight_len(), 0);
}

#[test]
fn backoff_doubles_and_caps() {
    let mut s = sender(4);
    s.send(0, b"a").unwrap();
    let mut deadlines = Vec::new();
    for _ in 0..5 {
        let t = s.poll_timeout().unwrap();
        deadlines.push(t);
        s.handle_timeout(t);
    }
    assert_eq!(deadlines, vec![10, 30, 70, 110, 150]);
    assert_eq!(s.stats().resends, 5);
}

#[test]
fn retry_limit_gives_up() {
    let mut config = SenderConfig::for_mode(PipeMode::Resend, 1);
    config.retries_max = Some(1);
    let mut s = Sender::new(config);
    s.send(0, b"a").unwrap();
    for _ in 0..2 {
        let t = s.poll_timeout().unwrap();
        s.handle_timeout(t);
    }
    assert_eq!(s.poll_event(), Some(SenderEvent::GaveUp { seq: 0 }));
    while s.poll_transmit().is_some() {}
    assert!(s.is_idle());
    assert_eq!(s.poll_timeout(), None);
}
