//! `Solver`: settings, a rayon pool and spare workspaces; single and batched solves.

use crate::errors::invalid;
use crate::problem::{with_model, AnyModel, Problem};
use crate::solution::{BatchSolution, Element, Solution};
use diffop::solver::{SolverError, SolverSettings, WarmStart, Workspace};
use numpy::{PyReadonlyArray1, PyReadonlyArray2, PyUntypedArrayMethods};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt};
use rayon::prelude::*;
use std::sync::{Arc, Mutex};

/// Most spare workspaces kept per solver.
const MAX_SPARE: usize = 4096;

/// What solves and solutions share: the model, the settings, the pool and spare workspaces.
pub struct Core {
    pub(crate) model: Arc<AnyModel>,
    pub(crate) h: usize,
    pub(crate) settings: SolverSettings,
    pub(crate) pool: rayon::ThreadPool,
    spare: Mutex<Vec<Workspace>>,
}

impl Core {
    /// A workspace: a spare one, or a new one.
    fn take(&self) -> Result<Workspace, SolverError> {
        let spare = self.spare.lock().unwrap_or_else(|e| e.into_inner()).pop();
        match spare {
            Some(ws) => Ok(ws),
            None => {
                with_model!(&*self.model, m => Workspace::new(m, self.h, self.settings.clone()))
            }
        }
    }

    /// Return a workspace for reuse.
    pub(crate) fn give(&self, ws: Workspace) {
        let mut spare = self.spare.lock().unwrap_or_else(|e| e.into_inner());
        if spare.len() < MAX_SPARE {
            spare.push(ws);
        }
    }

    /// Solve one problem (no Python involved). `guess` is a trajectory (x flat, u flat).
    pub(crate) fn solve_one(
        self: &Arc<Self>,
        x0: &[f64],
        theta: &[f64],
        ctx: &[f64],
        guess: Option<(&[f64], &[f64])>,
    ) -> Result<Element, SolverError> {
        let mut ws = self.take()?;
        let start = match guess {
            Some((gx, gu)) => match ws.set_guess(gx, gu) {
                Ok(()) => WarmStart::Current,
                Err(e) => {
                    self.give(ws);
                    return Err(e);
                }
            },
            None => WarmStart::Cold,
        };
        let r = with_model!(&*self.model, m => ws.solve(m, x0, theta, ctx, start).map(|_| ()));
        match r {
            Ok(()) => Ok(Element::new(self.clone(), ws)),
            Err(e) => {
                self.give(ws);
                Err(e)
            }
        }
    }
}

/// Convert a settings dict into [`SolverSettings`] (unknown keys and bad values rejected).
fn settings_from(dict: Option<&Bound<'_, PyDict>>) -> PyResult<SolverSettings> {
    let mut map = serde_json::Map::new();
    if let Some(dict) = dict {
        for (k, v) in dict.iter() {
            let key: String = k.extract()?;
            let value = if v.is_instance_of::<PyBool>() {
                serde_json::Value::Bool(v.extract()?)
            } else if v.is_instance_of::<PyInt>() {
                serde_json::Value::from(v.extract::<i64>()?)
            } else if v.is_instance_of::<PyFloat>() {
                let f: f64 = v.extract()?;
                serde_json::Number::from_f64(f)
                    .map(serde_json::Value::Number)
                    .ok_or_else(|| invalid(format!("solver setting `{key}` is not finite")))?
            } else {
                return Err(invalid(format!(
                    "solver setting `{key}` must be a bool, int or float"
                )));
            };
            map.insert(key, value);
        }
    }
    let s: SolverSettings = serde_json::from_value(serde_json::Value::Object(map))
        .map_err(|e| invalid(format!("invalid solver settings: {e}")))?;
    s.validate().map_err(|e| invalid(e.to_string()))?;
    Ok(s)
}

/// The native half of `diffop.Solver`.
#[pyclass(module = "diffop._core", frozen)]
pub struct Solver {
    pub(crate) core: Arc<Core>,
}

fn slice<'a>(a: &'a PyReadonlyArray1<'_, f64>, what: &str) -> PyResult<&'a [f64]> {
    a.as_slice()
        .map_err(|_| invalid(format!("{what} must be a contiguous float64 array")))
}

