//! `diffop rollout`: one episode with a reference controller, printed per step and optionally
//! plotted.

use super::control::{nonlinear_episode, policy_episode, voltage_episode, Controller, VoltageCtl};
use super::mpc::MpcPolicy;
use super::out::outln;
use super::table::{self, num, vec_cell};
use super::task::{task_parser, Task};
use super::usage;
use anyhow::{anyhow, bail, Result};
use clap::{Args, ValueEnum};
use diffop::envs::meta::{self, Var};
use diffop::envs::voltage::{VoltageEnv, VoltageEnvSettings};
use diffop::envs::{Env, NonlinearEnv};
use diffop::learn::evaluate::{initial_theta, PolicyController};
use diffop::learn::{Checkpoint, Task as LearnTask, TrainConfig};
use diffop::plot::{self, Line, Panel};
use diffop::rng::{self, Stream};
use serde_json::json;
use std::path::{Path, PathBuf};

/// Output format of a rollout.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RolloutFormat {
    /// Aligned table.
    Table,
    /// One JSON object.
    Json,
    /// CSV, one row per step.
    Csv,
}

/// Arguments of `diffop rollout`.
#[derive(Args, Debug)]
#[command(after_help = "\
Nonlinear tasks: the initial state is drawn from the run seed's initial-state stream; rows are
t = 0 … T−1 with x_t, u_t and c(x_t, u_t) (the last row includes the terminal cost).
Voltage: the evaluation plant, reset seed S, 100 steps; rows are t = 1 … 100 with v_t (p.u.),
q_t (MVar), the increment u_t and F(q_t). Plots: .png (bitmap) or .svg, labels in DejaVu Sans.

With --checkpoint DIR the controller is the DiffOP policy of a `diffop train` run: its task,
horizon H and actions per solve h come from the checkpoint (Traj runs re-plan every h = H
steps), θ is the checkpoint's (or θ(0) with --untrained). Example:
  diffop rollout --checkpoint runs/voltage-step-seed0 --seed 1 --plot after.png
  diffop rollout --checkpoint runs/voltage-step-seed0 --seed 1 --untrained --plot before.png")]
pub struct RolloutArgs {
    /// Task (taken from the checkpoint with --checkpoint).
    #[arg(long, value_parser = task_parser(), required_unless_present = "checkpoint")]
    pub task: Option<Task>,
    /// Controller (gradient-flow: voltage only).
    #[arg(
        long,
        value_enum,
        required_unless_present = "checkpoint",
        conflicts_with = "checkpoint"
    )]
    pub controller: Option<Controller>,
    /// Run directory of `diffop train` (or its checkpoint.json): roll out its policy.
    #[arg(long, value_name = "DIR")]
    pub checkpoint: Option<PathBuf>,
    /// With --checkpoint: use the run's untrained θ(0) instead of the checkpoint's θ.
    #[arg(long)]
    pub untrained: bool,
    /// Run seed (voltage: the reset seed).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// MPC horizon (default: the task's Step-mode H).
    #[arg(long)]
    pub horizon: Option<usize>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = RolloutFormat::Table)]
    pub format: RolloutFormat,
    /// Write a plot to this file (.png or .svg).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
}

/// The policy of a checkpoint: its configuration and the θ to roll out.
struct Trained {
    config: TrainConfig,
    theta: Vec<f64>,
    label: String,
}

fn load_trained(path: &Path, untrained: bool) -> Result<Trained> {
    let file = if path.is_dir() {
        path.join("checkpoint.json")
    } else {
        path.to_path_buf()
    };
    let ck = Checkpoint::load(&file)?;
    let state = ck.exact_state()?;
    let config = ck.config;
    let (theta, what) = if untrained {
        (initial_theta(&config)?, "untrained θ(0)".to_string())
    } else {
        (state.theta, format!("iteration {}", state.iteration))
    };
    let label = format!(
        "DiffOP {} H={} h={} ({what})",
        config.mode, config.horizon, config.h
    );
    Ok(Trained {
        config,
        theta,
        label,
    })
}

fn cli_task(t: LearnTask) -> Task {
    match t {
        LearnTask::Cartpole => Task::Cartpole,
        LearnTask::Arm => Task::Arm,
        LearnTask::Quadrotor => Task::Quadrotor,
        LearnTask::Rocket => Task::Rocket,
        LearnTask::Voltage => Task::Voltage,
    }
}

