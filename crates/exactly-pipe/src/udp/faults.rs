//! Fault injection into what an end sends (loopback never loses anything), and the socket
//! errors UDP reports that are not failures.

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::io::ErrorKind;

/// Faults to inject into what an end sends.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FaultConfig {
    /// Probability a frame is dropped before it is sent, in `[0, 1)`.
    pub loss: f64,
    /// Probability a frame is sent twice, in `[0, 1]`.
    pub dup: f64,
    /// Seed of the injected faults (`None`: random).
    pub seed: Option<u64>,
}

/// Drops and duplicates outgoing frames at random.
pub struct Faults {
    loss: f64,
    dup: f64,
    rng: SmallRng,
    /// Frames dropped on purpose.
    pub dropped: u64,
}

impl Faults {
    /// Faults as configured.
    pub fn new(config: &FaultConfig) -> Self {
        let seed = match config.seed {
            Some(seed) => seed,
            None => rand::random(),
        };
        Faults {
            loss: config.loss,
            dup: config.dup,
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
/// buffer full, read timeout) rather than a real failure.
pub fn is_transient(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionRefused
            | ErrorKind::WouldBlock
            | ErrorKind::TimedOut
            | ErrorKind::Interrupted
            | ErrorKind::ConnectionReset
    ) || e.raw_os_error() == Some(ENOBUFS)
}

/// `ENOBUFS` on Linux.
const ENOBUFS: i32 = 105;
