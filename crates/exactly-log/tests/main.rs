//! Every integration test of `exactly-log`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod common;

mod consistency_holds_for_a_follower;
mod consistency_holds_through_mutations;
mod consumer_offsets_snapshot_bounds_scan;
mod copy_exactly_once_resumes_from_group_positions;
mod crash_point_sweep;
mod detect_bit_flips;
mod durable_end_evidence_bounds_torn_tail_recovery;
mod durable_end_of_an_older_build_still_bounds_recovery;
mod fail_stop_on_fsync_error;
mod group_commit_concurrent_crash;
mod group_commit_overlapping_syncs;
mod log_append_read_reopen;
mod produce_bad_line_keeps_the_records_before_it;
mod produce_resume_appends_only_what_is_missing;
mod producer_model_proptest;
mod recover_torn_tail;
mod regression_batch_offset_overflow;
mod regression_epoch_exhaustion;
mod regression_marker_durable_without_fsync;
mod regression_prepared_handover_fences;
mod regression_producer_rebuild_ignores_damage;
mod regression_read_skips_damaged_batch;
mod regression_smaller_batch_limit_truncates;
mod regression_stale_snapshot_after_truncation;
mod regression_zombie_send_race;
mod scan_across_segment_rolls;
mod scan_from_below_start_is_out_of_range;
mod scan_read_committed_stops_at_lso;
mod scan_stops_at_end_as_of_call;
mod scoped_follower_sees_only_durable_records;
mod scoped_open_locks_owned_topics;
mod scoped_recovery_leaves_foreign_markers_pending;
mod txn_commit_abort_isolation;
mod txn_concurrent_commits_race_takeovers;
mod txn_crash_point_sweep;
mod txn_crash_point_sweep_offsets;
mod txn_late_marker;
mod txn_model_proptest;
mod txn_snapshot_bounds_replay;
mod txn_table_model_proptest;
mod txn_trailing_markers_become_visible;
