//! Storage-fault sweep of the embedded endpoint store: after a bank endpoint processed a
//! workload (journals rolled into snapshots on the way), one bit is flipped, one sector
//! zeroed or the file truncated at sampled places of **every file** of the store. Reopening
//! must either refuse with an error naming the file, or give back every committed batch —
//! position, inbox and balances equal to the workload's model — and processing the whole
//! input again must change nothing. An open that succeeds with a commit lost is a failure.
//!
//! Knobs: `EXACTLY_SEED`, `EXACTLY_FAULT_SAMPLES` (random flips per file, default 4).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use exactly_core::{ManualClock, SimStorage, Storage};
use exactly_endpoint::testkit::{
    balances, bank_workload, check_inbox, committed_offset, VecPublisher, Workload,
    DEAD_LETTERS_TOPIC,
};
use exactly_endpoint::{EmbeddedOptions, EmbeddedStore, Endpoint, EndpointConfig};
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use std::path::Path;
use std::sync::Arc;

const STORE: &str = "/store";

fn options() -> EmbeddedOptions {
    EmbeddedOptions {
        // Small journals, so the store rolls into snapshots during the workload.
        journal_bytes_max: 16 << 10,
        ..EmbeddedOptions::default()
    }
}

fn open(storage: &SimStorage) -> Result<EmbeddedStore, exactly_endpoint::StoreError> {
    EmbeddedStore::open_with(Arc::new(storage.clone()), STORE, options())
}

/// Processes every delivery of `workload` and dispatches the outbox.
fn process_all(workload: &Workload, store: EmbeddedStore) -> Result<EmbeddedStore, String> {
    let config = EndpointConfig {
        dead_letter_topic: DEAD_LETTERS_TOPIC.into(),
        dispatch_batch_max: 16,
    };
    let mut ep = Endpoint::new(
        workload.debit_handler(8),
        store,
        config,
        Arc::new(ManualClock::new(0)),
    );
    let mut downstream = VecPublisher::default();
    for chunk in workload.deliveries.chunks(8) {
        ep.process(chunk).map_err(|e| e.to_string())?;
        ep.dispatch(&mut downstream).map_err(|e| e.to_string())?;
    }
    Ok(ep.into_store())
}

#[derive(Clone, Copy, Debug)]
enum Fault {
    FlipBit(usize, u8),
    ZeroSector(usize),
    Truncate(usize),
}

fn faults_for(len: usize, random: usize, rng: &mut SmallRng) -> Vec<Fault> {
    if len == 0 {
        return Vec::new();
    }
    let mut flips = vec![0, len - 1, len - 1 - rng.random_range(0..64.min(len))];
    flips.extend((0..random).map(|_| rng.random_range(0..len)));
    let mut faults: Vec<Fault> = flips
        .into_iter()
        .map(|p| Fault::FlipBit(p, rng.random_range(0..8)))
        .collect();
    let last_sector = (len - 1) / 512 * 512;
    faults.extend([0, last_sector].map(Fault::ZeroSector));
    faults.extend([0, len / 2, len - 1].map(Fault::Truncate));
    faults
}

fn apply(fault: Fault, mut bytes: Vec<u8>) -> Vec<u8> {
    match fault {
        Fault::FlipBit(p, bit) => bytes[p] ^= 1 << bit,
        Fault::ZeroSector(p) => {
            let end = (p + 512).min(bytes.len());
            bytes[p..end].fill(0);
        }
        Fault::Truncate(len) => bytes.truncate(len),
    }
    bytes
}

/// The debit side's balances (accounts `a-…`) must equal the workload's model.
fn check_debits(workload: &Workload, store: &mut EmbeddedStore) -> Result<(), String> {
    let got = balances(store)?;
    let want: std::collections::BTreeMap<String, i64> = workload
        .expected_balances()
        .into_iter()
        .filter(|(account, _)| account.starts_with("a-"))
        .collect();
    if got != want {
        return Err(format!(
            "debit balances differ from the model: {got:?} vs {want:?}"
        ));
    }
    Ok(())
}

/// `Ok(true)`: refused naming the file; `Ok(false)`: worked and matched the model.
fn judge(workload: &Workload, storage: &SimStorage, file: &str) -> Result<bool, String> {
    let mut store = match open(storage) {
        Ok(store) => store,
        Err(error) if error.to_string().contains(file) => return Ok(true),
        Err(error) => return Err(format!("refused without naming {file}: {error}")),
    };
    let committed = committed_offset(&mut store).map_err(|e| e.to_string())?;
    if committed != workload.deliveries.len() {
        return Err(format!(
            "opened with position {committed}, committed {}",
            workload.deliveries.len()
        ));
    }
    check_inbox(workload, &mut store)?;
    check_debits(workload, &mut store)?;
    let mut store = process_all(workload, store).map_err(|e| format!("re-processing: {e}"))?;
    check_debits(workload, &mut store).map_err(|e| format!("after replay: {e}"))?;
    Ok(false)
}

#[test]
fn every_fault_in_the_embedded_store_is_refused_or_harmless() {
    let seed: u64 = std::env::var("EXACTLY_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| rand::rng().random());
    let samples: usize = std::env::var("EXACTLY_FAULT_SAMPLES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(4);
    println!("seed {seed}, random flips per file {samples}");
    let mut rng = SmallRng::seed_from_u64(seed);
    let workload = bank_workload(seed, 600, 20, 0.1, 5);
    let clean = SimStorage::new(seed);
    let store = open(&clean).unwrap();
    drop(process_all(&workload, store).unwrap());
    let files = clean
        .list_dir(Path::new(STORE))
        .unwrap()
        .into_iter()
        .filter(|f| f != "LOCK");
    let (mut tried, mut refused, mut failures) = (0, 0, Vec::new());
    for file in files {
        let path = Path::new(STORE).join(&file);
        let bytes = clean.live_bytes(&path).unwrap();
        for fault in faults_for(bytes.len(), samples, &mut rng) {
            let storage = clean.fork();
            storage
                .overwrite_bytes(&path, apply(fault, bytes.clone()))
                .unwrap();
            tried += 1;
            match judge(&workload, &storage, &file) {
                Ok(was_refused) => refused += u32::from(was_refused),
                Err(why) => failures.push(format!("{file} {fault:?}: {why}")),
            }
        }
    }
    println!(
        "faults tried {tried}, refused naming the file {refused}, worked {}, silently wrong or \
         unnamed {}",
        tried - refused - failures.len() as u32,
        failures.len()
    );
    assert!(failures.is_empty(), "seed {seed}:\n{}", failures.join("\n"));
}
