//! Figure 3: voltage and reactive-power trajectories of DiffOP (Step) and DiffOP (Traj) before
//! and after training (`docs/spec/RESULTS.md` §7.2).
//!
//! Test scenarios 0 (low voltage) and 1 (high voltage), evaluation limits, deterministic
//! policies; the Traj policy re-plans every 30 steps. Plotted: run seed 0, t = 0 … 30, |V| and the
//! cumulative q at buses 2, 7, 9; dashed before training (θ(0)), solid after; the band
//! [0.95, 1.05] shaded. The run-to-run spread is the first step at which all three voltages are
//! in the band, over every run seed (mean and range, `figure3/summary.json`).
//!
//! Files: `figure3/figure3.png/.svg`, `figure3/trajectories.csv`, `figure3/summary.json`.

use serde::Serialize;
use std::fmt::Write as _;
use std::path::Path;

use super::jobs::{diffop_config, Job, JobResult, Method};
use super::plot::{save_grid, Line, Panel};
use super::{write_file, ExperimentError, OptionsError, ReproduceReport, Scale};
use crate::envs::voltage::{VoltageController, VoltageEnv, VoltageEnvSettings, N_CTRL};
use crate::learn::evaluate::PolicyController;
use crate::learn::{Mode, Task, TrainConfig};

/// Steps plotted.
pub const PLOT_STEPS: usize = 30;
/// Steps simulated (the metric's episode).
pub const STEPS: usize = 100;
/// The plotted scenarios (test seeds).
pub const SCENARIOS: [u32; 2] = [0, 1];
/// Safe band [p.u.].
pub const BAND: (f64, f64) = (0.95, 1.05);

/// Jobs Figure 3 needs (DiffOP Step and Traj on the voltage task).
pub fn jobs(seeds: &[u64]) -> Vec<Job> {
    let mut v = Vec::new();
    for method in [Method::DiffopStep, Method::DiffopTraj] {
        for &seed in seeds {
            v.push(Job {
                task: Task::Voltage,
                method,
                seed,
            });
        }
    }
    v
}

/// One simulated episode: |V| and q at the controlled buses for t = 0 … STEPS.
#[derive(Clone, Debug, Serialize)]
pub struct Trajectory {
    /// |V_t| (p.u.), t = 0 … STEPS.
    pub v: Vec<[f64; N_CTRL]>,
    /// q_t (MVar), t = 0 … STEPS.
    pub q: Vec<[f64; N_CTRL]>,
}

impl Trajectory {
    /// First t at which all voltages are in the band and stay there until the end.
    pub fn settled_at(&self) -> Option<usize> {
        let inside = |v: &[f64; N_CTRL]| v.iter().all(|&x| (BAND.0..=BAND.1).contains(&x));
        let last_out = self.v.iter().rposition(|v| !inside(v));
        match last_out {
            None => Some(0),
            Some(k) if k + 1 < self.v.len() => Some(k + 1),
            Some(_) => None,
        }
    }
}

/// Simulate the deterministic policy `theta` of `config` on test scenario `seed`.
pub fn simulate(
    config: &TrainConfig,
    theta: &[f64],
    seed: u32,
) -> Result<Trajectory, ExperimentError> {
    let err = |e: Box<dyn std::error::Error + Send + Sync>| ExperimentError::Evaluation {
        what: format!("scenario {seed}"),
        source: e,
    };
    let mut env = VoltageEnv::new(VoltageEnvSettings::evaluation()).map_err(|e| err(e.into()))?;
    env.reset_seed(seed).map_err(|e| err(e.into()))?;
    let mut ctl = PolicyController::new(config, theta);
    ctl.reset(&env).map_err(|e| err(e.into()))?;
    let mut tr = Trajectory {
        v: vec![env.v()],
        q: vec![env.q()],
    };
    for _ in 0..STEPS {
        let u = ctl.act(&env).map_err(|e| err(e.into()))?;
        let s = env.step_u(u).map_err(|e| err(e.into()))?;
        tr.v.push(s.v);
        tr.q.push(s.q);
    }
    Ok(tr)
}

#[derive(Serialize)]
struct Spread {
    variant: &'static str,
    scenario: u32,
    when: &'static str,
    settled_at_per_seed: Vec<Option<usize>>,
    mean: Option<f64>,
    min: Option<usize>,
    max: Option<usize>,
}

