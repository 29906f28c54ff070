//! `diffop solve`: one policy OCP from a JSON request, the plan and its sensitivities as JSON.
//!
//! Errors print `{"error": "..."}` on stdout and a plain message on stderr (exit 1; long
//! messages are shortened); a solve that does not converge prints its status and exits with
//! code 3 ([`super::EXIT_NOT_CONVERGED`]).

use super::out::outln;
use super::task::Task;
use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use diffop::envs::voltage::network::{Q_MAX_EVALUATION, Q_MIN};
use diffop::model::tasks::{Table1Policy, VoltagePolicy};
use diffop::model::OcpModel;
use diffop::sensitivity::{self, Seed};
use diffop::solver::{SolverSettings, WarmStart, Workspace};
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Read;
use std::process::ExitCode;

/// Largest horizon accepted from a request: 10,000 stages (measured on main: a cart-pole
/// solve needs ≈ 6.4 kB and ≈ 0.8 ms per stage, so ≈ 64 MB and ≈ 8 s here; H = 100,000 took
/// 84 s and 640 MB).
pub const MAX_HORIZON: usize = 10_000;

/// Arguments of `diffop solve`.
#[derive(Args, Debug)]
#[command(after_help = "\
Request (JSON; unknown fields are rejected):
  task        cartpole | arm | quadrotor | rocket | voltage
  horizon     H (default: the task's Step-mode horizon)
  x0          initial state (n entries; voltage: v² at buses 2, 7, 9 then q)
  theta       d parameters (default: true φ_f and oracle weights; rocket unit weights;
              voltage θ_v = 1 and the LinDistFlow A)
  v_env       voltage only, default x0_v − A q0 (exact at a plant state)
  q_min/q_max voltage only, default the evaluation limits
  jacobian    true → also ∂u/∂θ (H×m×d) and ∂u/∂x0 (H×m×n)
  vjp_seed    H×m seed g → vjp = gᵀ ∂u/∂θ (d)
  solver      solver settings (tol, max_iter, polish, ...)

Exit codes: 0 solved; 1 invalid request or error ({\"error\": ...} on stdout, message on
stderr); 2 usage error; 3 the solve did not converge (the answer with its status is printed).
The horizon is limited to 10000 stages.")]
pub struct SolveArgs {
    /// JSON request file, or `-` for standard input.
    #[arg(value_name = "FILE|-", default_value = "-")]
    pub input: String,
    /// Pretty-print the JSON answer.
    #[arg(long)]
    pub pretty: bool,
}

/// A solve request.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields)]
struct Request {
    task: Task,
    horizon: Option<usize>,
    x0: Vec<f64>,
    theta: Option<Vec<f64>>,
    v_env: Option<Vec<f64>>,
    q_min: Option<Vec<f64>>,
    q_max: Option<Vec<f64>>,
    #[serde(default)]
    jacobian: bool,
    vjp_seed: Option<Vec<Vec<f64>>>,
    solver: Option<SolverSettings>,
}

/// Run `diffop solve`.
pub fn run(args: SolveArgs) -> Result<ExitCode> {
    match execute(&args.input) {
        Ok((value, code)) => {
            print_json(&value, args.pretty)?;
            Ok(code)
        }
        Err(e) => {
            let msg = super::truncate_message(&super::message(&e), super::MAX_MESSAGE);
            outln!("{}", json!({ "error": msg }))?;
            Err(e)
        }
    }
}

fn print_json(value: &Value, pretty: bool) -> Result<()> {
    let text = if pretty {
        serde_json::to_string_pretty(value)?
    } else {
        serde_json::to_string(value)?
    };
    outln!("{text}")?;
    Ok(())
}

fn read_input(input: &str) -> Result<String> {
    let mut text = String::new();
    if input == "-" {
        std::io::stdin()
            .read_to_string(&mut text)
            .context("reading the request from standard input")?;
    } else {
        text = std::fs::read_to_string(input)
            .with_context(|| format!("reading the request file `{input}`"))?;
    }
    Ok(text)
}

fn check_len(what: &str, v: &[f64], expected: usize, task: Task) -> Result<()> {
    if v.len() != expected {
        bail!(
            "`{what}` has {} entries, the {} task expects {expected}",
            v.len(),
            task.name()
        );
    }
    if let Some(k) = v.iter().position(|x| !x.is_finite()) {
        bail!("`{what}[{k}]` is not finite");
    }
    Ok(())
}

fn array3(what: &str, v: Option<Vec<f64>>, default: [f64; 3]) -> Result<[f64; 3]> {
    match v {
        None => Ok(default),
        Some(v) => {
            check_len(what, &v, 3, Task::Voltage)?;
            Ok([v[0], v[1], v[2]])
        }
    }
}

/// Parse, validate, solve; the answer and the exit code.
fn execute(input: &str) -> Result<(Value, ExitCode)> {
    let text = read_input(input)?;
    let req: Request = serde_json::from_str(&text).context("invalid solve request")?;
    let task = req.task;
    let (n, m) = task.nm();
    let d = task.d();
    let h = req.horizon.unwrap_or(task.step_horizon());
    if h == 0 || h > MAX_HORIZON {
        bail!("`horizon` must be between 1 and {MAX_HORIZON}, got {h}");
    }
    check_len("x0", &req.x0, n, task)?;
    let theta = req.theta.clone().unwrap_or_else(|| task.mpc_true_theta());
    check_len("theta", &theta, d, task)?;
    if let Some(seed) = &req.vjp_seed {
        if seed.len() != h {
            bail!("`vjp_seed` has {} rows, expected H = {h}", seed.len());
        }
        for (i, row) in seed.iter().enumerate() {
            check_len(&format!("vjp_seed[{i}]"), row, m, task)
                .map_err(|e| anyhow!("{e} (one entry per control)"))?;
        }
    }
    let settings = req.solver.clone().unwrap_or_default();
    settings
        .validate()
        .map_err(|e| anyhow!("invalid `solver` settings: {e}"))?;
    match task.nonlinear() {
        Some(t) => {
            if req.v_env.is_some() || req.q_min.is_some() || req.q_max.is_some() {
                bail!("`v_env`, `q_min` and `q_max` apply to the voltage task only");
            }
            solve_model(&Table1Policy::new(t), &req, h, &theta, &[], settings)
        }
        None => {
            let q0 = [req.x0[3], req.x0[4], req.x0[5]];
            let default_env: [f64; 3] = std::array::from_fn(|r| {
                req.x0[r] - (0..3).map(|c| theta[3 + 3 * r + c] * q0[c]).sum::<f64>()
            });
            let v_env = array3("v_env", req.v_env.clone(), default_env)?;
            let q_min = array3("q_min", req.q_min.clone(), Q_MIN)?;
            let q_max = array3("q_max", req.q_max.clone(), Q_MAX_EVALUATION)?;
            let ctx = VoltagePolicy::context(&v_env, &q_min, &q_max);
            let model = VoltagePolicy::default();
            model.check_context(&ctx).map_err(|e| anyhow!(e))?;
            solve_model(&model, &req, h, &theta, &ctx, settings)
        }
    }
}

fn rows(v: &[nalgebra::DVector<f64>]) -> Vec<Vec<f64>> {
    v.iter().map(|x| x.as_slice().to_vec()).collect()
}

fn solve_model<M: OcpModel>(
    model: &M,
    req: &Request,
    h: usize,
    theta: &[f64],
    ctx: &[f64],
    settings: SolverSettings,
) -> Result<(Value, ExitCode)> {
    let mut ws = Workspace::new(model, h, settings)?;
    let sol = ws.solve(model, &req.x0, theta, ctx, WarmStart::Cold)?;
    let status = sol.status;
    let mut out = json!({
        "task": req.task.name(),
        "horizon": h,
        "status": status,
        "iterations": sol.iterations,
        "polish_iterations": sol.polish_iterations,
        "objective": sol.objective,
        "x": sol.x_rows(),
        "u": sol.u_rows(),
        "costates": sol.costate_rows(),
        "mu": rows(&sol.mu),
        "active": sol.n_active(),
        "weakly_active": sol.weakly_active,
    });
    if !status.is_solved() {
        return Ok((out, ExitCode::from(super::EXIT_NOT_CONVERGED)));
    }
    if req.jacobian {
        let jac = sensitivity::jacobian(&mut ws, model).context("Jacobian ∂u/∂θ")?;
        let jac_x0 = sensitivity::jacobian_x0(&mut ws, model).context("Jacobian ∂u/∂x0")?;
        out["jacobian"] = json!(jac.u_nested());
        out["jacobian_x0"] = json!(jac_x0.u_nested());
    }
    if let Some(seed) = &req.vjp_seed {
        let flat: Vec<f64> = seed.iter().flatten().copied().collect();
        let mut g = vec![0.0; theta.len()];
        sensitivity::vjp(
            &mut ws,
            model,
            Seed {
                x: None,
                u: Some(&flat),
            },
            &mut g,
        )
        .context("vector–Jacobian product")?;
        out["vjp"] = json!(g);
    }
    Ok((out, ExitCode::SUCCESS))
}
