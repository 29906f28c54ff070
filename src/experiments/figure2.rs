//! Figure 2: control cost against training iteration on the nonlinear tasks (`docs/spec/RESULTS.md` §6.2).
//!
//! Files (under `figure2/`):
//!
//! | file | content |
//! |---|---|
//! | `curves.csv` | every run's curve: `task,method,seed,iteration,batch_mean_cost,eval_cost` |
//! | `final.csv` | `task,method,seed,initial_eval,final_eval` (PDP: its Traj policy's cost) |
//! | `summary.csv`, `summary.md` | per task and method: mean, 20th/80th percentile of the final evaluation, gap closed, ratio to the optimum; the §9 checks |
//! | `figure2.png/.svg` | evaluation curves (primary): mean and 20–80 % band, PDP (Offline) lines (own and Table-1 parameterisation), optimum dotted |
//! | `figure2_training.png/.svg` | the same for the training (exploring) batch cost |

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::Path;

use super::jobs::{Job, JobResult, Method};
use super::plot::{save_grid, Band, HLine, Line, Panel};
use super::stats::{mean, percentile};
use super::{write_file, ExperimentError, OptionsError, ReproduceReport};
use crate::learn::pdp::demonstrations;
use crate::learn::Task;
use crate::solver::SolverSettings;

/// The online methods drawn as curves.
pub const CURVE_METHODS: [Method; 4] = [
    Method::DiffopStep,
    Method::DiffopTraj,
    Method::RlmpcTd,
    Method::RlmpcDpg,
];

/// Every job of Figure 2.
pub fn jobs(tasks: &[Task], seeds: &[u64]) -> Vec<Job> {
    let mut v = Vec::new();
    for &task in tasks {
        for method in Method::ALL {
            if method.nonlinear_only() && task.nonlinear().is_none() {
                continue;
            }
            for &seed in seeds {
                v.push(Job { task, method, seed });
            }
        }
    }
    v
}

/// The optimal open-loop cost of a task: the mean true cost of its demonstrations.
pub fn optimum(task: Task) -> Result<f64, ExperimentError> {
    let t = task
        .nonlinear()
        .ok_or(ExperimentError::Config(OptionsError::NeedsNonlinear(
            "the optimum",
        )))?;
    let demos = demonstrations(t, &SolverSettings::default())?;
    Ok(demos.iter().map(|d| d.cost).sum::<f64>() / demos.len() as f64)
}

fn select(results: &[JobResult], task: Task, method: Method) -> Vec<&JobResult> {
    results
        .iter()
        .filter(|r| r.task == task && r.method == method)
        .collect()
}

/// (iteration, mean, p20, p80) of a curve field over runs, at the iterations every run has.
fn aggregate(runs: &[&JobResult], eval: bool) -> Vec<(f64, f64, f64, f64)> {
    let mut at: BTreeMap<usize, Vec<f64>> = BTreeMap::new();
    for r in runs {
        for p in &r.curve {
            let v = if eval { p.eval_cost } else { p.batch_mean_cost };
            if let Some(v) = v {
                at.entry(p.iteration).or_default().push(v);
            }
        }
    }
    at.into_iter()
        .filter(|(_, v)| v.len() == runs.len())
        .filter_map(|(k, v)| {
            Some((
                k as f64,
                mean(&v)?,
                percentile(&v, 20.0)?,
                percentile(&v, 80.0)?,
            ))
        })
        .collect()
}

/// Per (task, method): summary statistics of the final evaluation.
#[derive(Clone, Debug)]
struct Row {
    task: Task,
    method: Method,
    runs: usize,
    initial: Option<f64>,
    final_mean: Option<f64>,
    p20: Option<f64>,
    p80: Option<f64>,
    optimum: f64,
}

impl Row {
    /// (C_0 − C_final)/(C_0 − C_ref).
    fn gap_closed(&self) -> Option<f64> {
        let (c0, cf) = (self.initial?, self.final_mean?);
        let gap = c0 - self.optimum;
        (gap.abs() > 1e-12).then(|| (c0 - cf) / gap)
    }
}

fn opt_cell(v: Option<f64>, digits: usize) -> String {
    v.map_or(String::new(), |x| format!("{x:.digits$}"))
}