/// Write the Figure 3 files and checks.
pub fn write(
    root: &Path,
    scale: &Scale,
    results: &[JobResult],
    report: &mut ReproduceReport,
) -> Result<(), ExperimentError> {
    let buses = ["bus 2", "bus 7", "bus 9"];
    let mut csv = String::from("variant,scenario,when,run_seed,t,v2,v7,v9,q2,q7,q9\n");
    let mut spreads = Vec::new();
    let mut panels: Vec<Panel> = Vec::new();
    let mut checks = Vec::new();
    let variants = [
        (Method::DiffopStep, Mode::Step),
        (Method::DiffopTraj, Mode::Traj),
    ];
    // panel order: rows (scenario, quantity), columns (variant)
    let mut grid: Vec<Vec<Panel>> = vec![Vec::new(); 2 * SCENARIOS.len()];
    for (method, mode) in variants {
        let mut runs: Vec<&JobResult> = results
            .iter()
            .filter(|r| r.task == Task::Voltage && r.method == method)
            .collect();
        runs.sort_by_key(|r| r.seed);
        if runs.is_empty() {
            continue;
        }
        for (si, &scen) in SCENARIOS.iter().enumerate() {
            let mut vp = Panel {
                title: format!("{} — scenario {scen}", method.label()),
                x_label: "t".into(),
                y_label: "|V| (p.u.)".into(),
                y_band: Some(BAND),
                ..Panel::default()
            };
            let mut qp = Panel {
                y_label: "q (MVar)".into(),
                y_band: None,
                ..vp.clone()
            };
            for when in ["before", "after"] {
                let mut settled = Vec::new();
                for r in &runs {
                    let config = diffop_config(Task::Voltage, mode, r.seed, scale);
                    let theta = if when == "before" {
                        &r.initial_theta
                    } else {
                        &r.theta
                    };
                    let tr = simulate(&config, theta, scen)?;
                    settled.push(tr.settled_at());
                    for t in 0..=STEPS {
                        let (v, q) = (tr.v[t], tr.q[t]);
                        let _ = writeln!(
                            csv,
                            "{},{scen},{when},{},{t},{},{},{},{},{},{}",
                            method.name(),
                            r.seed,
                            v[0],
                            v[1],
                            v[2],
                            q[0],
                            q[1],
                            q[2]
                        );
                    }
                    if r.seed == runs[0].seed {
                        for b in 0..N_CTRL {
                            let pts = |f: &dyn Fn(usize) -> f64| {
                                (0..=PLOT_STEPS).map(|t| (t as f64, f(t))).collect()
                            };
                            let label = format!("{} {when}", buses[b]);
                            vp.lines.push(Line {
                                label: label.clone(),
                                color: b,
                                dashed: when == "before",
                                points: pts(&|t| tr.v[t][b]),
                                ..Line::default()
                            });
                            qp.lines.push(Line {
                                label,
                                color: b,
                                dashed: when == "before",
                                points: pts(&|t| tr.q[t][b]),
                                ..Line::default()
                            });
                        }
                    }
                }
                let ok: Vec<usize> = settled.iter().flatten().copied().collect();
                if when == "after" {
                    checks.push((
                        format!(
                            "{} scenario {scen}: after training all voltages in band within 10 steps and stay (run seeds: {:?})",
                            method.label(),
                            settled
                        ),
                        settled.iter().all(|s| matches!(s, Some(k) if *k <= 10)),
                    ));
                }
                spreads.push(Spread {
                    variant: method.name(),
                    scenario: scen,
                    when,
                    settled_at_per_seed: settled.clone(),
                    mean: (!ok.is_empty())
                        .then(|| ok.iter().sum::<usize>() as f64 / ok.len() as f64),
                    min: ok.iter().min().copied(),
                    max: ok.iter().max().copied(),
                });
            }
            grid[2 * si].push(vp);
            grid[2 * si + 1].push(qp);
        }
    }
    let cols = grid.first().map_or(0, |r| r.len());
    if cols == 0 {
        return Err(ExperimentError::Config(OptionsError::MissingRuns(
            "Figure 3",
        )));
    }
    for row in grid {
        panels.extend(row);
    }
    write_file(root, "figure3/trajectories.csv", &csv, report)?;
    let json = serde_json::to_string_pretty(&spreads)?;
    write_file(root, "figure3/summary.json", &json, report)?;
    save_grid(
        &root.join("figure3/figure3"),
        "Figure 3 — voltage control, run seed 0 (dashed: before training, solid: after; band 0.95–1.05 p.u.)",
        &panels,
        cols,
    )?;
    report.files.push("figure3/figure3.png".into());
    report.files.push("figure3/figure3.svg".into());
    report.checks.extend(checks);
    Ok(())
}