/// Run `diffop rollout`.
pub fn run(args: RolloutArgs) -> Result<()> {
    if args.untrained && args.checkpoint.is_none() {
        usage!("--untrained needs --checkpoint DIR (it selects the run's θ(0))");
    }
    if let Some(path) = &args.plot {
        plot::check_output(path)?;
    }
    let trained = match &args.checkpoint {
        Some(p) => Some(load_trained(p, args.untrained)?),
        None => None,
    };
    let task = match (&trained, args.task) {
        (Some(tr), Some(t)) if t != cli_task(tr.config.task) => bail!(
            "--task {} does not match the checkpoint's task {}",
            t.name(),
            tr.config.task
        ),
        (Some(tr), _) => cli_task(tr.config.task),
        (None, Some(t)) => t,
        (None, None) => bail!("--task is required (or --checkpoint DIR)"),
    };
    if trained.is_some() && args.horizon.is_some() {
        usage!("--horizon cannot be combined with --checkpoint (the run's H is used)");
    }
    let controller = args.controller.unwrap_or(Controller::MpcTrue);
    let label = trained
        .as_ref()
        .map_or_else(|| controller.name().to_string(), |t| t.label.clone());
    let horizon = args.horizon.unwrap_or(task.step_horizon());
    super::check_horizon(horizon)?;
    match task.nonlinear() {
        Some(t) => {
            if trained.is_none() && controller == Controller::GradientFlow {
                bail!("the gradient-flow controller exists for the voltage task only");
            }
            let mut env = NonlinearEnv::new(t);
            let mut rng = rng::stream(args.seed, Stream::InitialState);
            env.reset(&mut rng)?;
            let trace = match &trained {
                Some(tr) => {
                    let policy =
                        MpcPolicy::new(task, tr.config.horizon, tr.config.h, tr.theta.clone())?;
                    policy_episode(&mut env, task, Some(policy), tr.config.h)?
                }
                None => nonlinear_episode(&mut env, task, controller, horizon)?,
            };
            if let Some(path) = &args.plot {
                let caption = format!("{} — {label} (seed {})", task.name(), args.seed);
                plot_nonlinear(path, &caption, t, &trace)?;
            }
            print_nonlinear(task, &label, args.seed, args.format, &trace)?;
        }
        None => {
            let seed = u32::try_from(args.seed)
                .map_err(|_| anyhow!("voltage reset seeds are 32-bit, got {}", args.seed))?;
            let mut env = VoltageEnv::new(VoltageEnvSettings::evaluation())?;
            let mut ctl = match &trained {
                Some(tr) => {
                    VoltageCtl::Trained(Box::new(PolicyController::new(&tr.config, &tr.theta)))
                }
                None => VoltageCtl::new(controller, horizon),
            };
            let trace = voltage_episode(&mut env, &mut ctl, seed)?;
            if let Some(path) = &args.plot {
                let caption = format!("voltage — {label} (seed {seed})");
                plot_voltage(path, &caption, &trace)?;
            }
            print_voltage(&label, args.seed, args.format, &trace)?;
        }
    }
    Ok(())
}

/// One panel per group of components (same unit), lines named by symbol and meaning.
fn grouped_panels(vars: &[Var], series: &dyn Fn(usize) -> Vec<(f64, f64)>) -> Vec<Panel> {
    meta::groups(vars)
        .into_iter()
        .map(|(group, idx)| {
            let unit = vars[idx[0]].unit;
            let lines = idx
                .iter()
                .enumerate()
                .map(|(c, &j)| Line {
                    label: format!("{} — {}", vars[j].symbol, vars[j].name),
                    color: c,
                    points: series(j),
                    ..Line::default()
                })
                .collect();
            Panel {
                title: group.to_string(),
                x_label: "step t".into(),
                y_label: if unit == "-" {
                    group.to_string()
                } else {
                    format!("{group} ({unit})")
                },
                lines,
                ..Panel::default()
            }
        })
        .collect()
}

fn plot_nonlinear(
    path: &Path,
    caption: &str,
    task: diffop::model::tasks::NonlinearTask,
    trace: &super::control::NonlinearTrace,
) -> Result<()> {
    let xs = |j: usize| -> Vec<(f64, f64)> {
        trace
            .xs
            .iter()
            .enumerate()
            .map(|(t, x)| (t as f64, x[j]))
            .collect()
    };
    let us = |j: usize| -> Vec<(f64, f64)> {
        trace
            .us
            .iter()
            .enumerate()
            .map(|(t, u)| (t as f64, u[j]))
            .collect()
    };
    let mut panels = grouped_panels(meta::nonlinear_states(task), &xs);
    panels.extend(grouped_panels(meta::nonlinear_controls(task), &us));
    let cols = if panels.len() > 3 { 2 } else { 1 };
    let size = if cols == 2 { (640, 340) } else { (1000, 320) };
    plot::save(path, caption, &panels, cols, size)?;
    Ok(())
}

