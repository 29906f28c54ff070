//! `diffop eval`: a reference controller on a task's evaluation set.
//!
//! Voltage: the Table-2 metrics over test seeds 0 … scenarios−1 (evaluation limits, 100 steps).
//! Nonlinear: the true episode cost from every unperturbed demonstration state.

use super::control::{nonlinear_episode, Controller, VoltageCtl};
use super::out::outln;
use super::table::{self, num};
use super::task::{task_parser, TableFormat, Task};
use super::{usage, UsageError};
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use diffop::envs::voltage::{evaluate, EvalSettings};
use diffop::envs::NonlinearEnv;
use serde_json::json;

/// Arguments of `diffop eval`.
#[derive(Args, Debug)]
pub struct EvalArgs {
    /// Task.
    #[arg(long, value_parser = task_parser())]
    pub task: Task,
    /// Controller (gradient-flow: voltage only).
    #[arg(long, value_enum)]
    pub controller: Controller,
    /// Number of voltage test scenarios (seeds 0 … N−1; voltage only).
    #[arg(long)]
    pub scenarios: Option<usize>,
    /// MPC horizon (default: the task's Step-mode H).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// Run `diffop eval`.
pub fn run(args: EvalArgs) -> Result<()> {
    let horizon = args.horizon.unwrap_or(args.task.step_horizon());
    super::check_horizon(horizon)?;
    match args.task.nonlinear() {
        None => eval_voltage(&args, horizon),
        Some(t) => {
            if args.scenarios.is_some() {
                usage!("--scenarios applies to the voltage task only (nonlinear tasks use their demonstration states)");
            }
            if args.controller == Controller::GradientFlow {
                bail!("the gradient-flow controller exists for the voltage task only");
            }
            let mut env = NonlinearEnv::new(t);
            let states = env.evaluation_states();
            let mut costs = Vec::with_capacity(states.len());
            for (k, x0) in states.iter().enumerate() {
                env.reset_to(x0)?;
                let trace = nonlinear_episode(&mut env, args.task, args.controller, horizon)
                    .with_context(|| format!("evaluation state {k}"))?;
                costs.push(trace.costs.iter().sum::<f64>());
            }
            let mean = costs.iter().sum::<f64>() / costs.len() as f64;
            match args.format {
                TableFormat::Json => {
                    let out = json!({
                        "task": args.task.name(),
                        "controller": args.controller.name(),
                        "horizon": horizon,
                        "mean_cost": mean,
                        "costs": costs,
                        "states": states,
                    });
                    outln!("{}", serde_json::to_string_pretty(&out)?)?;
                }
                TableFormat::Table => {
                    let cells: Vec<Vec<String>> = costs
                        .iter()
                        .enumerate()
                        .map(|(k, c)| {
                            vec![k.to_string(), table::vec_cell(&states[k], 3), num(*c, 3)]
                        })
                        .collect();
                    table::print(&["state", "x0", "episode cost"], &cells)?;
                    outln!(
                        "{} with {}: mean true episode cost {} over {} states",
                        args.task.name(),
                        args.controller.name(),
                        num(mean, 3),
                        costs.len()
                    )?;
                }
            }
            Ok(())
        }
    }
}

fn eval_voltage(args: &EvalArgs, horizon: usize) -> Result<()> {
    let settings = EvalSettings {
        scenarios: args.scenarios.unwrap_or(500),
        ..EvalSettings::default()
    };
    let controller = args.controller;
    let m =
        evaluate(&settings, || VoltageCtl::new(controller, horizon)).map_err(|e| anyhow!("{e}"))?;
    match args.format {
        TableFormat::Json => {
            let out = json!({
                "task": "voltage",
                "controller": controller.name(),
                "transient": m.transient,
                "steady": m.steady,
                "scenarios": m.scenarios,
                "low": {"transient": m.transient_low, "steady": m.steady_low, "scenarios": m.n_low},
                "high": {"transient": m.transient_high, "steady": m.steady_high, "scenarios": m.n_high},
            });
            outln!("{}", serde_json::to_string_pretty(&out)?)?;
        }
        TableFormat::Table => {
            let cells = vec![
                vec![
                    "all".into(),
                    m.scenarios.to_string(),
                    num(m.transient, 4),
                    num(m.steady, 5),
                ],
                vec![
                    "low".into(),
                    m.n_low.to_string(),
                    num(m.transient_low, 4),
                    num(m.steady_low, 5),
                ],
                vec![
                    "high".into(),
                    m.n_high.to_string(),
                    num(m.transient_high, 4),
                    num(m.steady_high, 5),
                ],
            ];
            outln!("voltage, controller {}", controller.name())?;
            table::print(&["scenarios", "count", "transient", "steady"], &cells)?;
        }
    }
    Ok(())
}

/// Command-line form of `diffop eval`: either a reference controller on a task
/// (`--task T --controller C`) or a trained policy from a run directory (`--checkpoint DIR`).
#[derive(Args, Debug)]
#[command(after_help = "\
With --checkpoint DIR: the θ of a `diffop train` run on its task's evaluation set (the run's
horizon H and h). --format table (default) or json; --scenarios N changes the number of voltage
test scenarios (seeds 0 … N−1; the run's eval_scenarios by default); --horizon is a usage error
(the run's H is used); --references adds the untrained θ(0) and mpc-true lines.
Runs of `diffop baseline` (RLMPC) and PDP checkpoints cannot be evaluated here: their
summary.json holds the final evaluation.")]
pub struct EvalCommand {
    /// Run directory (or checkpoint.json) of `diffop train`: evaluate its θ.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["task", "controller"])]
    pub checkpoint: Option<std::path::PathBuf>,
    /// With --checkpoint: also evaluate the untrained θ(0) and mpc-true references.
    #[arg(long)]
    pub references: bool,
    /// Task (required without --checkpoint).
    #[arg(long, value_parser = task_parser(), required_unless_present = "checkpoint")]
    pub task: Option<Task>,
    /// Controller (gradient-flow: voltage only; required without --checkpoint).
    #[arg(long, value_enum, required_unless_present = "checkpoint")]
    pub controller: Option<Controller>,
    /// Number of voltage test scenarios (seeds 0 … N−1; voltage only).
    #[arg(long)]
    pub scenarios: Option<usize>,
    /// MPC horizon (default: the task's Step-mode H; not with --checkpoint).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// Run `diffop eval` from its command-line form.
pub fn run_command(cmd: EvalCommand) -> Result<()> {
    if let Some(dir) = cmd.checkpoint {
        // Stable-DDPG / TASRL run directories (`diffop baseline --method stable-ddpg|tasrl`).
        if diffop::learn::ddpg::is_ddpg_run(&dir) {
            if cmd.horizon.is_some() {
                usage!("--horizon cannot be combined with --checkpoint (the run's H is used)");
            }
            return super::baseline::run_eval_ddpg(&dir, cmd.scenarios);
        }
        if cmd.horizon.is_some() {
            usage!("--horizon cannot be combined with --checkpoint (the run's H is used)");
        }
        return super::train::run_eval_checkpoint(&super::train::EvalCheckpointArgs {
            dir,
            references: cmd.references,
            threads: cmd.threads,
            scenarios: cmd.scenarios,
            format: cmd.format,
        });
    }
    if cmd.references {
        usage!("--references needs --checkpoint DIR (the references of a trained run)");
    }
    let task = cmd
        .task
        .ok_or_else(|| UsageError("--task is required (or --checkpoint DIR)".into()))?;
    let controller = cmd
        .controller
        .ok_or_else(|| UsageError("--controller is required (or --checkpoint DIR)".into()))?;
    let work = || {
        run(EvalArgs {
            task,
            controller,
            scenarios: cmd.scenarios,
            horizon: cmd.horizon,
            format: cmd.format,
        })
    };
    super::with_threads(cmd.threads, work)
}
