//! [`SimStorage`]: an in-memory file system that knows which bytes a crash would keep.
//!
//! Every file has *live* bytes (what reads see) and *durable* bytes (what survived the last
//! `sync_data`). Every directory entry is live at once and durable after `sync_dir` of its
//! parent. [`SimStorage::crash`] throws away everything that was not durable — optionally
//! keeping a torn prefix of unsynced appends, as real disks do — and hands out a fresh
//! generation: handles opened before the crash fail from then on.
//!
//! Crash-point sweeps use [`SimStorage::crash_after_mutations`]: mutations `1..=n` succeed,
//! mutation `n + 1` and everything after it fail as if the machine had stopped.
//!
//! Simplification (documented in `docs/design.md`): directories are durable as soon as they
//! are created; only file entries follow the strict `sync_dir` rule.

use super::{OpenMode, Storage, StorageFile};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

/// What a crash does to bytes that were appended to a file but never synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TearMode {
    /// Unsynced bytes vanish; the file is exactly its durable content.
    DropUnsynced,
    /// A random-length prefix of the unsynced appended bytes survives.
    KeepPrefix,
    /// A random-length prefix survives, followed by random garbage.
    PrefixThenGarbage,
    /// A random-length prefix survives, followed by zeros (a file extended before its data).
    PrefixThenZeros,
}

#[derive(Debug, Default, Clone)]
struct FileData {
    live: Vec<u8>,
    durable: Vec<u8>,
}

#[derive(Clone, Debug)]
struct SimState {
    generation: u64,
    next_inode: u64,
    files: HashMap<u64, FileData>,
    live_names: BTreeMap<PathBuf, u64>,
    durable_names: BTreeMap<PathBuf, u64>,
    dirs: BTreeSet<PathBuf>,
    mutations: u64,
    crash_after_mutations: Option<u64>,
    crashed: bool,
    fail_next_sync: bool,
    rng: SmallRng,
}

fn crashed_error() -> io::Error {
    io::Error::other("simulated crash: storage is down")
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{} not found", path.display()),
    )
}

impl SimState {
    /// Counts one mutation; fails once the configured crash point has passed.
    fn begin_mutation(&mut self) -> io::Result<()> {
        if self.crashed {
            return Err(crashed_error());
        }
        self.mutations += 1;
        if let Some(limit) = self.crash_after_mutations {
            if self.mutations > limit {
                self.crashed = true;
                return Err(crashed_error());
            }
        }
        Ok(())
    }

    fn check_up(&self, generation: u64) -> io::Result<()> {
        if self.crashed || generation != self.generation {
            return Err(crashed_error());
        }
        Ok(())
    }

    fn file(&mut self, inode: u64) -> io::Result<&mut FileData> {
        self.files
            .get_mut(&inode)
            .ok_or_else(|| io::Error::other("simulated file vanished"))
    }

    fn torn_content(&mut self, data: &FileData, tear: TearMode) -> Vec<u8> {
        let mut kept = data.durable.clone();
        let appended = match data.live.strip_prefix(data.durable.as_slice()) {
            Some(rest) if tear != TearMode::DropUnsynced => rest,
            _ => return kept,
        };
        let prefix_len = self.rng.random_range(0..=appended.len());
        // `prefix_len` was drawn from `0..=appended.len()`, so the split point is in range.
        let (prefix, _) = appended.split_at(prefix_len);
        kept.extend_from_slice(prefix);
        let rest_len = appended.len() - prefix_len;
        let filler_len = if rest_len == 0 {
            0
        } else {
            self.rng.random_range(0..=rest_len)
        };
        match tear {
            TearMode::PrefixThenGarbage => {
                kept.extend((0..filler_len).map(|_| self.rng.random::<u8>()));
            }
            TearMode::PrefixThenZeros => kept.resize(kept.len() + filler_len, 0),
            TearMode::DropUnsynced | TearMode::KeepPrefix => {}
        }
        kept
    }
}

/// An in-memory [`Storage`] with crash simulation. Clones share the same file system.
#[derive(Clone, Debug)]
pub struct SimStorage {
    state: Arc<Mutex<SimState>>,
}

