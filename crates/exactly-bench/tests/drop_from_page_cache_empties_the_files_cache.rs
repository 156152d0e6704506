//! Dropping a directory's files from the page cache: after the call, none of a freshly
//! written file's pages are resident (checked with `mincore` through a mapping would need
//! unsafe code; `fincore` from util-linux reads the same thing when it is installed).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::process::Command;

#[test]
fn every_file_is_dropped_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    let big = dir.path().join("sub").join("big.bin");
    std::fs::write(&big, vec![7u8; 8 << 20]).unwrap();
    std::fs::write(dir.path().join("small.bin"), b"x").unwrap();
    let dropped = exactly_bench::drop_from_page_cache(dir.path()).unwrap();
    assert_eq!(dropped, 2);
    let Ok(out) = Command::new("fincore")
        .args(["--bytes", "--noheadings", "--output", "RES"])
        .arg(&big)
        .output()
    else {
        println!("fincore is not installed: residency not checked");
        return;
    };
    let resident: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    // The kernel may keep a page or two in use; 8 MiB written must be gone.
    assert!(resident < 64 << 10, "{resident} bytes still cached");
}
