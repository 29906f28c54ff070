//! `diffop rollout`: one episode with a reference controller, printed per step and optionally
//! plotted.

use super::control::{nonlinear_episode, voltage_episode, Controller, VoltageCtl};
use super::plot::{self, Panel};
use super::table::{self, num, vec_cell};
use super::task::Task;
use anyhow::{anyhow, bail, Result};
use clap::{Args, ValueEnum};
use diffop::envs::voltage::{VoltageEnv, VoltageEnvSettings};
use diffop::envs::{Env, NonlinearEnv};
use diffop::rng::{self, Stream};
use serde_json::json;
use std::path::PathBuf;

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
q_t (MVar), the increment u_t and F(q_t). Plots: .png (bitmap) or .svg, labels in DejaVu Sans.")]
pub struct RolloutArgs {
    /// Task.
    #[arg(long, value_enum)]
    pub task: Task,
    /// Controller (gradient-flow: voltage only).
    #[arg(long, value_enum)]
    pub controller: Controller,
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

/// Run `diffop rollout`.
pub fn run(args: RolloutArgs) -> Result<()> {
    let horizon = args.horizon.unwrap_or(args.task.step_horizon());
    if horizon == 0 {
        bail!("--horizon must be at least 1");
    }
    if let Some(path) = &args.plot {
        plot::check_extension(path)?;
    }
    match args.task.nonlinear() {
        Some(t) => {
            if args.controller == Controller::GradientFlow {
                bail!("the gradient-flow controller exists for the voltage task only");
            }
            let mut env = NonlinearEnv::new(t);
            let mut rng = rng::stream(args.seed, Stream::InitialState);
            env.reset(&mut rng)?;
            let trace = nonlinear_episode(&mut env, args.task, args.controller, horizon)?;
            print_nonlinear(&args, &trace)?;
            if let Some(path) = &args.plot {
                let time = |k: usize| (0..k).map(|t| t as f64);
                let (n, m) = args.task.nm();
                let states = (0..n)
                    .map(|j| {
                        let pts = time(trace.xs.len()).zip(trace.xs.iter().map(|x| x[j]));
                        (format!("x{j}"), pts.collect())
                    })
                    .collect();
                let controls = (0..m)
                    .map(|j| {
                        let pts = time(trace.us.len()).zip(trace.us.iter().map(|u| u[j]));
                        (format!("u{j}"), pts.collect())
                    })
                    .collect();
                let panels = [
                    Panel::new("states", "x", states),
                    Panel::new("controls", "u", controls),
                ];
                let caption = format!(
                    "{} — {} (seed {})",
                    args.task.name(),
                    args.controller.name(),
                    args.seed
                );
                plot::plot(path, &caption, &panels)?;
            }
        }
        None => {
            let seed = u32::try_from(args.seed)
                .map_err(|_| anyhow!("voltage reset seeds are 32-bit, got {}", args.seed))?;
            let mut env = VoltageEnv::new(VoltageEnvSettings::evaluation())?;
            let mut ctl = VoltageCtl::new(args.controller, horizon);
            let trace = voltage_episode(&mut env, &mut ctl, seed)?;
            print_voltage(&args, &trace)?;
            if let Some(path) = &args.plot {
                let buses = ["bus 2", "bus 7", "bus 9"];
                let v = (0..3)
                    .map(|b| {
                        let mut pts = vec![(0.0, trace.v0[b])];
                        pts.extend(trace.steps.iter().map(|s| (s.t as f64, s.v[b])));
                        (buses[b].to_string(), pts)
                    })
                    .collect();
                let q = (0..3)
                    .map(|b| {
                        let mut pts = vec![(0.0, 0.0)];
                        pts.extend(trace.steps.iter().map(|s| (s.t as f64, s.q[b])));
                        (buses[b].to_string(), pts)
                    })
                    .collect();
                let mut vp = Panel::new("voltage magnitude", "|V| (p.u.)", v);
                vp.band = Some((0.95, 1.05));
                let panels = [vp, Panel::new("reactive set-points", "q (MVar)", q)];
                let caption = format!("voltage — {} (seed {seed})", args.controller.name());
                plot::plot(path, &caption, &panels)?;
            }
        }
    }
    Ok(())
}

fn print_nonlinear(args: &RolloutArgs, trace: &super::control::NonlinearTrace) -> Result<()> {
    let total: f64 = trace.costs.iter().sum();
    match args.format {
        RolloutFormat::Json => {
            let steps: Vec<_> = trace
                .us
                .iter()
                .enumerate()
                .map(|(t, u)| json!({"t": t, "x": trace.xs[t], "u": u, "cost": trace.costs[t]}))
                .collect();
            let out = json!({
                "task": args.task.name(),
                "controller": args.controller.name(),
                "seed": args.seed,
                "steps": steps,
                "final_state": trace.xs.last(),
                "total": total,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        RolloutFormat::Csv => {
            let (n, m) = args.task.nm();
            let mut head = vec!["t".to_string()];
            head.extend((0..n).map(|j| format!("x{j}")));
            head.extend((0..m).map(|j| format!("u{j}")));
            head.push("cost".into());
            println!("{}", head.join(","));
            for (t, u) in trace.us.iter().enumerate() {
                let mut row = vec![t.to_string()];
                row.extend(trace.xs[t].iter().map(|v| v.to_string()));
                row.extend(u.iter().map(|v| v.to_string()));
                row.push(trace.costs[t].to_string());
                println!("{}", row.join(","));
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
            table::print(&["t", "x_t", "u_t", "cost"], &cells);
            println!("total episode cost L = {}", num(total, 4));
        }
    }
    Ok(())
}

fn print_voltage(args: &RolloutArgs, trace: &super::control::VoltageTrace) -> Result<()> {
    let total: f64 = trace.steps.iter().map(|s| s.cost).sum();
    let mut w = 1.0;
    let mut transient = 0.0;
    for s in &trace.steps {
        w *= 0.99;
        transient += w * s.cost;
    }
    match args.format {
        RolloutFormat::Json => {
            let out = json!({
                "task": "voltage",
                "controller": args.controller.name(),
                "seed": args.seed,
                "initial": {"v": trace.v0, "q": [0.0, 0.0, 0.0]},
                "steps": trace.steps,
                "total": total,
                "transient": transient,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        }
        RolloutFormat::Csv => {
            println!("t,v2,v7,v9,q2,q7,q9,u2,u7,u9,cost");
            for s in &trace.steps {
                let mut row = vec![s.t.to_string()];
                row.extend(s.v.iter().chain(&s.q).chain(&s.u).map(|v| v.to_string()));
                row.push(s.cost.to_string());
                println!("{}", row.join(","));
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
            table::print(&["t", "v (p.u.)", "q (MVar)", "u (MVar)", "F"], &cells);
            println!(
                "total Σ F_t = {}, transient Σ 0.99^t F_t = {}",
                num(total, 6),
                num(transient, 6)
            );
        }
    }
    Ok(())
}
