//! Checked construction of a [`NetConfig`] from the link faults a user asks for: the
//! probabilities must be probabilities and loss must leave something to deliver.

use crate::net::NetConfig;

/// Link faults as a user states them (probabilities and a partition schedule).
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Faults {
    /// Probability a frame is lost.
    pub loss: f64,
    /// Probability a frame is duplicated.
    pub dup: f64,
    /// Probability a frame is delayed so that later frames overtake it.
    pub reorder: f64,
    /// Probability a frame has a bit flipped.
    pub corrupt: f64,
    /// Start a partition every this many simulated ms (0: never).
    pub partition_every_ms: u64,
    /// Each partition lasts this long (capped at `partition_every_ms`), then heals.
    pub partition_for_ms: u64,
}

/// Why a set of faults cannot be simulated.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum FaultsError {
    /// A probability outside `[0, 1]` (the name is the option's, e.g. `loss`).
    #[error("--{name} must be a probability in [0, 1]")]
    NotAProbability {
        /// Which fault.
        name: &'static str,
    },
    /// Loss 1: nothing would ever arrive and the run would never end.
    #[error("--loss 1 would never deliver anything")]
    TotalLoss,
}

impl Faults {
    /// The network configuration of these faults: reordering gets 1 ms of jitter so that
    /// delayed frames are overtaken; the partition length is capped at its period.
    pub fn to_config(&self) -> Result<NetConfig, FaultsError> {
        for (name, p) in [
            ("loss", self.loss),
            ("dup", self.dup),
            ("reorder", self.reorder),
            ("corrupt", self.corrupt),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(FaultsError::NotAProbability { name });
            }
        }
        if self.loss >= 1.0 {
            return Err(FaultsError::TotalLoss);
        }
        Ok(NetConfig {
            loss: self.loss,
            dup: self.dup,
            reorder: self.reorder,
            corrupt: self.corrupt,
            jitter_ms: if self.reorder > 0.0 { 1 } else { 0 },
            partition_every_ms: self.partition_every_ms,
            partition_for_ms: self.partition_for_ms.min(self.partition_every_ms),
            ..NetConfig::perfect()
        })
    }
}
