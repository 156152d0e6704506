//! The disk's own limits and state, for baselines: raw `write` + `fdatasync` bandwidth at a
//! chosen block size (one writer, or many writers each to its own file), and dropping a
//! directory's files from the page cache so that a read can be measured cold.

use crate::error::{io_error, BenchError};
use std::path::Path;
use std::time::{Duration, Instant};

/// Writes `block_bytes` blocks sequentially to a scratch file in `dir`, each followed by
/// `fdatasync`, for `budget`: the disk's own limit for durable writes of that size.
/// Returns the bytes written and the time taken. The scratch file is removed.
pub fn raw_fdatasync_bytes(
    dir: &Path,
    block_bytes: usize,
    budget: Duration,
) -> Result<(u64, Duration), BenchError> {
    use std::os::unix::fs::FileExt;
    if block_bytes == 0 {
        return Err(BenchError::Settings("raw block size of 0 bytes".into()));
    }
    let path = dir.join("raw.bin");
    let file = std::fs::File::create(&path).map_err(io_error("creating", &path))?;
    let block = vec![0xa5u8; block_bytes];
    let started = Instant::now();
    let mut written = 0u64;
    while started.elapsed() < budget {
        file.write_all_at(&block, written)
            .map_err(io_error("writing", &path))?;
        file.sync_data().map_err(io_error("fdatasync of", &path))?;
        written += block.len() as u64;
    }
    let elapsed = started.elapsed();
    drop(file);
    std::fs::remove_file(&path).map_err(io_error("removing", &path))?;
    Ok((written, elapsed))
}

/// `files` threads at once, each writing `block_bytes` blocks sequentially to its own
/// scratch file in `dir`, each write followed by `fdatasync`, for `budget`: the disk's own
/// limit for that many independent durable writers (a commit path whose syncs of
/// different files overlap perfectly reaches it). Returns the writes completed by all
/// threads together and the time taken. The scratch files are removed.
pub fn parallel_fdatasync_writes(
    dir: &Path,
    files: usize,
    block_bytes: usize,
    budget: Duration,
) -> Result<(u64, Duration), BenchError> {
    if files == 0 || block_bytes == 0 {
        return Err(BenchError::Settings(format!(
            "parallel raw writes to {files} files of {block_bytes}-byte blocks"
        )));
    }
    let paths: Vec<_> = (0..files)
        .map(|i| dir.join(format!("raw-parallel-{i}.bin")))
        .collect();
    let barrier = std::sync::Barrier::new(files);
    let started = Instant::now();
    let counts: Vec<Result<u64, BenchError>> = std::thread::scope(|s| {
        let threads: Vec<_> = paths
            .iter()
            .map(|path| {
                let barrier = &barrier;
                s.spawn(move || {
                    let file = std::fs::File::create(path).map_err(io_error("creating", path))?;
                    barrier.wait();
                    let writes = write_and_sync_until(&file, path, block_bytes, budget)?;
                    drop(file);
                    std::fs::remove_file(path).map_err(io_error("removing", path))?;
                    Ok(writes)
                })
            })
            .collect();
        threads
            .into_iter()
            .map(|t| t.join().map_err(|_| BenchError::ThreadPanicked)?)
            .collect()
    });
    let elapsed = started.elapsed();
    let mut writes = 0;
    for count in counts {
        writes += count?;
    }
    Ok((writes, elapsed))
}

/// Sequential `block_bytes` writes to `file`, each followed by `fdatasync`, for `budget`;
/// returns how many were made.
fn write_and_sync_until(
    file: &std::fs::File,
    path: &Path,
    block_bytes: usize,
    budget: Duration,
) -> Result<u64, BenchError> {
    use std::os::unix::fs::FileExt;
    let block = vec![0xa5u8; block_bytes];
    let started = Instant::now();
    let mut writes = 0u64;
    while started.elapsed() < budget {
        file.write_all_at(&block, writes * block_bytes as u64)
            .map_err(io_error("writing", path))?;
        file.sync_data().map_err(io_error("fdatasync of", path))?;
        writes += 1;
    }
    Ok(writes)
}

/// Makes every file under `dir` durable and then asks the kernel to drop its cached
/// pages (`posix_fadvise(POSIX_FADV_DONTNEED)`), so the next read of them comes from the
/// disk. Only these files are dropped, not the machine's whole page cache. Returns the
/// number of files dropped.
pub fn drop_from_page_cache(dir: &Path) -> Result<u64, BenchError> {
    let mut dropped = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(path) = stack.pop() {
        let entries = std::fs::read_dir(&path).map_err(io_error("listing", &path))?;
        for entry in entries {
            let entry = entry.map_err(io_error("listing", &path))?;
            let child = entry.path();
            let kind = entry.file_type().map_err(io_error("inspecting", &child))?;
            if kind.is_dir() {
                stack.push(child);
            } else if kind.is_file() {
                drop_file(&child)?;
                dropped += 1;
            }
        }
    }
    Ok(dropped)
}

/// fsync (dirty pages cannot be dropped) then `POSIX_FADV_DONTNEED` on the whole file.
fn drop_file(path: &Path) -> Result<(), BenchError> {
    use std::os::fd::AsRawFd;
    let file = std::fs::File::open(path).map_err(io_error("opening", path))?;
    file.sync_all().map_err(io_error("fsync of", path))?;
    // SAFETY: `posix_fadvise` only reads its integer arguments; the descriptor is valid
    // for the call because `file` is alive until the end of this function.
    #[allow(unsafe_code)]
    let status = unsafe { libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
    if status != 0 {
        let source = std::io::Error::from_raw_os_error(status);
        return Err(io_error("posix_fadvise(DONTNEED) of", path)(source));
    }
    Ok(())
}
