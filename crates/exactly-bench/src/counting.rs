//! A storage wrapper that counts what the log writes to its segment files and how many
//! `fdatasync`s it makes of them: the block size a raw-disk baseline must use to be
//! comparable ("bytes made durable per sync").

use exactly_core::{OpenMode, StdStorage, Storage, StorageFile};
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

/// Counters shared by every segment file opened through one [`CountingStorage`].
#[derive(Debug, Default)]
pub struct SegmentCounters {
    /// Bytes written to segment files.
    pub bytes_written: AtomicU64,
    /// `sync_data` calls on segment files.
    pub syncs: AtomicU64,
}

impl SegmentCounters {
    /// Average bytes made durable per segment `fdatasync` (`None` before the first sync).
    pub fn bytes_per_sync(&self) -> Option<f64> {
        let syncs = self.syncs.load(Ordering::Relaxed);
        let bytes = self.bytes_written.load(Ordering::Relaxed);
        (syncs > 0).then(|| bytes as f64 / syncs as f64)
    }
}

/// [`StdStorage`] that counts writes and syncs of log segment files (`*.log`).
#[derive(Debug, Default)]
pub struct CountingStorage {
    inner: StdStorage,
    /// What was counted so far.
    pub counters: Arc<SegmentCounters>,
}

#[derive(Debug)]
struct CountingFile {
    inner: Arc<dyn StorageFile>,
    counters: Arc<SegmentCounters>,
}

impl StorageFile for CountingFile {
    fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read_at(position, buf)
    }
    fn write_at(&self, position: u64, data: &[u8]) -> io::Result<()> {
        self.inner.write_at(position, data)?;
        let len = data.len() as u64;
        self.counters
            .bytes_written
            .fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
    fn sync_data(&self) -> io::Result<()> {
        self.inner.sync_data()?;
        self.counters.syncs.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        self.inner.set_len(len_bytes)
    }
    fn len_bytes(&self) -> io::Result<u64> {
        self.inner.len_bytes()
    }
}

impl Storage for CountingStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let file = self.inner.open(path, mode)?;
        if path.extension().is_some_and(|e| e == "log") {
            return Ok(Arc::new(CountingFile {
                inner: file,
                counters: Arc::clone(&self.counters),
            }));
        }
        Ok(file)
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        self.inner.exists(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.inner.remove_file(path)
    }
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        self.inner.rename(from, to)
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.inner.sync_dir(path)
    }
}
