//! `exactly-core`: the vocabulary and the effect traits every other `exactly` crate stands on.
//!
//! Cores in `exactly` do no I/O of their own: files go through [`Storage`], time through
//! [`Clock`]. Each trait has a std implementation for production and a simulated one for
//! tests — [`SimStorage`] keeps *live* and *durable* bytes apart, so a simulated crash loses
//! exactly what a power cut would lose (and may tear the last write). That is what makes the
//! crash-point sweeps of the log, the engine and the endpoints possible.
//!
//! # Layout
//! - [`ids`]: [`Timestamp`], [`Offset`], [`ProducerId`], [`ProducerEpoch`], [`Sequence`].
//! - [`clock`]: the [`Clock`] trait, [`SystemClock`] and the hand-driven [`ManualClock`].
//! - [`storage`]: the [`Storage`] / [`StorageFile`] traits, [`StdStorage`], [`SimStorage`]
//!   and [`storage::write_file_atomically`] (temp → fsync → rename → fsync dir).
//! - [`framing`]: the one frame format (magic, version, length, CRC32C, body) of every
//!   checksummed file and record, with typed [`framing::FrameError`]s.
//! - [`journal`]: the one recovery rule of append-only journals (torn tail vs damage),
//!   pluggable into any record format through [`journal::RecordFormat`].
//! - [`durable_end`]: the two-slot durable-end evidence file that bounds that rule.
//!
//! # Example
//! A simulated crash keeps what was synced and loses what was not:
//! ```
//! use exactly_core::{OpenMode, SimStorage, Storage, TearMode};
//! use std::path::Path;
//!
//! # fn main() -> std::io::Result<()> {
//! let disk = SimStorage::new(7); // the seed of every torn write
//! let (dir, path) = (Path::new("/data"), Path::new("/data/journal"));
//! disk.create_dir_all(dir)?;
//! let file = disk.open(path, OpenMode::CreateNew)?;
//! file.write_at(0, b"durable")?;
//! file.sync_data()?;
//! disk.sync_dir(dir)?; // the file's name is durable too
//! file.write_at(7, b", then lost")?;
//! disk.crash(TearMode::DropUnsynced);
//! assert_eq!(disk.live_bytes(path).as_deref(), Some(&b"durable"[..]));
//! # Ok(())
//! # }
//! ```

pub mod clock;
pub mod durable_end;
pub mod framing;
pub mod ids;
pub mod journal;
pub mod storage;

pub use clock::{Clock, ManualClock, SystemClock};
pub use ids::{Offset, ProducerEpoch, ProducerId, Sequence, Timestamp};
pub use storage::{OpenMode, SimStorage, StdStorage, Storage, StorageFile, TearMode};