#[pymethods]
impl Solver {
    /// A solver for `problem` with `threads` pool threads and settings from a dict.
    #[new]
    #[pyo3(signature = (problem, threads, settings=None))]
    fn new(
        problem: &Bound<'_, Problem>,
        threads: usize,
        settings: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Self> {
        let settings = settings_from(settings)?;
        if threads == 0 || threads > 1024 {
            return Err(invalid(format!(
                "threads must be in 1 ..= 1024, got {threads}"
            )));
        }
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .map_err(|e| invalid(format!("cannot start the thread pool: {e}")))?;
        let p = problem.get();
        let core = Core {
            model: p.model.clone(),
            h: p.horizon,
            settings,
            pool,
            spare: Mutex::new(Vec::new()),
        };
        // Fail early on a bad problem size.
        let ws = core.take().map_err(|e| invalid(e.to_string()))?;
        core.give(ws);
        Ok(Self {
            core: Arc::new(core),
        })
    }

    /// The settings in force, as JSON.
    fn settings_json(&self) -> String {
        serde_json::to_string(&self.core.settings).unwrap_or_default()
    }

    /// Number of pool threads.
    #[getter]
    fn threads(&self) -> usize {
        self.core.pool.current_num_threads()
    }

    /// Solve from `x0` with `theta` and context `ctx`; `guess_x`/`guess_u` (flat) warm-start.
    #[pyo3(signature = (x0, theta, ctx, guess_x=None, guess_u=None))]
    fn solve(
        &self,
        py: Python<'_>,
        x0: PyReadonlyArray1<'_, f64>,
        theta: PyReadonlyArray1<'_, f64>,
        ctx: PyReadonlyArray1<'_, f64>,
        guess_x: Option<PyReadonlyArray1<'_, f64>>,
        guess_u: Option<PyReadonlyArray1<'_, f64>>,
    ) -> PyResult<Solution> {
        let x0 = slice(&x0, "x0")?.to_vec();
        let theta = slice(&theta, "theta")?.to_vec();
        let ctx = slice(&ctx, "context")?.to_vec();
        let guess = match (&guess_x, &guess_u) {
            (Some(gx), Some(gu)) => Some((
                slice(gx, "guess x")?.to_vec(),
                slice(gu, "guess u")?.to_vec(),
            )),
            _ => None,
        };
        let core = self.core.clone();
        let el = py.detach(move || {
            let g = guess.as_ref().map(|(a, b)| (a.as_slice(), b.as_slice()));
            core.solve_one(&x0, &theta, &ctx, g)
        });
        let el = el.map_err(|e| invalid(e.to_string()))?;
        Ok(Solution::new(el))
    }

    /// Benchmark helper: `reps` cold solves of (`x0`, `theta`), each followed by a θ-VJP of
    /// `seed_u` (flat), timed inside Rust (no Python in the loop); per-call seconds.
    fn bench_native(
        &self,
        py: Python<'_>,
        x0: PyReadonlyArray1<'_, f64>,
        theta: PyReadonlyArray1<'_, f64>,
        seed_u: PyReadonlyArray1<'_, f64>,
        reps: usize,
    ) -> PyResult<Vec<f64>> {
        let x0 = slice(&x0, "x0")?.to_vec();
        let theta = slice(&theta, "theta")?.to_vec();
        let seed = slice(&seed_u, "seed")?.to_vec();
        let core = self.core.clone();
        py.detach(move || {
            let mut times = Vec::with_capacity(reps);
            for _ in 0..reps {
                let t0 = std::time::Instant::now();
                let mut el = core
                    .solve_one(&x0, &theta, &[], None)
                    .map_err(|e| invalid(e.to_string()))?;
                el.vjp(Some(&seed), None, false)
                    .map_err(|e| invalid(e.to_string()))?;
                drop(el);
                times.push(t0.elapsed().as_secs_f64());
            }
            Ok(times)
        })
    }

    /// Solve B problems on the pool: rows of `x0` (B, n), `theta` (B, d), `ctx` (B, n_ctx).
    /// Per element: a solution or the input error's message.
    fn solve_batch(
        &self,
        py: Python<'_>,
        x0: PyReadonlyArray2<'_, f64>,
        theta: PyReadonlyArray2<'_, f64>,
        ctx: PyReadonlyArray2<'_, f64>,
    ) -> PyResult<BatchSolution> {
        let b = x0.shape()[0];
        if theta.shape()[0] != b || ctx.shape()[0] != b {
            return Err(invalid(format!(
                "batch sizes differ: x0 {}, theta {}, context {}",
                b,
                theta.shape()[0],
                ctx.shape()[0]
            )));
        }
        let (wn, wd, wc) = (x0.shape()[1], theta.shape()[1], ctx.shape()[1]);
        let xs = x0
            .as_slice()
            .map_err(|_| invalid("x0 must be contiguous".into()))?
            .to_vec();
        let ts = theta
            .as_slice()
            .map_err(|_| invalid("theta must be contiguous".into()))?
            .to_vec();
        let cs = ctx
            .as_slice()
            .map_err(|_| invalid("context must be contiguous".into()))?
            .to_vec();
        let core = self.core.clone();
        let elems = py.detach(move || {
            core.pool.install(|| {
                (0..b)
                    .into_par_iter()
                    .map(|k| {
                        core.solve_one(
                            &xs[k * wn..(k + 1) * wn],
                            &ts[k * wd..(k + 1) * wd],
                            &cs[k * wc..(k + 1) * wc],
                            None,
                        )
                        .map_err(|e| e.to_string())
                    })
                    .collect::<Vec<_>>()
            })
        });
        Ok(BatchSolution::new(self.core.clone(), elems))
    }
}
