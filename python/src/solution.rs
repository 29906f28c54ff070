//! Solutions (single and batched) and their sensitivities.

use crate::errors::{invalid, sensitivity};
use crate::problem::with_model;
use crate::solver::Core;
use diffop::sensitivity::{self as sens, Jacobian, Seed, SensitivityError};
use diffop::solver::Workspace;
use numpy::ndarray::{Array1, Array2, Array3};
use numpy::{IntoPyArray, PyArray1, PyArray2, PyArray3, PyReadonlyArray1, PyReadonlyArray3};
use pyo3::prelude::*;
use rayon::prelude::*;
use std::sync::{Arc, Mutex, MutexGuard};

/// One solved problem: its workspace (kept for the sensitivities, returned to the solver's
/// spares when dropped).
pub struct Element {
    core: Arc<Core>,
    ws: Option<Workspace>,
}

impl Drop for Element {
    fn drop(&mut self) {
        if let Some(ws) = self.ws.take() {
            self.core.give(ws);
        }
    }
}

/// Gradients of a seed: (θ, x0).
type Grads = (Vec<f64>, Vec<f64>);

impl Element {
    pub(crate) fn new(core: Arc<Core>, ws: Workspace) -> Self {
        Self { core, ws: Some(ws) }
    }

    fn ws(&self) -> &Workspace {
        self.ws
            .as_ref()
            .expect("an element always holds its workspace until dropped")
    }

    fn status(&self) -> String {
        let s = self.ws().solution().status;
        serde_json::to_value(s)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default()
    }

    fn flat_x(&self) -> Vec<f64> {
        self.ws()
            .solution()
            .x
            .iter()
            .flat_map(|v| v.iter().copied())
            .collect()
    }

    fn flat_u(&self) -> Vec<f64> {
        self.ws()
            .solution()
            .u
            .iter()
            .flat_map(|v| v.iter().copied())
            .collect()
    }

    /// gᵀ∂ζ*/∂θ and (when `x0`) gᵀ∂ζ*/∂x0 for seeds on u (H·m) and x ((H+1)·n); the x0
    /// part is zero when not requested.
    pub(crate) fn vjp(
        &mut self,
        gu: Option<&[f64]>,
        gx: Option<&[f64]>,
        x0: bool,
    ) -> Result<Grads, SensitivityError> {
        let model = self.core.model.clone();
        let ws = self.ws.as_mut().expect("held");
        let (n, _, d) = ws.dims();
        let mut gt = vec![0.0; d];
        let mut g0 = vec![0.0; n];
        let seed = Seed { x: gx, u: gu };
        if x0 {
            // One adjoint solve for both (docs/spec docs/spec/ALGORITHMS.md §7.3: the x0 gradient is
            // the adjoint costate of the x_0 = x_init row).
            with_model!(&*model, m => sens::vjp_full(ws, m, seed, &mut gt, &mut g0))?;
        } else {
            with_model!(&*model, m => sens::vjp(ws, m, seed, &mut gt))?;
        }
        Ok((gt, g0))
    }

    fn jacobian(&mut self, x0: bool) -> Result<Jacobian, SensitivityError> {
        let model = self.core.model.clone();
        let ws = self.ws.as_mut().expect("held");
        if x0 {
            with_model!(&*model, m => sens::jacobian_x0(ws, m))
        } else {
            with_model!(&*model, m => sens::jacobian(ws, m))
        }
    }
}

fn sens_err(e: SensitivityError) -> PyErr {
    match e {
        SensitivityError::Dimension { .. } | SensitivityError::NonFinite { .. } => {
            invalid(e.to_string())
        }
        other => sensitivity(other.to_string()),
    }
}

