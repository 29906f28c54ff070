//! The integration tests, linked into one binary (one link and one monomorphisation of the
//! library's generics instead of one per file; docs/build-time.md). Run one file's tests
//! with `cargo test --test it <module>::`.

mod cli;
mod cli_reliability;
mod common;
mod config_fuzz;
mod ddpg;
mod derivatives;
mod envs_nonlinear;
mod init_pdp;
mod pdp;
mod reproduce;
mod rlmpc;
mod rlmpc_bounds;
mod sampler;
mod sensitivity;
mod sensitivity_fingerprint;
mod sensitivity_proptest;
mod sensitivity_x0;
mod solve_fuzz;
mod solver;
mod symbolic;
mod theta_init;
mod training;
mod voltage_env;
