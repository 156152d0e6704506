//! Every integration test of `exactly-state`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod checkpoint_file_framing;
mod checkpoint_store_crash_sweep;
mod monoid_laws;
mod non_window_rescale;
mod window_replay_never_emits_twice;
