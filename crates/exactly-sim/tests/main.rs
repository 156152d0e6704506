//! Every integration test of `exactly-sim`, one binary (one link instead of one per file);
//! each scenario stays in its own file, declared here as a module. `cargo nextest`
//! runs each test in its own process, as separate binaries did. A file under `tests/`
//! not declared here would not run: `.ci/check-structure` refuses that.

mod cascade_pipeline_exactly_once;
mod cluster_auditor_catches_drift_beyond_bound;
mod cluster_heals_every_task_owned_once;
mod cluster_leases_hostile_one_owner_per_epoch;
mod cluster_sim_replays_from_seed;
mod faults_checked_into_net_config;
mod index_dedup_drops_overtaken;
mod ordered_exactly_once_in_order_hostile;
mod pipeline_rates_multiply;
mod plot_draws_points_and_curves;
mod resend_id_dedup_exactly_once_hostile;
mod resend_reliability_matches_seed;
mod secure_exactly_once_hostile;
mod secure_sim_replays_from_seed;
mod sim_replays_from_seed;
mod sweep_measures_near_analytic;
