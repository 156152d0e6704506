//! A real `kill -9` loop of `exactly run balances --guarantee exactly-once` with its
//! checkpoints in PostgreSQL (`--checkpoints postgres://…`, a schema of its own, states
//! over 2 KiB stored as blobs): more transfers are generated before every run, the job is
//! killed with SIGKILL at a random moment ≥ 10 times mid-run (`EXACTLY_PG_KILLS` for
//! more) — each restart claims a new epoch and recovers from what the database holds —,
//! parallelism cycles through 1–3 and the sink switches between transactional and
//! idempotent. Then it runs to the end of its input, and an independent reader of the
//! log finds every account's balance equal to the sums computed from the input and every
//! transfer applied exactly once; `exactly run status --checkpoints` restores the newest
//! checkpoint from the database (checksums and blob digests checked) and shows it was
//! written under a later epoch than the first run's, and `run check --checkpoints` passes.
//! Last, a byte flipped in the newest checkpoint's blob makes `run status` and the job
//! itself refuse to restore it (`BlobDamaged`), never fall back in silence.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::kill_common;
use crate::pg_common;
use crate::run_common;
use crate::run_oracle;

use kill_common::{exactly, kill_loop};
use pg_common::pg_url;
use rand::Rng;
use run_common::{balances_command, gen_transfers_over, sink_of_run};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ACCOUNTS: u32 = 300;

fn run_command(dir: &Path, url: &str, schema: &str, parallelism: u32, sink: &str) -> Command {
    let extra = [
        "--audit",
        "applied",
        "--guarantee",
        "exactly-once",
        "--checkpoint-interval-ms",
        "20",
        "--checkpoint-inline-bytes-max",
        "2048",
        "--checkpoints",
        url,
        "--checkpoint-schema",
        schema,
    ];
    balances_command(dir, &extra, parallelism, sink)
}

#[test]
fn balances_with_postgres_checkpoints_killed_with_sigkill_ends_exactly_once() {
    let url = pg_url();
    let kills: u32 = exactly_testkit::cli::env_or("EXACTLY_PG_KILLS", 10);
    let seed = exactly_testkit::cli::seed_from_env();
    println!("{kills} kills, seed {seed} (EXACTLY_SEED={seed} replays it)");
    let schema = format!("t_ck_kill9_{}_{}", std::process::id(), seed % 1_000_000);
    let temp = tempfile::tempdir().unwrap();
    let dir = temp.path().join("log");
    gen_transfers_over(&dir, ACCOUNTS, 20_000, seed);
    let mut runs = 0u32;
    let (landed, total_runs) = kill_loop(
        kills,
        seed,
        6,
        || {
            runs += 1;
            gen_transfers_over(&dir, ACCOUNTS, 10_000, seed.wrapping_add(u64::from(runs)));
            run_command(&dir, &url, &schema, 1 + runs % 3, sink_of_run(runs))
        },
        // A run takes ~70 ms on an idle machine: kills come sooner so that they land.
        |rng| Duration::from_millis(rng.random_range(5..60)),
    );
    println!("{landed} kills landed in {total_runs} runs");
    assert!(
        landed >= kills,
        "only {landed} of {kills} kills landed mid-run (seed {seed})"
    );

    // Two whole runs end the test, each with new input to checkpoint (a run with nothing
    // new writes no checkpoint), so at least two epochs write however many of the killed
    // runs got as far as connecting (on a loaded machine every kill may land before that):
    // the newest checkpoint's epoch is then ≥ 2.
    for (round, sink) in [(1u64, "idempotent"), (2, "transactional")] {
        gen_transfers_over(&dir, ACCOUNTS, 1_000, seed.wrapping_add(1_000_000 + round));
        let whole = run_command(&dir, &url, &schema, 2, sink).status().unwrap();
        assert!(whole.success(), "a whole {sink} run failed (seed {seed})");
    }
    // No checkpoint files: the state directory holds only the status file.
    let files = std::fs::read_dir(dir.join(".jobs").join("balances"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect::<Vec<_>>();
    assert!(!files.iter().any(|f| f == "checkpoints"), "{files:?}");
    run_oracle::assert_balances_exactly_once(&dir, "transfers", "balances", Some("applied"));

    let status = exactly(
        &[
            "run",
            "status",
            "--job",
            "balances",
            "--checkpoints",
            &url,
            "--checkpoint-schema",
            &schema,
        ],
        &dir,
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(status.status.success(), "status: {text}");
    let report: serde_json::Value = serde_json::from_str(text.trim()).unwrap();
    let checkpoints = report["checkpoints"].as_array().unwrap();
    let newest = checkpoints.last().unwrap();
    assert_eq!(report["restorable_checkpoint"], newest["id"], "{report}");
    // Every run that got as far as connecting claimed a new epoch; the last one wrote last
    // (the killed runs, then the two whole ones).
    let epoch = newest["epoch"].as_u64().unwrap();
    assert!(
        (2..=u64::from(total_runs) + 2).contains(&epoch),
        "epoch {epoch} after {total_runs} runs: {report}"
    );
    assert!(newest["blobs"].as_u64().unwrap() >= 1, "{report}");

    // `run check` checks the balances and restores the newest checkpoint too.
    let check = exactly(
        &[
            "run",
            "check",
            "--input",
            "transfers",
            "--output",
            "balances",
            "--audit",
            "applied",
            "--checkpoints",
            &url,
            "--checkpoint-schema",
            &schema,
        ],
        &dir,
    )
    .output()
    .unwrap();
    let text = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "check: {text}");
    assert!(text.contains("\"restorable_checkpoint\""), "{text}");

    // A byte flipped in the newest checkpoint's blob: status, check and the job itself
    // refuse to restore it, naming the damaged blob.
    let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
    let flipped = client
        .execute(
            &format!(
                "UPDATE {schema}.checkpoint_blob_chunks c
                 SET data = set_byte(data, 0, get_byte(data, 0) # 1)
                 FROM {schema}.checkpoint_blob_refs r
                 WHERE r.job = 'balances' AND r.id = $1 AND c.job = r.job
                   AND c.digest = r.digest AND c.seq = 0"
            ),
            &[&newest["id"].as_i64().unwrap()],
        )
        .unwrap();
    assert_eq!(flipped, 1);
    for args in [
        &["run", "status", "--job", "balances"][..],
        &[
            "run",
            "balances",
            "--input",
            "transfers",
            "--output",
            "balances",
            "--audit",
            "applied",
        ][..],
    ] {
        let output = exactly(args, &dir)
            .args(["--checkpoints", &url, "--checkpoint-schema", &schema])
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{args:?} restored a damaged blob");
        assert!(stderr.contains("cannot be restored"), "{args:?}: {stderr}");
    }
    exactly_postgres::drop_schema(&url, &schema).unwrap();
}