/// Write the Figure 2 files and checks.
pub fn write(
    root: &Path,
    tasks: &[Task],
    results: &[JobResult],
    report: &mut ReproduceReport,
) -> Result<(), ExperimentError> {
    let mut curves = String::from("task,method,seed,iteration,batch_mean_cost,eval_cost\n");
    let mut finals = String::from("task,method,seed,initial_eval,final_eval\n");
    for r in results.iter().filter(|r| tasks.contains(&r.task)) {
        for p in &r.curve {
            if p.batch_mean_cost.is_none() && p.eval_cost.is_none() {
                continue;
            }
            let _ = writeln!(
                curves,
                "{},{},{},{},{},{}",
                r.task,
                r.method.name(),
                r.seed,
                p.iteration,
                opt_cell(p.batch_mean_cost, 10),
                opt_cell(p.eval_cost, 10)
            );
        }
        let _ = writeln!(
            finals,
            "{},{},{},{},{}",
            r.task,
            r.method.name(),
            r.seed,
            opt_cell(r.initial_eval, 10),
            opt_cell(r.final_eval, 10)
        );
    }
    write_file(root, "figure2/curves.csv", &curves, report)?;
    write_file(root, "figure2/final.csv", &finals, report)?;

    let mut rows = Vec::new();
    let mut eval_panels = Vec::new();
    let mut train_panels = Vec::new();
    for &task in tasks {
        let opt = optimum(task)?;
        let mut ep = Panel {
            title: task.name().to_string(),
            x_label: "iteration".into(),
            y_label: "evaluation cost".into(),
            ..Panel::default()
        };
        let mut tp = Panel {
            y_label: "training batch cost".into(),
            ..ep.clone()
        };
        for method in Method::ALL {
            let runs = select(results, task, method);
            if runs.is_empty() {
                continue;
            }
            let finals: Vec<f64> = runs.iter().filter_map(|r| r.final_eval).collect();
            let initials: Vec<f64> = runs.iter().filter_map(|r| r.initial_eval).collect();
            rows.push(Row {
                task,
                method,
                runs: runs.len(),
                initial: mean(&initials),
                final_mean: mean(&finals),
                p20: percentile(&finals, 20.0),
                p80: percentile(&finals, 80.0),
                optimum: opt,
            });
            if matches!(method, Method::PdpOffline | Method::PdpTable1) {
                if let Some(m) = mean(&finals) {
                    for p in [&mut ep, &mut tp] {
                        p.hlines.push(HLine {
                            label: method.label().into(),
                            color: method.color(),
                            dashed: true,
                            y: m,
                        });
                    }
                }
                continue;
            }
            for (panel, eval) in [(&mut ep, true), (&mut tp, false)] {
                let agg = aggregate(&runs, eval);
                panel.lines.push(Line {
                    label: method.label().into(),
                    color: method.color(),
                    dashed: false,
                    points: agg.iter().map(|&(k, m, _, _)| (k, m)).collect(),
                    ..Line::default()
                });
                panel.bands.push(Band {
                    color: method.color(),
                    points: agg.iter().map(|&(k, _, lo, hi)| (k, lo, hi)).collect(),
                });
            }
        }
        for p in [&mut ep, &mut tp] {
            p.hlines.push(HLine {
                label: "optimal open loop".into(),
                color: 7,
                dashed: false,
                y: opt,
            });
        }
        eval_panels.push(ep);
        train_panels.push(tp);
    }
    let n = eval_panels.len();
    save_grid(
        &root.join("figure2/figure2"),
        "Figure 2 — evaluation cost (deterministic policy; mean, 20–80 % band over run seeds)",
        &eval_panels,
        n,
    )?;
    save_grid(
        &root.join("figure2/figure2_training"),
        "Figure 2 — training batch cost (exploring episodes; mean, 20–80 % band)",
        &train_panels,
        n,
    )?;
    for f in [
        "figure2/figure2.png",
        "figure2/figure2.svg",
        "figure2/figure2_training.png",
        "figure2/figure2_training.svg",
    ] {
        report.files.push(f.to_string());
    }

    let mut csv = String::from(
        "task,method,runs,initial_mean,final_mean,final_p20,final_p80,optimum,gap_closed,ratio_to_optimum\n",
    );
    let mut md = String::from(
        "| task | method | runs | iteration 0 | final (mean) | 20–80 % | optimum | gap closed | ÷ optimum |\n|---|---|---|---|---|---|---|---|---|\n",
    );
    for r in &rows {
        let ratio = r.final_mean.map(|f| f / r.optimum);
        let _ = writeln!(
            csv,
            "{},{},{},{},{},{},{},{},{},{}",
            r.task,
            r.method.name(),
            r.runs,
            opt_cell(r.initial, 6),
            opt_cell(r.final_mean, 6),
            opt_cell(r.p20, 6),
            opt_cell(r.p80, 6),
            r.optimum,
            opt_cell(r.gap_closed(), 4),
            opt_cell(ratio, 4)
        );
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} – {} | {:.1} | {} | {} |",
            r.task,
            r.method.label(),
            r.runs,
            opt_cell(r.initial, 1),
            opt_cell(r.final_mean, 1),
            opt_cell(r.p20, 1),
            opt_cell(r.p80, 1),
            r.optimum,
            r.gap_closed()
                .map_or(String::new(), |g| format!("{:.0} %", 100.0 * g)),
            opt_cell(ratio, 3)
        );
    }
    // docs/spec/RESULTS.md §9 checks
    let find = |task: Task, m: Method| {
        rows.iter()
            .find(|r| r.task == task && r.method == m)
            .and_then(|r| r.final_mean)
    };
    let mut checks = Vec::new();
    for &task in tasks {
        if let (Some(s), Some(td), Some(dpg)) = (
            find(task, Method::DiffopStep),
            find(task, Method::RlmpcTd),
            find(task, Method::RlmpcDpg),
        ) {
            checks.push((
                format!("{task}: DiffOP (Step) {s:.2} ≤ min(RLMPC-TD {td:.2}, RLMPC-DPG {dpg:.2})"),
                s <= td.min(dpg),
            ));
        }
        if matches!(task, Task::Arm | Task::Quadrotor) {
            if let (Some(t), Some(p)) = (
                find(task, Method::DiffopTraj),
                find(task, Method::PdpOffline),
            ) {
                checks.push((
                    format!("{task}: DiffOP (Traj) {t:.2} < PDP (Offline) {p:.2}"),
                    t < p,
                ));
            }
            if let (Some(t), Some(p)) = (
                find(task, Method::PdpDiffopTraj),
                find(task, Method::PdpTable1),
            ) {
                checks.push((
                    format!(
                        "{task}: PDP → DiffOP (Traj) {t:.2} < PDP (Offline, Table 1) {p:.2} \
                         (online refinement of the same imitation)"
                    ),
                    t < p,
                ));
            }
            if let (Some(t), Some(p)) = (
                find(task, Method::DiffopTraj),
                find(task, Method::PdpTable1),
            ) {
                checks.push((
                    format!(
                        "{task}: DiffOP (Traj) {t:.2} < PDP (Offline, Table 1) {p:.2} \
                         (docs/spec/ALGORITHMS.md §11.1 option: same parameterisation and θ(0))"
                    ),
                    t < p,
                ));
            }
        }
        for m in [Method::DiffopStep, Method::DiffopTraj] {
            if let Some(r) = rows.iter().find(|r| r.task == task && r.method == m) {
                if let Some(g) = r.gap_closed() {
                    checks.push((
                        format!(
                            "{task}: {} closes ≥ half the gap to the optimum ({:.0} %)",
                            m.label(),
                            100.0 * g
                        ),
                        g >= 0.5,
                    ));
                }
            }
        }
    }
    if rows
        .iter()
        .any(|r| matches!(r.method, Method::PdpDiffopStep | Method::PdpDiffopTraj))
    {
        md.push_str(
            "\nBudget of the PDP → DiffOP rows: the PDP (Offline, Table 1) phase (its iterations, \
             one H = T solve and one VJP per demonstration each, no plant rollouts; the same run \
             as the PDP (Offline, Table 1) row) followed by the DiffOP rows' K × N plant \
             rollouts; its \"iteration 0\" is PDP's θ.\n",
        );
    }
    md.push_str("\nAcceptance checks (`docs/spec/RESULTS.md` §9):\n\n");
    for (c, ok) in &checks {
        let _ = writeln!(md, "- [{}] {c}", if *ok { "x" } else { " " });
    }
    write_file(root, "figure2/summary.csv", &csv, report)?;
    write_file(root, "figure2/summary.md", &md, report)?;
    report.checks.extend(checks);
    Ok(())
}
