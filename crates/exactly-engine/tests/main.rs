//! Every integration test of `exactly-engine`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod common;

mod balances_exactly_once_matches_reference;
mod barrier_alignment_consistent_cut;
mod checkpoint_crash_point_sweep;
mod clock_minimum_monotone;
mod compact_key_encodes_like_string;
mod coordinator_core_crash_simulation;
mod follow_idle_then_input_resumes_exactly_once;
mod follow_until_input_ended_drains_then_stops;
mod generate_continues_ids_after_existing;
mod idempotent_sink_crash_point_sweep;
mod job_checkpoint_restore_model_proptest;
mod job_reads_from_a_custom_input;
mod job_rescale_restores_state;
mod job_started_from_a_time_skips_earlier_records;
mod key_group_ranges_tile;
mod manifest_of_another_version_is_refused;
mod manifest_of_version_2_is_restored;
mod no_import_cycles_between_files;
mod output_timestamps_follow_the_run_clock;
mod pipeline_stage_failure_stops_the_others_and_names_it;
mod read_status_after_a_run;
mod regression_job_name_prefix_keeps_other_jobs_transactions;
mod transfer_fast_parse_agrees_with_serde;
mod window_count_crash_never_emits_twice;
mod window_count_fires_by_clock;
