//! Shared by every fuzz target: a counting global allocator (so a target can check that a
//! decoder never allocates beyond its stated limit, whatever length fields the input
//! declares) and a splitter that turns one input into several datagrams or files.
#![allow(dead_code)] // Each target uses only part of this module.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

/// The system allocator, counting live bytes, their peak and the largest single request.
pub struct CountingAlloc;

static LIVE_BYTES: AtomicUsize = AtomicUsize::new(0);
static PEAK_BYTES: AtomicUsize = AtomicUsize::new(0);
static LARGEST_BYTES: AtomicUsize = AtomicUsize::new(0);
static ALLOCATIONS: AtomicUsize = AtomicUsize::new(0);

fn record_growth(size: usize) {
    let live = LIVE_BYTES.fetch_add(size, Relaxed) + size;
    PEAK_BYTES.fetch_max(live, Relaxed);
    LARGEST_BYTES.fetch_max(size, Relaxed);
    ALLOCATIONS.fetch_add(1, Relaxed);
}

// SAFETY: every call is forwarded unchanged to `System`; only counters are updated.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        record_growth(layout.size());
        // SAFETY: the caller's contract is passed on unchanged.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        record_growth(layout.size());
        // SAFETY: as above.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        // SAFETY: as above.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE_BYTES.fetch_sub(layout.size(), Relaxed);
        record_growth(new_size);
        // SAFETY: as above.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// What one measured call allocated.
#[derive(Clone, Copy, Debug)]
pub struct Usage {
    /// Most bytes live at once above what was live before the call.
    pub peak_growth_bytes: usize,
    /// The largest single allocation (or reallocation target) during the call.
    pub largest_bytes: usize,
    /// Allocations made during the call.
    pub allocations: usize,
}

/// Runs `f` and reports its allocations (targets are single-threaded: libFuzzer runs one
/// input at a time unless told to fork, and fork runs are separate processes).
pub fn measure<R>(f: impl FnOnce() -> R) -> (R, Usage) {
    let base = LIVE_BYTES.load(Relaxed);
    PEAK_BYTES.store(base, Relaxed);
    LARGEST_BYTES.store(0, Relaxed);
    let allocations_before = ALLOCATIONS.load(Relaxed);
    let result = f();
    let usage = Usage {
        peak_growth_bytes: PEAK_BYTES.load(Relaxed).saturating_sub(base),
        largest_bytes: LARGEST_BYTES.load(Relaxed),
        allocations: ALLOCATIONS.load(Relaxed) - allocations_before,
    };
    (result, usage)
}

/// Asserts that `usage` stays within `factor` × the input length plus `slack_bytes`: a
/// decoder's memory must follow the bytes it was given, never a length field's claim.
pub fn assert_bounded(
    what: &str,
    usage: Usage,
    input_len: usize,
    factor: usize,
    slack_bytes: usize,
) {
    let limit = input_len.saturating_mul(factor).saturating_add(slack_bytes);
    assert!(
        usage.peak_growth_bytes <= limit && usage.largest_bytes <= limit,
        "{what}: {usage:?} for {input_len} input bytes exceeds the limit of {limit} bytes"
    );
}

/// Splits `data` into parts, each prefixed by a little-endian u16 length (a short last
/// part takes what is left): one fuzz input becomes several datagrams or files.
pub fn split(data: &[u8]) -> Vec<&[u8]> {
    let mut parts = Vec::new();
    let mut rest = data;
    while let Some((len, tail)) = rest.split_first_chunk::<2>() {
        let len = usize::from(u16::from_le_bytes(*len)).min(tail.len());
        let (part, next) = tail.split_at(len);
        parts.push(part);
        rest = next;
    }
    parts
}

/// Writes `bytes` durably as the file `path` of `storage` (its directory created).
pub fn put_file(storage: &dyn exactly_core::Storage, path: &std::path::Path, bytes: &[u8]) {
    if let Some(dir) = path.parent() {
        storage.create_dir_all(dir).expect("simulated directory");
    }
    let file = storage
        .open(path, exactly_core::OpenMode::CreateOrOpen)
        .expect("simulated file");
    file.write_at(0, bytes).expect("simulated write");
    file.sync_data().expect("simulated sync");
    if let Some(dir) = path.parent() {
        storage.sync_dir(dir).expect("simulated directory sync");
    }
}