/// (x: (H+1, n, p), u: (H, m, p)) arrays of a Jacobian.
fn jac_arrays(j: &Jacobian) -> (Array3<f64>, Array3<f64>) {
    let to = |blocks: &[nalgebra::DMatrix<f64>]| {
        let (r, c) = blocks.first().map_or((0, 0), |b| (b.nrows(), b.ncols()));
        Array3::from_shape_fn((blocks.len(), r, c), |(i, a, b)| blocks[i][(a, b)])
    };
    (to(&j.x), to(&j.u))
}

/// The native half of `diffop.Solution`.
#[pyclass(module = "diffop._core", frozen)]
pub struct Solution {
    el: Mutex<Element>,
}

impl Solution {
    pub(crate) fn new(el: Element) -> Self {
        Self { el: Mutex::new(el) }
    }
    fn lock(&self) -> MutexGuard<'_, Element> {
        self.el.lock().unwrap_or_else(|e| e.into_inner())
    }
}

type Outputs<'py> = (
    String,
    usize,
    usize,
    f64,
    Bound<'py, PyArray2<f64>>,
    Bound<'py, PyArray2<f64>>,
);

#[pymethods]
impl Solution {
    /// (status, iterations, polish iterations, objective, x (H+1, n), u (H, m)).
    fn outputs<'py>(&self, py: Python<'py>) -> PyResult<Outputs<'py>> {
        let el = self.lock();
        let sol = el.ws().solution();
        let (n, m) = (sol.x[0].len(), el.ws().dims().1);
        let h = sol.u.len();
        let x =
            Array2::from_shape_vec((h + 1, n), el.flat_x()).map_err(|e| invalid(e.to_string()))?;
        let u = Array2::from_shape_vec((h, m), el.flat_u()).map_err(|e| invalid(e.to_string()))?;
        Ok((
            el.status(),
            sol.iterations,
            sol.polish_iterations,
            sol.objective,
            x.into_pyarray(py),
            u.into_pyarray(py),
        ))
    }

    /// Costates λ_1 … λ_H (H, n) and λ_0 (n).
    fn costates<'py>(
        &self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray2<f64>>, Bound<'py, PyArray1<f64>>) {
        let el = self.lock();
        let sol = el.ws().solution();
        let n = sol.lambda0.len();
        let h = sol.costates.len();
        let c = Array2::from_shape_fn((h, n), |(i, j)| sol.costates[i][j]);
        (
            c.into_pyarray(py),
            Array1::from_iter(sol.lambda0.iter().copied()).into_pyarray(py),
        )
    }

    /// Per stage (H path stages, then the terminal stage): multipliers μ, values g, active
    /// flags; and the number of weakly active rows.
    #[allow(clippy::type_complexity)]
    fn constraints(&self) -> (Vec<Vec<f64>>, Vec<Vec<f64>>, Vec<Vec<bool>>, usize) {
        let el = self.lock();
        let sol = el.ws().solution();
        let rows = |v: &[nalgebra::DVector<f64>]| v.iter().map(|r| r.as_slice().to_vec()).collect();
        (
            rows(&sol.mu),
            rows(&sol.g),
            sol.active.clone(),
            sol.weakly_active,
        )
    }

    /// The trajectory as flat (x, u), for warm starts.
    fn guess<'py>(
        &self,
        py: Python<'py>,
    ) -> (Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>) {
        let el = self.lock();
        (el.flat_x().into_pyarray(py), el.flat_u().into_pyarray(py))
    }

    /// Gradients (θ, x0) of the seeds (flat u: H·m, flat x: (H+1)·n; either may be None);
    /// the x0 gradient is zero unless `x0`.
    #[pyo3(signature = (grad_u=None, grad_x=None, x0=true))]
    fn vjp<'py>(
        &self,
        py: Python<'py>,
        grad_u: Option<PyReadonlyArray1<'py, f64>>,
        grad_x: Option<PyReadonlyArray1<'py, f64>>,
        x0: bool,
    ) -> PyResult<(Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
        let gu = grad_u
            .as_ref()
            .map(|a| a.as_slice().map(<[f64]>::to_vec))
            .transpose()?;
        let gx = grad_x
            .as_ref()
            .map(|a| a.as_slice().map(<[f64]>::to_vec))
            .transpose()?;
        let (gt, g0) = py
            .detach(|| self.lock().vjp(gu.as_deref(), gx.as_deref(), x0))
            .map_err(sens_err)?;
        Ok((gt.into_pyarray(py), g0.into_pyarray(py)))
    }

    /// ∂x/∂p (H+1, n, p) and ∂u/∂p (H, m, p) for p = θ (`x0` false) or p = x0.
    fn jacobian<'py>(
        &self,
        py: Python<'py>,
        x0: bool,
    ) -> PyResult<(Bound<'py, PyArray3<f64>>, Bound<'py, PyArray3<f64>>)> {
        let j = py.detach(|| self.lock().jacobian(x0)).map_err(sens_err)?;
        let (jx, ju) = jac_arrays(&j);
        Ok((jx.into_pyarray(py), ju.into_pyarray(py)))
    }

    /// (V, ∇_θV, ∂V/∂x0).
    fn value_gradient<'py>(
        &self,
        py: Python<'py>,
    ) -> PyResult<(f64, Bound<'py, PyArray1<f64>>, Bound<'py, PyArray1<f64>>)> {
        let r = py.detach(|| {
            let mut el = self.lock();
            let model = el.core.model.clone();
            let ws = el.ws.as_mut().expect("held");
            with_model!(&*model, m => sens::value_gradient(ws, m))
        });
        let v = r.map_err(sens_err)?;
        Ok((
            v.value,
            v.theta.as_slice().to_vec().into_pyarray(py),
            v.x0.as_slice().to_vec().into_pyarray(py),
        ))
    }
}

