//! Table 2: transient and steady-state cost over the voltage test scenarios (`docs/spec/RESULTS.md` §2, §9).
//!
//! Rows: every implemented method (mean over run seeds, with the per-seed values), the
//! safe-gradient-flow controller, the untrained policy θ(0) and the true-model MPC as
//! references, and the paper's rows marked `published`. Files: `table2/table2.csv`,
//! `table2/table2.md`.

use std::fmt::Write as _;
use std::path::Path;

use super::jobs::{diffop_config, Job, JobResult, Method};
use super::stats::{mean, std_dev};
use super::{write_file, ExperimentError, ReproduceReport, Scale};
use crate::envs::voltage::{evaluate, EvalSettings, GradientFlow};
use crate::learn::evaluate::{evaluate_kind, ControllerKind};
use crate::learn::{Mode, Task};

/// The paper's Table 2: (method, transient, steady, horizon / execution).
pub const PUBLISHED: [(&str, f64, f64, &str); 7] = [
    ("DiffOP (Step)", -6.81, -0.11, "H = 6, first action"),
    ("RLMPC-DPG", -6.11, -0.10, "H = 6, first action"),
    ("RLMPC-TD", -4.62, -0.07, "H = 6, first action"),
    ("DiffOP (Traj)", -6.80, -0.11, "H = 30, open loop"),
    ("PDP (Offline)", -5.86, -0.09, "H = 30, open loop"),
    ("Stable-DDPG", -5.61, -0.09, "neural monotone policy"),
    (
        "TASRL",
        -6.76,
        -0.11,
        "monotone policy + safe gradient flow",
    ),
];

/// The voltage methods in table order.
pub const METHODS: [Method; 7] = [
    Method::DiffopStep,
    Method::RlmpcDpg,
    Method::RlmpcTd,
    Method::DiffopTraj,
    Method::PdpOffline,
    Method::StableDdpg,
    Method::Tasrl,
];

/// Targets of the neural baselines (`ALGORITHMS.md` §12.1, issue 22): (label, transient,
/// ± tolerance, steady, ± tolerance). The Stable-DDPG target holds for 500 episodes.
pub const NEURAL_TARGETS: [(&str, f64, f64, f64, f64); 2] = [
    ("Stable-DDPG", -5.61, 0.05, -0.09, 0.01),
    ("TASRL", -6.765, 0.02, -0.109, 0.001),
];

