//! Problems: the built-in policy problems and problems given as expression IR.

use crate::errors::{invalid, model_error};
use diffop::learn::{Mode, Preset, Task, TrainConfig};
use diffop::model::expr::{Binary, ExprGraph, ExprModel, Node, Unary};
use diffop::model::tasks::{Table1Policy, TrueFormPolicy, VoltagePolicy};
use diffop::model::OcpModel;
use pyo3::prelude::*;
use std::sync::Arc;

/// One of the problem types, dispatched statically by [`with_model!`].
pub enum AnyModel {
    /// Table-1 policy problem of a nonlinear task.
    Table1(Table1Policy),
    /// True-form (PDP) policy problem of a nonlinear task.
    TrueForm(TrueFormPolicy),
    /// The voltage-control QP.
    Voltage(VoltagePolicy),
    /// A problem written in Python.
    Expr(ExprModel),
}

/// Run `$body` with `$v` bound to the concrete model.
macro_rules! with_model {
    ($m:expr, $v:ident => $body:expr) => {
        match $m {
            $crate::problem::AnyModel::Table1($v) => $body,
            $crate::problem::AnyModel::TrueForm($v) => $body,
            $crate::problem::AnyModel::Voltage($v) => $body,
            $crate::problem::AnyModel::Expr($v) => $body,
        }
    };
}
pub(crate) use with_model;

/// A problem with its horizon (the native half of `diffop.Problem`).
#[pyclass(module = "diffop._core", frozen)]
pub struct Problem {
    pub(crate) model: Arc<AnyModel>,
    pub(crate) horizon: usize,
    task: Option<Task>,
    mode: Option<Mode>,
}

fn parse_unary(s: &str) -> Option<Unary> {
    use Unary::*;
    Some(match s {
        "neg" => Neg,
        "recip" => Recip,
        "sqrt" => Sqrt,
        "cbrt" => Cbrt,
        "exp" => Exp,
        "expm1" => Expm1,
        "log" => Log,
        "log1p" => Log1p,
        "sin" => Sin,
        "cos" => Cos,
        "tan" => Tan,
        "asin" => Asin,
        "acos" => Acos,
        "atan" => Atan,
        "sinh" => Sinh,
        "cosh" => Cosh,
        "tanh" => Tanh,
        "asinh" => Asinh,
        "acosh" => Acosh,
        "atanh" => Atanh,
        _ => return None,
    })
}

fn parse_binary(s: &str) -> Option<Binary> {
    use Binary::*;
    Some(match s {
        "add" => Add,
        "sub" => Sub,
        "mul" => Mul,
        "div" => Div,
        "atan2" => Atan2,
        "pow" => Pow,
        _ => return None,
    })
}

/// One traced node `(tag, a, b, value)` → IR node.
fn node(k: usize, (tag, a, b, v): &(String, u32, u32, f64)) -> PyResult<Node> {
    let (a, b, v) = (*a, *b, *v);
    Ok(match tag.as_str() {
        "x" => Node::X(a),
        "u" => Node::U(a),
        "theta" => Node::Theta(a),
        "const" => Node::Const(v),
        "powi" => Node::Powi(a, v as i32),
        "powf" => Node::Powf(a, v),
        t => {
            if let Some(op) = parse_unary(t) {
                Node::Unary(op, a)
            } else if let Some(op) = parse_binary(t) {
                Node::Binary(op, a, b)
            } else {
                return Err(model_error(format!("node {k}: unknown operation `{t}`")));
            }
        }
    })
}

impl Problem {
    /// (n, m, d, n_ctx).
    pub(crate) fn dims(&self) -> (usize, usize, usize, usize) {
        let d = with_model!(&*self.model, m => m.dims());
        (d.n, d.m, d.d, d.n_ctx)
    }
}

#[pymethods]
impl Problem {
    /// A built-in policy problem: `task` (cartpole, arm, quadrotor, rocket, voltage), `mode`
    /// (step or traj: the default horizon), `form` (table1 or true_form), `horizon`.
    #[staticmethod]
    #[pyo3(signature = (task, mode="step", form="table1", horizon=None))]
    fn builtin(task: &str, mode: &str, form: &str, horizon: Option<usize>) -> PyResult<Self> {
        let task: Task = task.parse().map_err(|e| invalid(format!("{e}")))?;
        let mode: Mode = mode.parse().map_err(|e| invalid(format!("{e}")))?;
        let h = horizon.unwrap_or(task.default_horizon(mode));
        if h == 0 || h > 100_000 {
            return Err(invalid(format!("horizon must be in 1 ..= 100000, got {h}")));
        }
        let model = match (task.nonlinear(), form) {
            (Some(t), "table1") => AnyModel::Table1(Table1Policy::new(t)),
            (Some(t), "true_form") => AnyModel::TrueForm(TrueFormPolicy::new(t)),
            (None, "table1") => AnyModel::Voltage(VoltagePolicy::default()),
            (_, f) => {
                return Err(invalid(format!(
                "unknown form `{f}` for task {task} (table1, or true_form for the nonlinear tasks)"
            )))
            }
        };
        Ok(Self {
            model: Arc::new(model),
            horizon: h,
            task: Some(task),
            mode: Some(mode),
        })
    }

