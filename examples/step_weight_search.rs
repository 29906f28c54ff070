//! Derivative-free search for Step-mode cost weights (`docs/spec/RESULTS.md` §6.2: "cost weights exist with
//! which the Step-mode policy (true dynamics) comes within about 1 % of this optimum").
//!
//! The policy is the Table-1 problem with the true dynamics φ_f and learnable weights θ_c, θ_H;
//! the objective is the deterministic evaluation cost (mean true cost from the demonstration
//! states). Random search over log-weights, then Nelder–Mead from the best points. Prints the
//! best θ as a `theta0 = [...]` TOML line, usable in `diffop train --config`.
//!
//! ```text
//! cargo run --release --example step_weight_search -- cartpole 400 3
//! ```
//! Arguments: task (default cartpole), random samples (default 400), Nelder–Mead starts
//! (default 3). Deterministic (fixed seed); evaluations run in parallel.

use diffop::learn::{evaluate_theta, Mode, Preset, Task, TrainConfig};
use diffop::model::tasks::NonlinearTask;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;

/// Full θ from log-weights (θ_c, θ_H) and the true φ_f of `task`.
fn theta_of(task: NonlinearTask, logw: &[f64]) -> Vec<f64> {
    let mut th: Vec<f64> = logw.iter().map(|a| a.exp()).collect();
    th.extend(task.phi_true());
    th
}

/// Evaluation cost of the Step policy with these log-weights (+∞ when a solve fails).
fn cost(config: &TrainConfig, task: NonlinearTask, logw: &[f64]) -> f64 {
    evaluate_theta(config, &theta_of(task, logw))
        .map(|e| e.cost)
        .unwrap_or(f64::INFINITY)
}

/// Nelder–Mead (standard coefficients) from `x0` with initial step `step`, `iters` iterations.
fn nelder_mead(f: &dyn Fn(&[f64]) -> f64, x0: &[f64], step: f64, iters: usize) -> (Vec<f64>, f64) {
    let n = x0.len();
    let mut simplex: Vec<(Vec<f64>, f64)> = (0..=n)
        .map(|i| {
            let mut x = x0.to_vec();
            if i > 0 {
                x[i - 1] += step;
            }
            let v = f(&x);
            (x, v)
        })
        .collect();
    for _ in 0..iters {
        simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
        let centroid: Vec<f64> = (0..n)
            .map(|j| simplex[..n].iter().map(|p| p.0[j]).sum::<f64>() / n as f64)
            .collect();
        let worst = simplex[n].clone();
        let along = |t: f64| -> Vec<f64> {
            centroid
                .iter()
                .zip(&worst.0)
                .map(|(c, w)| c + t * (w - c))
                .collect()
        };
        let xr = along(-1.0);
        let fr = f(&xr);
        if fr < simplex[0].1 {
            let xe = along(-2.0);
            let fe = f(&xe);
            simplex[n] = if fe < fr { (xe, fe) } else { (xr, fr) };
        } else if fr < simplex[n - 1].1 {
            simplex[n] = (xr, fr);
        } else {
            let xc = along(if fr < worst.1 { -0.5 } else { 0.5 });
            let fc = f(&xc);
            if fc < worst.1.min(fr) {
                simplex[n] = (xc, fc);
            } else {
                let best = simplex[0].0.clone();
                for p in simplex.iter_mut().skip(1) {
                    p.0 = best
                        .iter()
                        .zip(&p.0)
                        .map(|(b, x)| b + 0.5 * (x - b))
                        .collect();
                    p.1 = f(&p.0);
                }
            }
        }
    }
    simplex.sort_by(|a, b| a.1.total_cmp(&b.1));
    simplex.swap_remove(0)
}

/// Positional argument `i` parsed as `T`, or `default` when absent.
fn arg<T: std::str::FromStr>(
    args: &[String],
    i: usize,
    name: &str,
    default: T,
) -> Result<T, String> {
    match args.get(i) {
        None => Ok(default),
        Some(s) => s
            .parse()
            .map_err(|_| format!("argument {i} ({name}): cannot parse `{s}`")),
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let task: Task = arg(&args, 1, "task", Task::Cartpole)?;
    let samples: usize = arg(&args, 2, "random samples", 400)?;
    let starts: usize = arg(&args, 3, "Nelder–Mead starts", 3)?;
    let nl = task.nonlinear().ok_or_else(|| {
        format!("`{task}` has no Table-1 Step weights: choose cartpole, arm, quadrotor or rocket")
    })?;
    if samples == 0 || starts == 0 {
        return Err("random samples and Nelder–Mead starts must be at least 1".into());
    }
    let config = TrainConfig::preset(task, Mode::Step, Preset::Default);
    let dim = 2 * nl.nm().0;
    let t0 = std::time::Instant::now();
    let f = |x: &[f64]| cost(&config, nl, x);
    println!("unit weights: {:.1}", f(&vec![0.0; dim]));
    // random log-weights in [−1, 3.5] (weights 0.37 … 33)
    let mut rng = ChaCha8Rng::seed_from_u64(2024);
    let points: Vec<Vec<f64>> = (0..samples)
        .map(|_| (0..dim).map(|_| rng.random_range(-1.0..3.5)).collect())
        .collect();
    let mut scored: Vec<(Vec<f64>, f64)> = points
        .into_par_iter()
        .map(|x| {
            let v = f(&x);
            (x, v)
        })
        .collect();
    scored.sort_by(|a, b| a.1.total_cmp(&b.1));
    println!(
        "random search ({samples} points, {:.0} s): best {:.1}, 10th {:.1}",
        t0.elapsed().as_secs_f64(),
        scored[0].1,
        scored[9.min(scored.len() - 1)].1
    );
    let (best, best_cost) = scored[..starts.min(scored.len())]
        .par_iter()
        .map(|(x, _)| nelder_mead(&f, x, 0.3, 300))
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .ok_or("no start point")?;
    if !best_cost.is_finite() {
        return Err("every candidate's evaluation failed".into());
    }
    let theta = theta_of(nl, &best);
    println!(
        "Nelder–Mead from the best {starts} ({:.0} s): {best_cost:.1}",
        t0.elapsed().as_secs_f64()
    );
    let per_state = evaluate_theta(&config, &theta)?.per_state;
    println!("per demonstration state: {per_state:.1?}");
    println!("theta0 = {theta:?}");
    Ok(())
}