fn plot_voltage(path: &Path, caption: &str, trace: &super::control::VoltageTrace) -> Result<()> {
    let buses = ["bus 2", "bus 7", "bus 9"];
    let series = |f: &dyn Fn(usize) -> Vec<(f64, f64)>| -> Vec<Line> {
        (0..3)
            .map(|b| Line {
                label: buses[b].to_string(),
                color: b,
                points: f(b),
                ..Line::default()
            })
            .collect()
    };
    let v = series(&|b| {
        let mut pts = vec![(0.0, trace.v0[b])];
        pts.extend(trace.steps.iter().map(|s| (s.t as f64, s.v[b])));
        pts
    });
    let q = series(&|b| {
        let mut pts = vec![(0.0, 0.0)];
        pts.extend(trace.steps.iter().map(|s| (s.t as f64, s.q[b])));
        pts
    });
    let vp = Panel {
        title: "voltage magnitude (shaded: safe band 0.95–1.05)".into(),
        x_label: "step t".into(),
        y_label: "|V| (p.u.)".into(),
        lines: v,
        y_band: Some((0.95, 1.05)),
        ..Panel::default()
    };
    let qp = Panel {
        title: "reactive set-points (limits: evaluation set)".into(),
        x_label: "step t".into(),
        y_label: "q (MVar)".into(),
        lines: q,
        ..Panel::default()
    };
    plot::save(path, caption, &[vp, qp], 1, (1000, 360))?;
    Ok(())
}

fn print_nonlinear(
    task: Task,
    label: &str,
    seed: u64,
    format: RolloutFormat,
    trace: &super::control::NonlinearTrace,
) -> Result<()> {
    let total: f64 = trace.costs.iter().sum();
    match format {
        RolloutFormat::Json => {
            let steps: Vec<_> = trace
                .us
                .iter()
                .enumerate()
                .map(|(t, u)| json!({"t": t, "x": trace.xs[t], "u": u, "cost": trace.costs[t]}))
                .collect();
            let out = json!({
                "task": task.name(),
                "controller": label,
                "seed": seed,
                "steps": steps,
                "final_state": trace.xs.last(),
                "total": total,
            });
            outln!("{}", serde_json::to_string_pretty(&out)?)?;
        }
        RolloutFormat::Csv => {
            let (n, m) = task.nm();
            let mut head = vec!["t".to_string()];
            head.extend((0..n).map(|j| format!("x{j}")));
            head.extend((0..m).map(|j| format!("u{j}")));
            head.push("cost".into());
            outln!("{}", head.join(","))?;
            for (t, u) in trace.us.iter().enumerate() {
                let mut row = vec![t.to_string()];
                row.extend(trace.xs[t].iter().map(|v| v.to_string()));
                row.extend(u.iter().map(|v| v.to_string()));
                row.push(trace.costs[t].to_string());
                outln!("{}", row.join(","))?;
            }
        }
        RolloutFormat::Table => {
            let cells: Vec<Vec<String>> = trace
                .us
                .iter()
                .enumerate()
                .map(|(t, u)| {
                    vec![
                        t.to_string(),
                        vec_cell(&trace.xs[t], 4),
                        vec_cell(u, 4),
                        num(trace.costs[t], 4),
                    ]
                })
                .collect();
            table::print(&["t", "x_t", "u_t", "cost"], &cells)?;
            outln!("total episode cost L = {}", num(total, 4))?;
        }
    }
    Ok(())
}

fn print_voltage(
    label: &str,
    seed: u64,
    format: RolloutFormat,
    trace: &super::control::VoltageTrace,
) -> Result<()> {
    let total: f64 = trace.steps.iter().map(|s| s.cost).sum();
    let mut w = 1.0;
    let mut transient = 0.0;
    for s in &trace.steps {
        w *= 0.99;
        transient += w * s.cost;
    }
    match format {
        RolloutFormat::Json => {
            let out = json!({
                "task": "voltage",
                "controller": label,
                "seed": seed,
                "initial": {"v": trace.v0, "q": [0.0, 0.0, 0.0]},
                "steps": trace.steps,
                "total": total,
                "transient": transient,
            });
            outln!("{}", serde_json::to_string_pretty(&out)?)?;
        }
        RolloutFormat::Csv => {
            outln!("t,v2,v7,v9,q2,q7,q9,u2,u7,u9,cost")?;
            for s in &trace.steps {
                let mut row = vec![s.t.to_string()];
                row.extend(s.v.iter().chain(&s.q).chain(&s.u).map(|v| v.to_string()));
                row.push(s.cost.to_string());
                outln!("{}", row.join(","))?;
            }
        }
        RolloutFormat::Table => {
            let cells: Vec<Vec<String>> = trace
                .steps
                .iter()
                .map(|s| {
                    vec![
                        s.t.to_string(),
                        vec_cell(&s.v, 5),
                        vec_cell(&s.q, 4),
                        vec_cell(&s.u, 4),
                        num(s.cost, 6),
                    ]
                })
                .collect();
            table::print(&["t", "v (p.u.)", "q (MVar)", "u (MVar)", "F"], &cells)?;
            outln!(
                "total Σ F_t = {}, transient Σ 0.99^t F_t = {}",
                num(total, 6),
                num(transient, 6)
            )?;
        }
    }
    Ok(())
}
