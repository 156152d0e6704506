//! Damage in PostgreSQL is found on restore, never restored: a byte flipped in a blob
//! chunk is `BlobDamaged` (an error, not a skip: the state is gone), a deleted chunk too;
//! a byte flipped in a checkpoint row's body is `DamagedRecord`, skipped and reported by
//! `latest` (the caller decides whether an older cut is acceptable). Undamaged, the
//! checkpoint comes back byte for byte, its large state reassembled from chunks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::checkpoint_common;

use checkpoint_common::{checkpoint, config, pg_url, reader, unique_schema, DropSchema};
use exactly_postgres::PostgresCheckpointStore;
use exactly_state::{CheckpointError, CheckpointStorage};

fn sql(url: &str, statement: &str) -> u64 {
    let mut client = postgres::Client::connect(url, postgres::NoTls).unwrap();
    client.execute(statement, &[]).unwrap()
}

#[test]
fn damaged_blob_is_refused() {
    let url = pg_url("pg_checkpoint_damaged_blob_is_refused");
    let schema = unique_schema("blob");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let store = PostgresCheckpointStore::connect(&config(&url, &schema, "job")).unwrap();
    // 20,000 bytes: a blob of 5 chunks of 4 KiB; the small state stays inline.
    store.write(&checkpoint(1, 20_000)).unwrap();
    store.write(&checkpoint(2, 20_000)).unwrap();
    assert_eq!(
        reader(&url, &schema, "job").load(2).unwrap(),
        checkpoint(2, 20_000)
    );
    let chunks: i64 = postgres::Client::connect(&url, postgres::NoTls)
        .unwrap()
        .query_one(
            &format!("SELECT count(*) FROM {schema}.checkpoint_blob_chunks"),
            &[],
        )
        .unwrap()
        .get(0);
    assert_eq!(chunks, 10, "two blobs of five chunks");

    // Flip one byte of the third chunk of checkpoint 2's blob.
    let flipped = sql(
        &url,
        &format!(
            "UPDATE {schema}.checkpoint_blob_chunks c SET data = set_byte(data, 100, get_byte(data, 100) # 1)
             FROM {schema}.checkpoint_blob_refs r
             WHERE r.job = 'job' AND r.id = 2 AND c.job = r.job AND c.digest = r.digest AND c.seq = 2"
        ),
    );
    assert_eq!(flipped, 1);
    let fresh = reader(&url, &schema, "job");
    match fresh.load(2) {
        Err(CheckpointError::BlobDamaged { reason, .. }) => {
            assert!(reason.contains("hash"), "{reason}")
        }
        other => panic!("a damaged blob must be refused, got {other:?}"),
    }
    assert!(matches!(
        fresh.latest(),
        Err(CheckpointError::BlobDamaged { .. })
    ));
    // Checkpoint 1's blob is untouched.
    assert_eq!(fresh.load(1).unwrap(), checkpoint(1, 20_000));

    // A missing chunk is refused too.
    sql(
        &url,
        &format!(
            "DELETE FROM {schema}.checkpoint_blob_chunks c USING {schema}.checkpoint_blob_refs r
             WHERE r.job = 'job' AND r.id = 1 AND c.job = r.job AND c.digest = r.digest AND c.seq = 4"
        ),
    );
    assert!(matches!(
        fresh.load(1),
        Err(CheckpointError::BlobDamaged { .. })
    ));

    // A damaged row body is skipped and reported, never restored.
    store.write(&checkpoint(3, 100)).unwrap();
    store.write(&checkpoint(4, 100)).unwrap();
    sql(
        &url,
        &format!(
            "UPDATE {schema}.checkpoints SET body = set_byte(body, 3, get_byte(body, 3) # 1)
             WHERE job = 'job' AND id = 4"
        ),
    );
    let restored = fresh.latest().unwrap();
    assert_eq!(restored.checkpoint.unwrap(), checkpoint(3, 100));
    assert_eq!(restored.skipped.len(), 1);
    assert!(matches!(
        restored.skipped[0],
        CheckpointError::DamagedRecord { id: 4, .. }
    ));
}