impl SimStorage {
    /// An empty file system whose tearing choices follow `seed`.
    pub fn new(seed: u64) -> Self {
        let state = SimState {
            generation: 0,
            next_inode: 1,
            files: HashMap::new(),
            live_names: BTreeMap::new(),
            durable_names: BTreeMap::new(),
            dirs: BTreeSet::from([PathBuf::from("/")]),
            mutations: 0,
            crash_after_mutations: None,
            crashed: false,
            fail_next_sync: false,
            rng: SmallRng::seed_from_u64(seed),
        };
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, SimState> {
        // A panic while holding the lock leaves plain data behind; keep using it.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An independent copy of the whole machine (files, durability, crash settings):
    /// lets a test measure a workload on the copy before running it on the original.
    pub fn fork(&self) -> Self {
        let state = self.lock().clone();
        Self {
            state: Arc::new(Mutex::new(state)),
        }
    }

    /// Mutations (writes, syncs, truncations, creates, renames, removes) since the last crash.
    pub fn mutation_count(&self) -> u64 {
        self.lock().mutations
    }

    /// Lets `n` more mutations succeed (counted from the last crash), then fails everything.
    pub fn crash_after_mutations(&self, n: u64) {
        self.lock().crash_after_mutations = Some(n);
    }

    /// Disarms a crash point set by [`SimStorage::crash_after_mutations`] that was not
    /// reached (the workload finished in fewer mutations).
    pub fn clear_crash_point(&self) {
        self.lock().crash_after_mutations = None;
    }

    /// Whether the simulated machine has stopped (the crash point was reached).
    pub fn is_crashed(&self) -> bool {
        self.lock().crashed
    }

    /// The next `sync_data` fails with an I/O error and makes nothing durable.
    pub fn fail_next_sync(&self) {
        self.lock().fail_next_sync = true;
    }

    /// Crashes and restarts the machine: unsynced bytes and unsynced directory entries are
    /// lost (torn per `tear`), open handles become unusable, the crash point is cleared.
    pub fn crash(&self, tear: TearMode) {
        let mut state = self.lock();
        let survivors: BTreeSet<u64> = state.durable_names.values().copied().collect();
        let mut files = HashMap::new();
        for inode in survivors {
            let Some(data) = state.files.get(&inode).cloned() else {
                continue;
            };
            let content = state.torn_content(&data, tear);
            files.insert(
                inode,
                FileData {
                    live: content.clone(),
                    durable: content,
                },
            );
        }
        state.files = files;
        state.live_names = state.durable_names.clone();
        state.generation += 1;
        state.crashed = false;
        state.crash_after_mutations = None;
        state.fail_next_sync = false;
        state.mutations = 0;
    }

    /// Live bytes of the file at `path` (test inspection).
    pub fn live_bytes(&self, path: &Path) -> Option<Vec<u8>> {
        let state = self.lock();
        let inode = state.live_names.get(path)?;
        state.files.get(inode).map(|f| f.live.clone())
    }

    /// Overwrites live and durable bytes of the file at `path` (test corruption).
    pub fn overwrite_bytes(&self, path: &Path, bytes: Vec<u8>) -> io::Result<()> {
        let mut state = self.lock();
        let inode = *state.live_names.get(path).ok_or_else(|| not_found(path))?;
        let file = state.file(inode)?;
        file.live = bytes.clone();
        file.durable = bytes;
        Ok(())
    }
}

#[derive(Debug)]
struct SimFile {
    state: Arc<Mutex<SimState>>,
    inode: u64,
    generation: u64,
}

impl SimFile {
    fn lock(&self) -> MutexGuard<'_, SimState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl StorageFile for SimFile {
    fn read_at(&self, position: u64, buf: &mut [u8]) -> io::Result<usize> {
        let mut state = self.lock();
        state.check_up(self.generation)?;
        let live = &state.file(self.inode)?.live;
        let start = match usize::try_from(position) {
            Ok(position) => position.min(live.len()),
            // A position beyond usize reads as past the end (0 bytes), like one past len.
            Err(_) => live.len(),
        };
        // `start <= live.len()` (clamped above) and `n` is at most both lengths, so every
        // split point below is in range.
        let (_, available) = live.split_at(start);
        let n = available.len().min(buf.len());
        let (dst, _) = buf.split_at_mut(n);
        let (src, _) = available.split_at(n);
        dst.copy_from_slice(src);
        Ok(n)
    }

    fn write_at(&self, position: u64, data: &[u8]) -> io::Result<()> {
        let mut state = self.lock();
        state.check_up(self.generation)?;
        state.begin_mutation()?;
        let live = &mut state.file(self.inode)?.live;
        let start = usize::try_from(position)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "position too large"))?;
        let end = start + data.len();
        if live.len() < end {
            live.resize(end, 0);
        }
        if let Some(target) = live.get_mut(start..end) {
            target.copy_from_slice(data);
        }
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut state = self.lock();
        state.check_up(self.generation)?;
        state.begin_mutation()?;
        if std::mem::take(&mut state.fail_next_sync) {
            return Err(io::Error::other("simulated fsync failure (EIO)"));
        }
        let file = state.file(self.inode)?;
        file.durable = file.live.clone();
        Ok(())
    }

