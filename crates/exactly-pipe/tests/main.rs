//! Every integration test of `exactly-pipe`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod secure_common;

mod durable_crash_restart_exactly_once;
mod durable_ends_refuse_damaged_fsynced_records;
mod durable_sender_refuses_journal_without_meta;
mod durable_sender_resume_check_names_the_line;
mod golden_transcripts;
mod receiver_dedup_model;
mod receiver_sender_table_model;
mod secure_cookie_holding_flooder_is_rate_limited;
mod secure_forged_frames_are_not_delivered;
mod secure_handshake_flood_is_bounded;
mod secure_hostile_datagrams_during_lossy_transfer;
mod secure_incarnation_limit_is_refused_visibly;
mod secure_key_reused_with_new_state_dir_delivers_everything;
mod secure_replay_after_restart_delivers_nothing;
mod secure_replay_window_model;
mod secure_sender_table_exhaustion_attack;
mod udp_driver_delivers_exactly_once_under_loss_and_dup;
