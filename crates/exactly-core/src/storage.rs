//! Files behind a trait: the only way `exactly`'s durable parts touch a disk.
//!
//! The contract mirrors POSIX closely enough that the std implementation is a thin wrapper,
//! and strictly enough that the simulated one can model a crash:
//! - bytes written with [`StorageFile::write_at`] are *live* (readable) but not *durable*
//!   until [`StorageFile::sync_data`] returns `Ok`;
//! - a created, renamed or removed directory entry is durable only after
//!   [`Storage::sync_dir`] on its parent directory;
//! - an `Err` from `sync_data` means the durable state is unknown: callers must fail-stop.

mod sim;
mod std_fs;

use std::fmt::Debug;
use std::io;
use std::path::Path;
use std::sync::Arc;

pub use sim::{SimStorage, TearMode};
pub use std_fs::StdStorage;

/// How [`Storage::open`] treats a missing or existing file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Open an existing file; a missing one is `NotFound`.
    Existing,
    /// Open the file, creating it empty if it is missing.
    CreateOrOpen,
    /// Create a new empty file; an existing one is `AlreadyExists`.
    CreateNew,
}

/// An open file. Positional I/O only, so one handle can be shared by readers and a writer.
pub trait StorageFile: Send + Sync + Debug {
    /// Reads up to `buf.len()` bytes at `position`; returns how many were read (0 at the end).
    fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<usize>;
    /// Writes all of `data` at `position`, extending the file if needed. Live, not durable.
    fn write_at(&self, position: u64, data: &[u8]) -> io::Result<()>;
    /// Makes every byte written so far durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Truncates or extends the file to `len_bytes`. Live, not durable until `sync_data`.
    fn set_len(&self, len_bytes: u64) -> io::Result<()>;
    /// Current live length in bytes.
    fn len_bytes(&self) -> io::Result<u64>;

    /// Reads exactly `buf.len()` bytes at `position`, or fails with `UnexpectedEof`.
    fn read_exact_at(&self, mut position: u64, mut buf: &mut [u8]) -> io::Result<()> {
        while !buf.is_empty() {
            let n = self.read_at(position, buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    format!("read past the end of the file at byte {position}"),
                ));
            }
            // `read_at` returns at most `buf.len()` bytes (its contract); more is a bug in
            // the implementation, not something input can cause.
            #[allow(clippy::expect_used)]
            let rest = buf
                .get_mut(n..)
                .expect("read_at returned at most buf.len() bytes");
            buf = rest;
            position += n as u64;
        }
        Ok(())
    }
}

/// A file system: directories, files, renames and directory syncs.
pub trait Storage: Send + Sync + Debug {
    /// Creates `path` and its missing parents.
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>>;
    /// Names of the entries of directory `path` (files and directories), sorted.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Whether a file or directory exists at `path`.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Atomically renames `from` to `to`, replacing `to`.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Makes the entries of directory `path` durable (fsync of the directory).
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
}

/// Replaces `path` with `bytes` atomically and durably: write a temp file, fsync it, rename it
/// over `path`, fsync the directory. After `Ok`, a crash leaves the new content; before it,
/// the old one (or none) — never a mix.
pub fn write_file_atomically(storage: &dyn Storage, path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path.parent().ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} has no parent", path.display()),
        )
    })?;
    let mut tmp_name = path
        .file_name()
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} has no file name", path.display()),
            )
        })?
        .to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let file = storage.open(&tmp, OpenMode::CreateOrOpen)?;
    file.set_len(0)?;
    file.write_at(0, bytes)?;
    file.sync_data()?;
    drop(file);
    storage.rename(&tmp, path)?;
    storage.sync_dir(dir)
}

/// Reads a whole file into memory.
pub fn read_file(storage: &dyn Storage, path: &Path) -> io::Result<Vec<u8>> {
    let file = storage.open(path, OpenMode::Existing)?;
    let len = usize::try_from(file.len_bytes()?)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large for memory"))?;
    let mut bytes = vec![0; len];
    file.read_exact_at(0, &mut bytes)?;
    Ok(bytes)
}

/// Name of the lock file [`lock_directory`] holds inside a directory.
pub const LOCK_FILE: &str = "LOCK";

/// Takes an exclusive `flock` on `dir/LOCK` (creating both if needed) on the real file
/// system: one writer process per directory. `Ok(None)` when another process holds it. The
/// lock lasts as long as the returned file is open, and ends with the process, however it
/// dies.
pub fn lock_directory(dir: &Path) -> io::Result<Option<std::fs::File>> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(LOCK_FILE))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(file)),
        Err(std::fs::TryLockError::WouldBlock) => Ok(None),
        Err(std::fs::TryLockError::Error(source)) => Err(source),
    }
}