    fn set_len(&self, len_bytes: u64) -> io::Result<()> {
        let mut state = self.lock();
        state.check_up(self.generation)?;
        state.begin_mutation()?;
        let len = usize::try_from(len_bytes)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "length too large"))?;
        state.file(self.inode)?.live.resize(len, 0);
        Ok(())
    }

    fn len_bytes(&self) -> io::Result<u64> {
        let mut state = self.lock();
        state.check_up(self.generation)?;
        Ok(state.file(self.inode)?.live.len() as u64)
    }
}

fn parent_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) => parent.to_path_buf(),
        // "/" and "": the root is its own directory, named by the empty path here.
        None => PathBuf::new(),
    }
}

impl Storage for SimStorage {
    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.begin_mutation()?;
        for ancestor in path.ancestors() {
            state.dirs.insert(ancestor.to_path_buf());
        }
        Ok(())
    }

    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn StorageFile>> {
        let mut state = self.lock();
        if state.crashed {
            return Err(crashed_error());
        }
        let existing = state.live_names.get(path).copied();
        let inode = match (existing, mode) {
            (Some(_), OpenMode::CreateNew) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{} exists", path.display()),
                ))
            }
            (Some(inode), _) => inode,
            (None, OpenMode::Existing) => return Err(not_found(path)),
            (None, OpenMode::CreateOrOpen | OpenMode::CreateNew) => {
                if !state.dirs.contains(&parent_of(path)) {
                    return Err(not_found(&parent_of(path)));
                }
                state.begin_mutation()?;
                let inode = state.next_inode;
                state.next_inode += 1;
                state.files.insert(inode, FileData::default());
                state.live_names.insert(path.to_path_buf(), inode);
                inode
            }
        };
        Ok(Arc::new(SimFile {
            state: Arc::clone(&self.state),
            inode,
            generation: state.generation,
        }))
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let state = self.lock();
        if state.crashed {
            return Err(crashed_error());
        }
        if !state.dirs.contains(path) {
            return Err(not_found(path));
        }
        let files = state.live_names.keys();
        let dirs = state.dirs.iter();
        let mut names: Vec<String> = files
            .chain(dirs)
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name().map(|n| n.to_string_lossy().into_owned()))
            .collect();
        names.sort();
        names.dedup();
        Ok(names)
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let state = self.lock();
        if state.crashed {
            return Err(crashed_error());
        }
        Ok(state.live_names.contains_key(path) || state.dirs.contains(path))
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.begin_mutation()?;
        state
            .live_names
            .remove(path)
            .map(|_| ())
            .ok_or_else(|| not_found(path))
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.begin_mutation()?;
        let inode = state
            .live_names
            .remove(from)
            .ok_or_else(|| not_found(from))?;
        state.live_names.insert(to.to_path_buf(), inode);
        Ok(())
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let mut state = self.lock();
        state.begin_mutation()?;
        let in_dir = |p: &PathBuf| p.parent() == Some(path);
        state.durable_names.retain(|p, _| !in_dir(p));
        let live: Vec<(PathBuf, u64)> = state
            .live_names
            .iter()
            .filter(|(p, _)| in_dir(p))
            .map(|(p, i)| (p.clone(), *i))
            .collect();
        state.durable_names.extend(live);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::write_file_atomically;

    fn file_at(storage: &SimStorage, path: &str) -> Arc<dyn StorageFile> {
        storage.create_dir_all(Path::new("/d")).unwrap();
        storage
            .open(Path::new(path), OpenMode::CreateOrOpen)
            .unwrap()
    }

    #[test]
    fn unsynced_bytes_and_entries_are_lost_on_crash() {
        let storage = SimStorage::new(1);
        let file = file_at(&storage, "/d/a");
        file.write_at(0, b"hello").unwrap();
        file.sync_data().unwrap();
        storage.crash(TearMode::DropUnsynced);
        // The entry was never made durable by sync_dir, so the file is gone.
        assert!(!storage.exists(Path::new("/d/a")).unwrap());
        assert!(file.len_bytes().is_err(), "old handles fail after a crash");
    }

    #[test]
    fn synced_bytes_survive_and_unsynced_tail_is_dropped() {
        let storage = SimStorage::new(2);
        let file = file_at(&storage, "/d/a");
        storage.sync_dir(Path::new("/d")).unwrap();
        file.write_at(0, b"durable").unwrap();
        file.sync_data().unwrap();
        file.write_at(7, b"-lost").unwrap();
        storage.crash(TearMode::DropUnsynced);
        assert_eq!(storage.live_bytes(Path::new("/d/a")).unwrap(), b"durable");
    }

    #[test]
    fn torn_tail_keeps_only_a_prefix_of_unsynced_bytes() {
        for seed in 0..50 {
            let storage = SimStorage::new(seed);
            let file = file_at(&storage, "/d/a");
            storage.sync_dir(Path::new("/d")).unwrap();
            file.write_at(0, b"abc").unwrap();
            file.sync_data().unwrap();
            file.write_at(3, b"defgh").unwrap();
            storage.crash(TearMode::KeepPrefix);
            let bytes = storage.live_bytes(Path::new("/d/a")).unwrap();
            assert!(b"abcdefgh".starts_with(&bytes), "seed {seed}: {bytes:?}");
            assert!(bytes.len() >= 3);
        }
    }

    #[test]
    fn crash_point_stops_every_later_mutation() {
        let storage = SimStorage::new(3);
        let file = file_at(&storage, "/d/a");
        let done = storage.mutation_count();
        storage.crash_after_mutations(done + 1);
        file.write_at(0, b"x").unwrap();
        assert!(file.sync_data().is_err());
        assert!(storage.is_crashed());
        assert!(file.write_at(1, b"y").is_err());
    }

    #[test]
    fn atomic_write_is_all_or_nothing_at_every_crash_point() {
        let reference = SimStorage::new(4);
        reference.create_dir_all(Path::new("/d")).unwrap();
        let before = reference.mutation_count();
        write_file_atomically(&reference, Path::new("/d/m"), b"new").unwrap();
        let ops = reference.mutation_count() - before;
        for crash_at in 0..=ops {
            let storage = SimStorage::new(crash_at);
            storage.create_dir_all(Path::new("/d")).unwrap();
            write_file_atomically(&storage, Path::new("/d/m"), b"old").unwrap();
            storage.crash_after_mutations(crash_at);
            let result = write_file_atomically(&storage, Path::new("/d/m"), b"new");
            storage.crash(TearMode::PrefixThenGarbage);
            let content = storage.live_bytes(Path::new("/d/m")).unwrap();
            assert!(
                content == b"old" || content == b"new",
                "crash at {crash_at}: {content:?}"
            );
            if result.is_ok() {
                assert_eq!(content, b"new", "acknowledged write lost at {crash_at}");
            }
        }
    }

    #[test]
    fn failed_sync_makes_nothing_durable() {
        let storage = SimStorage::new(5);
        let file = file_at(&storage, "/d/a");
        storage.sync_dir(Path::new("/d")).unwrap();
        file.write_at(0, b"data").unwrap();
        storage.fail_next_sync();
        assert!(file.sync_data().is_err());
        storage.crash(TearMode::DropUnsynced);
        assert_eq!(storage.live_bytes(Path::new("/d/a")).unwrap(), b"");
    }
}
