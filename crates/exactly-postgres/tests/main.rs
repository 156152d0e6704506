//! Every integration test of `exactly-postgres`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod checkpoint_common;
mod common;
mod lease_common;

mod lease_store_bad_row_is_an_error;
mod lease_store_commit_check_fences_stale_epoch;
mod lease_store_connection_lost;
mod lease_store_matches_model;
mod lease_store_racing_acquires_one_winner;
mod lease_store_tables_created_once_by_racing_connects;
mod orphans_dropped_only_when_their_run_is_gone;
mod pg_checkpoint_balances_exact_under_connection_loss;
mod pg_checkpoint_commit_connection_lost;
mod pg_checkpoint_commit_fenced_by_task_lease;
mod pg_checkpoint_damaged_blob_is_refused;
mod pg_checkpoint_stale_epoch_writer_is_fenced;
mod pg_connection_lost_mid_transaction;
mod pg_crash_points_exactly_once;
mod pg_store_refuses_second_writer;
mod reconnect_retries_only_connection_errors;
mod regression_pg_errors_carry_server_diagnosis;