/// Every job of Table 2.
pub fn jobs(seeds: &[u64]) -> Vec<Job> {
    let mut v = Vec::new();
    for method in METHODS {
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

fn horizon(method: Method) -> &'static str {
    match method {
        Method::DiffopTraj | Method::PdpOffline => "H = 30, open loop (re-planned every 30 steps)",
        Method::StableDdpg => "neural monotone policy",
        Method::Tasrl => "monotone policy + safe gradient flow",
        _ => "H = 6, first action",
    }
}

/// The execution column of a row: the neural baselines also name their episode count.
fn execution(method: Method, runs: &[&JobResult]) -> String {
    match method {
        Method::StableDdpg | Method::Tasrl => {
            let n = runs.first().map_or(0, |r| r.iterations);
            format!("{}, {n} episodes", horizon(method))
        }
        _ => horizon(method).to_string(),
    }
}

struct Row {
    method: String,
    source: &'static str,
    execution: String,
    transient: Vec<f64>,
    steady: Vec<f64>,
}

/// Write the Table 2 files and checks.
pub fn write(
    root: &Path,
    scale: &Scale,
    results: &[JobResult],
    report: &mut ReproduceReport,
) -> Result<(), ExperimentError> {
    let mut rows = Vec::new();
    for method in METHODS {
        let mut runs: Vec<&JobResult> = results
            .iter()
            .filter(|r| r.task == Task::Voltage && r.method == method)
            .collect();
        runs.sort_by_key(|r| r.seed);
        if runs.is_empty() {
            continue;
        }
        rows.push(Row {
            method: method.label().to_string(),
            source: "ours",
            execution: execution(method, &runs),
            transient: runs.iter().filter_map(|r| r.transient).collect(),
            steady: runs.iter().filter_map(|r| r.steady).collect(),
        });
    }
    // references
    let settings = EvalSettings {
        scenarios: scale.eval_scenarios,
        ..EvalSettings::default()
    };
    let flow =
        evaluate(&settings, GradientFlow::default).map_err(|e| ExperimentError::Evaluation {
            what: "gradient-flow evaluation".into(),
            source: e.into(),
        })?;
    rows.push(Row {
        method: "safe gradient flow (α = 0.5)".into(),
        source: "reference",
        execution: "closed form".into(),
        transient: vec![flow.transient],
        steady: vec![flow.steady],
    });
    let seeds: Vec<u64> = {
        let mut s: Vec<u64> = results
            .iter()
            .filter(|r| r.task == Task::Voltage && r.method == Method::DiffopStep)
            .map(|r| r.seed)
            .collect();
        s.sort_unstable();
        if s.is_empty() {
            s.push(0);
        }
        s
    };
    let mut untrained = (Vec::new(), Vec::new());
    for &seed in &seeds {
        let c = diffop_config(Task::Voltage, Mode::Step, seed, scale);
        let e = evaluate_kind(&c, &ControllerKind::Untrained)?;
        untrained.0.extend(e.transient);
        untrained.1.extend(e.steady);
    }
    rows.push(Row {
        method: "untrained θ(0) (Step)".into(),
        source: "reference",
        execution: "H = 6, first action".into(),
        transient: untrained.0,
        steady: untrained.1,
    });
    let c = diffop_config(Task::Voltage, Mode::Step, 0, scale);
    let mpc = evaluate_kind(&c, &ControllerKind::MpcTrue)?;
    rows.push(Row {
        method: "mpc-true (linear model A, true cost)".into(),
        source: "reference",
        execution: "H = 6, first action".into(),
        transient: mpc.transient.into_iter().collect(),
        steady: mpc.steady.into_iter().collect(),
    });
    for (m, t, s, h) in PUBLISHED {
        rows.push(Row {
            method: m.to_string(),
            source: "published",
            execution: h.to_string(),
            transient: vec![t],
            steady: vec![s],
        });
    }

    let fmt = |v: Option<f64>, d: usize| v.map_or(String::new(), |x| format!("{x:.d$}"));
    let join = |v: &[f64], d: usize| {
        v.iter()
            .map(|x| format!("{x:.d$}"))
            .collect::<Vec<_>>()
            .join(";")
    };
    let mut csv = String::from(
        "method,source,execution,transient,steady,transient_sd,steady_sd,runs,transient_per_seed,steady_per_seed\n",
    );
    let mut md = format!(
        "Voltage control, {} test scenarios (seeds 0–{}), evaluation limits, 100 steps. \
         Ours: mean over run seeds (± sample standard deviation).\n\n\
         | method | source | execution | transient | steady state | runs |\n|---|---|---|---|---|---|\n",
        scale.eval_scenarios,
        scale.eval_scenarios - 1
    );
    for r in &rows {
        let (tm, sm) = (mean(&r.transient), mean(&r.steady));
        let (ts, ss) = (std_dev(&r.transient), std_dev(&r.steady));
        let _ = writeln!(
            csv,
            "\"{}\",{},\"{}\",{},{},{},{},{},{},{}",
            r.method,
            r.source,
            r.execution,
            fmt(tm, 6),
            fmt(sm, 6),
            fmt(ts, 6),
            fmt(ss, 6),
            r.transient.len(),
            join(&r.transient, 6),
            join(&r.steady, 6)
        );
        let pm = |m: Option<f64>, s: Option<f64>, d: usize| match (m, s, r.transient.len() > 1) {
            (Some(m), Some(s), true) => format!("{m:.d$} ± {s:.d$}"),
            (Some(m), _, _) => format!("{m:.d$}"),
            _ => "n/a".into(),
        };
        let _ = writeln!(
            md,
            "| {} | {} | {} | {} | {} | {} |",
            r.method,
            r.source,
            r.execution,
            pm(tm, ts, 3),
            pm(sm, ss, 4),
            r.transient.len()
        );
    }
    // docs/spec/RESULTS.md §9 checks
    let ours = |label: &str| {
        rows.iter()
            .find(|r| r.source == "ours" && r.method == label)
            .map(|r| (mean(&r.transient), mean(&r.steady)))
    };
    let mut checks = Vec::new();
    for (label, target) in [("DiffOP (Step)", -6.81), ("DiffOP (Traj)", -6.80)] {
        if let Some((Some(t), Some(s))) = ours(label) {
            checks.push((
                format!("{label}: transient {t:.4} within ±0.10 of {target} and ≥ −6.851"),
                (t - target).abs() <= 0.10 && t >= -6.851,
            ));
            checks.push((
                format!("{label}: steady {s:.4} within ±0.01 of −0.11"),
                (s + 0.11).abs() <= 0.01,
            ));
        }
    }
    for (label, tt, dt, st, ds) in NEURAL_TARGETS {
        if let Some((Some(t), Some(s))) = ours(label) {
            checks.push((
                format!("{label}: transient {t:.4} within ±{dt} of {tt}"),
                (t - tt).abs() <= dt,
            ));
            checks.push((
                format!("{label}: steady {s:.4} within ±{ds} of {st}"),
                (s - st).abs() <= ds,
            ));
        }
    }
    let t = |label: &str| ours(label).and_then(|(t, _)| t);
    if let (Some(s), Some(tr), Some(dpg), Some(pdp), Some(td)) = (
        t("DiffOP (Step)"),
        t("DiffOP (Traj)"),
        t("RLMPC-DPG"),
        t("PDP (Offline)"),
        t("RLMPC-TD"),
    ) {
        checks.push((
            format!(
                "order: DiffOP ({s:.3}, {tr:.3}) < RLMPC-DPG {dpg:.3} < PDP (Offline) {pdp:.3} < RLMPC-TD {td:.3}"
            ),
            s.max(tr) < dpg && dpg < pdp && pdp < td,
        ));
    }
    md.push_str(
        "\nAcceptance checks (`docs/spec/RESULTS.md` §9; Stable-DDPG and TASRL: \
         `docs/spec/ALGORITHMS.md` §12.1):\n\n",
    );
    for (c, ok) in &checks {
        let _ = writeln!(md, "- [{}] {c}", if *ok { "x" } else { " " });
    }
    write_file(root, "table2/table2.csv", &csv, report)?;
    write_file(root, "table2/table2.md", &md, report)?;
    report.checks.extend(checks);
    Ok(())
}
