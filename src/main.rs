//! The `diffop` command-line tool: solve one policy OCP with exact sensitivities, benchmark the
//! solver, and run the environments with reference controllers. Every command is a thin layer
//! over the library (see `src/cli/`).

mod cli;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// DiffOP: optimization-based control policies with exact sensitivities.
#[derive(Parser, Debug)]
#[command(
    name = "diffop",
    version,
    about = "DiffOP: control policies that solve an optimal control problem at every step.\n\
             A structured interior-point solver returns the plan u*(x; θ); implicit\n\
             differentiation of its KKT conditions gives exact ∂u*/∂θ for learning θ.",
    after_help = cli::EXAMPLES
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The subcommands. Adding one is a variant here and an arm in `main`.
#[derive(Subcommand, Debug)]
enum Command {
    /// Solve one policy OCP from a JSON request; print the plan (and sensitivities) as JSON.
    Solve(cli::solve::SolveArgs),
    /// Time solves, VJPs and Jacobians in closed loop and from cold starts.
    Bench(cli::bench::BenchArgs),
    /// Inspect the environments.
    #[command(subcommand)]
    Env(cli::envs::EnvCommand),
    /// Run one episode with a reference controller; print (and plot) the trajectory.
    Rollout(cli::rollout::RolloutArgs),
    /// Evaluate a reference controller, or a trained checkpoint, on a task's evaluation set.
    Eval(cli::eval::EvalCommand),
    /// Train a DiffOP policy (Algorithm 1): run directory with config, metrics, plots, checkpoint.
    Train(cli::train::TrainArgs),
    /// Run an RLMPC baseline (rlmpc-td, rlmpc-dpg, rlmpc-td-dpg): run directory with metrics.
    Baseline(cli::baseline::BaselineArgs),
    /// Regenerate the paper's Figure 2, Table 2 and Figure 3 (all methods, 5 seeds, --quick).
    Reproduce(cli::reproduce::ReproduceArgs),
}

fn main() -> ExitCode {
    let args = Cli::parse();
    match args.command {
        Command::Solve(a) => cli::finish(cli::solve::run(a)),
        Command::Bench(a) => cli::finish(cli::bench::run(a)),
        Command::Env(a) => cli::finish(cli::envs::run(a)),
        Command::Rollout(a) => cli::finish(cli::rollout::run(a)),
        Command::Eval(a) => cli::finish(cli::eval::run_command(a)),
        Command::Train(a) => cli::finish(cli::train::run(&a)),
        Command::Baseline(a) => cli::finish(cli::baseline::run(&a)),
        Command::Reproduce(a) => cli::finish(cli::reproduce::run(a)),
    }
}
