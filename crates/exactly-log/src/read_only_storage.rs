//! [`ReadOnlyStorage`]: the real file system opened strictly for reading — what read-only
//! commands (`consume`, `describe`, `verify`) and followers use.
//!
//! Files are opened with `O_RDONLY`, so these commands work on a read-only mount or a
//! directory the user cannot write, and cannot create, truncate or rewrite anything even by
//! mistake: every mutating call fails with `PermissionDenied` instead.

use exactly_core::{OpenMode, StdStorage, Storage, StorageFile};
use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

/// The real file system, read-only.
#[derive(Debug, Default, Clone, Copy)]
pub struct ReadOnlyStorage;

fn refused(what: &str, path: &Path) -> io::Error {
    // By design, not a failure: a follower's code path tried to write. Visible when asked.
    tracing::debug!(path = %path.display(), what, "read-only storage refused a write");
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        format!("{what} {} refused: storage is read-only", path.display()),
    )
}

#[derive(Debug)]
struct ReadOnlyFile {
    file: File,
    path: std::path::PathBuf,
}

impl StorageFile for ReadOnlyFile {
    fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.file.read_at(buf, position)
    }
    fn write_at(&self, _position: u64, _data: &[u8]) -> io::Result<()> {
        Err(refused("writing", &self.path))
    }
    fn sync_data(&self) -> io::Result<()> {
        Err(refused("syncing", &self.path))
    }
    fn set_len(&self, _len_bytes: u64) -> io::Result<()> {
        Err(refused("truncating", &self.path))
    }
    fn len_bytes(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

impl Storage for ReadOnlyStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        Err(refused("creating", path))
    }
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        match mode {
            OpenMode::Existing => Ok(Arc::new(ReadOnlyFile {
                file: File::open(path)?,
                path: path.to_path_buf(),
            })),
            OpenMode::CreateOrOpen | OpenMode::CreateNew => Err(refused("creating", path)),
        }
    }
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        StdStorage.list_dir(path)
    }
    fn exists(&self, path: &Path) -> io::Result<bool> {
        StdStorage.exists(path)
    }
    fn remove_file(&self, path: &Path) -> io::Result<()> {
        Err(refused("removing", path))
    }
    fn rename(&self, from: &Path, _to: &Path) -> io::Result<()> {
        Err(refused("renaming", from))
    }
    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        Err(refused("syncing", path))
    }
}