/// The native half of `diffop.BatchSolution`.
#[pyclass(module = "diffop._core", frozen)]
pub struct BatchSolution {
    core: Arc<Core>,
    elems: Vec<Mutex<Option<Element>>>,
    errors: Vec<Option<String>>,
}

impl BatchSolution {
    pub(crate) fn new(core: Arc<Core>, results: Vec<Result<Element, String>>) -> Self {
        let mut elems = Vec::with_capacity(results.len());
        let mut errors = Vec::with_capacity(results.len());
        for r in results {
            match r {
                Ok(e) => {
                    elems.push(Mutex::new(Some(e)));
                    errors.push(None);
                }
                Err(msg) => {
                    elems.push(Mutex::new(None));
                    errors.push(Some(msg));
                }
            }
        }
        Self {
            core,
            elems,
            errors,
        }
    }
}

type BatchOutputs<'py> = (
    Vec<String>,
    Vec<Option<String>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray1<f64>>,
    Bound<'py, PyArray3<f64>>,
    Bound<'py, PyArray3<f64>>,
);

#[pymethods]
impl BatchSolution {
    /// (status per element ("invalid_input" for rejected inputs), error messages, iterations,
    /// objectives, x (B, H+1, n), u (B, H, m)); rejected elements hold NaN.
    fn outputs<'py>(&self, py: Python<'py>) -> BatchOutputs<'py> {
        let b = self.elems.len();
        let h = self.core.h;
        let d = with_model!(&*self.core.model, m => diffop::model::OcpModel::dims(m));
        let (n, m) = (d.n, d.m);
        let mut x = Array3::from_elem((b, h + 1, n), f64::NAN);
        let mut u = Array3::from_elem((b, h, m), f64::NAN);
        let mut it = Array1::from_elem(b, f64::NAN);
        let mut obj = Array1::from_elem(b, f64::NAN);
        let mut status = Vec::with_capacity(b);
        for (k, cell) in self.elems.iter().enumerate() {
            let g = cell.lock().unwrap_or_else(|e| e.into_inner());
            match g.as_ref() {
                Some(el) => {
                    let sol = el.ws().solution();
                    status.push(el.status());
                    it[k] = sol.iterations as f64;
                    obj[k] = sol.objective;
                    for i in 0..=h {
                        for j in 0..n {
                            x[(k, i, j)] = sol.x[i][j];
                        }
                    }
                    for i in 0..h {
                        for j in 0..m {
                            u[(k, i, j)] = sol.u[i][j];
                        }
                    }
                }
                None => status.push("invalid_input".to_string()),
            }
        }
        (
            status,
            self.errors.clone(),
            it.into_pyarray(py),
            obj.into_pyarray(py),
            x.into_pyarray(py),
            u.into_pyarray(py),
        )
    }

    /// Per element gradients (θ: (B, d), x0: (B, n)) of seeds on u (B, H, m) and x
    /// (B, H+1, n), on the pool; failed elements get NaN rows and their message. The x0
    /// gradients are zero unless `x0`.
    #[pyo3(signature = (grad_u=None, grad_x=None, x0=true))]
    #[allow(clippy::type_complexity)]
    fn vjp<'py>(
        &self,
        py: Python<'py>,
        grad_u: Option<PyReadonlyArray3<'py, f64>>,
        grad_x: Option<PyReadonlyArray3<'py, f64>>,
        x0: bool,
    ) -> PyResult<(
        Bound<'py, PyArray2<f64>>,
        Bound<'py, PyArray2<f64>>,
        Vec<Option<String>>,
    )> {
        let b = self.elems.len();
        let d = with_model!(&*self.core.model, m => diffop::model::OcpModel::dims(m));
        let (h, n, m, dd) = (self.core.h, d.n, d.m, d.d);
        let take = |a: &Option<PyReadonlyArray3<'py, f64>>,
                    per: usize,
                    what: &str|
         -> PyResult<Option<Vec<f64>>> {
            match a {
                None => Ok(None),
                Some(a) => {
                    let s = a
                        .as_slice()
                        .map_err(|_| invalid(format!("{what} must be contiguous")))?;
                    if s.len() != b * per {
                        return Err(invalid(format!(
                            "{what} has {} entries, expected {}",
                            s.len(),
                            b * per
                        )));
                    }
                    Ok(Some(s.to_vec()))
                }
            }
        };
        let gu = take(&grad_u, h * m, "grad_u")?;
        let gx = take(&grad_x, (h + 1) * n, "grad_x")?;
        let results: Vec<Result<Grads, String>> = py.detach(|| {
            self.core.pool.install(|| {
                (0..b)
                    .into_par_iter()
                    .map(|k| {
                        let mut g = self.elems[k].lock().unwrap_or_else(|e| e.into_inner());
                        let Some(el) = g.as_mut() else {
                            return Err(self.errors[k].clone().unwrap_or_default());
                        };
                        let su = gu.as_ref().map(|v| &v[k * h * m..(k + 1) * h * m]);
                        let sx = gx
                            .as_ref()
                            .map(|v| &v[k * (h + 1) * n..(k + 1) * (h + 1) * n]);
                        el.vjp(su, sx, x0).map_err(|e| e.to_string())
                    })
                    .collect()
            })
        });
        let mut gt = Array2::from_elem((b, dd), f64::NAN);
        let mut g0 = Array2::from_elem((b, n), f64::NAN);
        let mut errs = Vec::with_capacity(b);
        for (k, r) in results.into_iter().enumerate() {
            match r {
                Ok((a, c)) => {
                    for j in 0..dd {
                        gt[(k, j)] = a[j];
                    }
                    for j in 0..n {
                        g0[(k, j)] = c[j];
                    }
                    errs.push(None);
                }
                Err(e) => errs.push(Some(e)),
            }
        }
        Ok((gt.into_pyarray(py), g0.into_pyarray(py), errs))
    }

    /// Number of elements.
    fn __len__(&self) -> usize {
        self.elems.len()
    }
}
