//! A checkpoint writer whose epoch is below the stored one is refused with a typed
//! `Fenced` error — in the same transaction that would have committed its checkpoint —,
//! and so are its clean-ups; a lease-given epoch below the stored one is refused at
//! connect. What the newer writer committed is what a fresh reader restores.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use crate::checkpoint_common;

use checkpoint_common::{checkpoint, config, pg_url, reader, unique_schema, DropSchema};
use exactly_postgres::{EpochClaim, PostgresCheckpointStore};
use exactly_state::{CheckpointError, CheckpointStorage};

#[test]
fn stale_epoch_writer_is_fenced() {
    let url = pg_url("pg_checkpoint_stale_epoch_writer_is_fenced");
    let schema = unique_schema("fence");
    let _drop = DropSchema {
        url: url.clone(),
        schema: schema.clone(),
    };
    let old = PostgresCheckpointStore::connect(&config(&url, &schema, "job")).unwrap();
    assert_eq!(old.epoch(), 1);
    old.write(&checkpoint(1, 5000)).unwrap();

    // A second writer takes the job over: the first is fenced from now on.
    let new = PostgresCheckpointStore::connect(&config(&url, &schema, "job")).unwrap();
    assert_eq!(new.epoch(), 2);
    match old.write(&checkpoint(2, 5000)) {
        Err(CheckpointError::Fenced {
            epoch,
            stored_epoch,
            job,
            ..
        }) => {
            assert_eq!((epoch, stored_epoch, job.as_str()), (1, 2, "job"));
        }
        other => panic!("a stale writer must be fenced, got {other:?}"),
    }
    assert!(matches!(old.prune(1), Err(CheckpointError::Fenced { .. })));
    assert_eq!(reader(&url, &schema, "job").ids().unwrap(), vec![1]);

    new.write(&checkpoint(2, 5000)).unwrap();
    let restored = reader(&url, &schema, "job").latest().unwrap();
    assert!(restored.skipped.is_empty());
    assert_eq!(restored.checkpoint.unwrap(), checkpoint(2, 5000));

    // An epoch handed out by a lease: below the stored one is refused, above it wins.
    let mut stale = config(&url, &schema, "job");
    stale.epoch = EpochClaim::Given(1);
    assert!(matches!(
        PostgresCheckpointStore::connect(&stale),
        Err(CheckpointError::Fenced {
            epoch: 1,
            stored_epoch: 2,
            ..
        })
    ));
    let mut leased = config(&url, &schema, "job");
    leased.epoch = EpochClaim::Given(7);
    let leased = PostgresCheckpointStore::connect(&leased).unwrap();
    assert_eq!(leased.epoch(), 7);
    assert!(matches!(
        new.write(&checkpoint(3, 10)),
        Err(CheckpointError::Fenced {
            epoch: 2,
            stored_epoch: 7,
            ..
        })
    ));
    leased.write(&checkpoint(3, 10)).unwrap();
    // Another job in the same schema has its own epoch.
    let other = PostgresCheckpointStore::connect(&config(&url, &schema, "other")).unwrap();
    assert_eq!(other.epoch(), 1);
    other.write(&checkpoint(1, 10)).unwrap();
    assert_eq!(reader(&url, &schema, "job").ids().unwrap(), vec![1, 2, 3]);
}
