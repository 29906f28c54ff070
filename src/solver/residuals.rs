//! The KKT residuals of an iterate: stationarity, dynamics and x_0 defects, inequality
//! feasibility and complementarity (the termination tests of the interior-point loop and of
//! the polish).

/// Residual summary at the current iterate.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct Residuals {
    /// ‖∇_ζ L‖_∞ / max(1, ‖∇_ζ J‖_∞).
    pub stat: f64,
    /// ‖∇_ζ J‖_∞.
    pub grad_scale: f64,
    /// Dynamics and x_0 defects, ∞-norm.
    pub dyn_feas: f64,
    /// ‖g + s‖_∞ (IPM) or ‖g_active‖_∞ (polish).
    pub ineq: f64,
    /// max_j s_j μ_j.
    pub comp: f64,
    /// max_j g_j (violation of the inequalities).
    pub gmax: f64,
}

impl Residuals {
    /// True when every residual the interior-point loop tests is at most `tol`.
    pub(crate) fn below(&self, tol: f64, inequalities: bool) -> bool {
        self.stat <= tol
            && self.dyn_feas <= tol
            && (!inequalities || (self.ineq <= tol && self.comp <= tol))
    }
}
