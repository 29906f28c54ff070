//! `diffop env list`: the tasks with their dimensions, horizons and exploration σ.

use super::out::outln;
use super::table::{self, num};
use super::task::{TableFormat, Task};
use anyhow::Result;
use clap::{Args, Subcommand};
use diffop::envs::meta::{self, Var};
use serde::Serialize;

/// `diffop env ...`.
#[derive(Subcommand, Debug)]
pub enum EnvCommand {
    /// List the tasks: n, m, d, T, Step-mode H, Traj-mode H, exploration σ, and the names,
    /// units and bounds of their states and controls.
    List(ListArgs),
}

/// Arguments of `diffop env list`.
#[derive(Args, Debug)]
pub struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = TableFormat::Table)]
    pub format: TableFormat,
}

/// One task's row.
#[derive(Serialize, Debug)]
pub struct TaskInfo {
    /// Task name.
    pub task: &'static str,
    /// State dimension n.
    pub n: usize,
    /// Control dimension m.
    pub m: usize,
    /// Parameters d.
    pub d: usize,
    /// Training episode length T.
    pub episode_len: usize,
    /// Step-mode horizon.
    pub step_h: usize,
    /// Traj-mode horizon.
    pub traj_h: usize,
    /// Exploration σ.
    pub sigma: f64,
    /// σ₀ of the θ_f(0) perturbation (nonlinear tasks).
    pub sigma0: Option<f64>,
    /// The state components (names, units, bounds).
    pub states: Vec<Var>,
    /// The control components.
    pub controls: Vec<Var>,
}

/// Run `diffop env ...`.
pub fn run(cmd: EnvCommand) -> Result<()> {
    match cmd {
        EnvCommand::List(args) => list(&args),
    }
}

fn list(args: &ListArgs) -> Result<()> {
    let rows: Vec<TaskInfo> = Task::ALL
        .iter()
        .map(|&t| {
            let (n, m) = t.nm();
            TaskInfo {
                task: t.name(),
                n,
                m,
                d: t.d(),
                episode_len: t.episode_len(),
                step_h: t.step_horizon(),
                traj_h: t.traj_horizon(),
                sigma: t.default_sigma(),
                sigma0: t.nonlinear().map(|nt| nt.sigma0()),
                states: meta::variables(t).0,
                controls: meta::variables(t).1,
            }
        })
        .collect();
    match args.format {
        TableFormat::Json => outln!("{}", serde_json::to_string_pretty(&rows)?)?,
        TableFormat::Table => {
            let cells: Vec<Vec<String>> = rows
                .iter()
                .map(|r| {
                    vec![
                        r.task.to_string(),
                        r.n.to_string(),
                        r.m.to_string(),
                        r.d.to_string(),
                        r.episode_len.to_string(),
                        r.step_h.to_string(),
                        r.traj_h.to_string(),
                        num(r.sigma, 2),
                        r.sigma0.map_or("-".into(), |s| num(s, 1)),
                    ]
                })
                .collect();
            table::print(
                &["task", "n", "m", "d", "T", "Step H", "Traj H", "σ", "σ₀"],
                &cells,
            )?;
            for r in &rows {
                outln!("\n{}: state x ({}), control u ({})", r.task, r.n, r.m)?;
                let cells: Vec<Vec<String>> = (r.states.iter().map(|v| ("x", v)))
                    .chain(r.controls.iter().map(|v| ("u", v)))
                    .map(|(kind, v)| {
                        let b = |x: Option<f64>| x.map_or("-".to_string(), |x| x.to_string());
                        vec![
                            kind.to_string(),
                            v.symbol.to_string(),
                            v.name.to_string(),
                            v.unit.to_string(),
                            b(v.lower),
                            b(v.upper),
                        ]
                    })
                    .collect();
                table::print(&["", "symbol", "meaning", "unit", "lower", "upper"], &cells)?;
            }
            outln!(
                "\nNonlinear tasks have no state or control bounds (PDP imitation setting); the \
                 voltage q bounds are the evaluation limits (training: q̄₉ = 1.0)."
            )?;
            outln!(
                "voltage: T = 30 in training, 100 steps at evaluation; Step H = 6 is the \
                 short-horizon configuration (H = 30 the long one)."
            )?;
        }
    }
    Ok(())
}