    /// A problem from a traced expression graph: `nodes` are `(tag, a, b, value)` tuples in
    /// topological order; the outputs are node indices.
    #[staticmethod]
    #[pyo3(signature = (name, n, m, d, nodes, dynamics, stage_cost, terminal_cost, path, terminal, horizon))]
    fn from_ir(
        name: &str,
        n: usize,
        m: usize,
        d: usize,
        nodes: Vec<(String, u32, u32, f64)>,
        dynamics: Vec<u32>,
        stage_cost: u32,
        terminal_cost: u32,
        path: Vec<u32>,
        terminal: Vec<u32>,
        horizon: usize,
    ) -> PyResult<Self> {
        if horizon == 0 || horizon > 100_000 {
            return Err(invalid(format!(
                "horizon must be in 1 ..= 100000, got {horizon}"
            )));
        }
        let nodes = nodes
            .iter()
            .enumerate()
            .map(|(k, t)| node(k, t))
            .collect::<PyResult<Vec<_>>>()?;
        let graph = ExprGraph { nodes };
        let model = ExprModel::new(
            name,
            n,
            m,
            d,
            graph,
            dynamics,
            stage_cost,
            terminal_cost,
            path,
            terminal,
        )
        .map_err(|e| model_error(e.to_string()))?;
        Ok(Self {
            model: Arc::new(AnyModel::Expr(model)),
            horizon,
            task: None,
            mode: None,
        })
    }

    /// State dimension n.
    #[getter]
    fn n(&self) -> usize {
        self.dims().0
    }
    /// Control dimension m.
    #[getter]
    fn m(&self) -> usize {
        self.dims().1
    }
    /// Number of parameters d.
    #[getter]
    fn d(&self) -> usize {
        self.dims().2
    }
    /// Context length.
    #[getter]
    fn n_ctx(&self) -> usize {
        self.dims().3
    }
    /// Horizon H.
    #[getter]
    fn horizon(&self) -> usize {
        self.horizon
    }
    /// Problem name.
    #[getter]
    fn name(&self) -> String {
        with_model!(&*self.model, m => m.name().to_string())
    }
    /// Path inequalities per stage.
    #[getter]
    fn n_path(&self) -> usize {
        with_model!(&*self.model, m => m.n_path(0))
    }
    /// Terminal inequalities.
    #[getter]
    fn n_terminal(&self) -> usize {
        with_model!(&*self.model, m => m.n_terminal())
    }

    /// The oracle ("mpc-true") θ of a built-in problem (true-form: the true θ_PDP).
    fn oracle_theta(&self) -> Option<Vec<f64>> {
        match &*self.model {
            AnyModel::TrueForm(p) => Some(p.true_theta()),
            AnyModel::Expr(_) => None,
            _ => self.task.map(Task::mpc_true_theta),
        }
    }

    /// θ(0) of a built-in Table-1 problem: the training run's initial parameters for `seed`.
    fn theta0(&self, seed: u64) -> PyResult<Option<Vec<f64>>> {
        let (Some(task), Some(mode)) = (self.task, self.mode) else {
            return Ok(None);
        };
        if matches!(&*self.model, AnyModel::TrueForm(_)) {
            return Ok(None);
        }
        let mut cfg = TrainConfig::preset(task, mode, Preset::Default);
        cfg.seed = seed;
        diffop::learn::evaluate::initial_theta(&cfg)
            .map(Some)
            .map_err(|e| invalid(e.to_string()))
    }

    /// Whether the compiled derivative programs apply (else the tape is used), and why not.
    fn symbolic_status(&self) -> String {
        with_model!(&*self.model, m => match diffop::model::symbolic::program_stats(m, Some(0)) {
            Ok(s) => format!("compiled ({} instructions, native: {})", s.instructions, s.native),
            Err(e) => format!("tape: {e}"),
        })
    }

    /// The voltage task's context (v_env, q_min, q_max) with the CLI's defaults for missing
    /// entries; empty for problems without context.
    #[pyo3(signature = (x0, theta, v_env=None, q_min=None, q_max=None))]
    fn make_context(
        &self,
        x0: Vec<f64>,
        theta: Vec<f64>,
        v_env: Option<[f64; 3]>,
        q_min: Option<[f64; 3]>,
        q_max: Option<[f64; 3]>,
    ) -> PyResult<Vec<f64>> {
        use diffop::envs::voltage::network::{Q_MAX_EVALUATION, Q_MIN};
        if !matches!(&*self.model, AnyModel::Voltage(_)) {
            if v_env.is_some() || q_min.is_some() || q_max.is_some() {
                return Err(invalid(format!(
                    "the {} problem takes no context (v_env, q_min, q_max are voltage only)",
                    self.name()
                )));
            }
            return Ok(Vec::new());
        }
        if x0.len() != 6 || theta.len() != 12 {
            return Err(invalid(
                "voltage context needs x0 (6) and theta (12)".into(),
            ));
        }
        let v_env = v_env.unwrap_or_else(|| {
            std::array::from_fn(|r| {
                x0[r]
                    - (0..3)
                        .map(|c| theta[3 + 3 * r + c] * x0[3 + c])
                        .sum::<f64>()
            })
        });
        let ctx = VoltagePolicy::context(
            &v_env,
            &q_min.unwrap_or(Q_MIN),
            &q_max.unwrap_or(Q_MAX_EVALUATION),
        );
        with_model!(&*self.model, m => m.check_context(&ctx))
            .map_err(|e| invalid(e.to_string()))?;
        Ok(ctx)
    }
}
