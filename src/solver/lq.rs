//! The linear–quadratic data of a Newton step: the model's derivative blocks at the current
//! point, the step's Hessians, linear terms and defects, and the cached blocks of
//! linear–quadratic models.

use crate::model::derivs::StageBlock;
use nalgebra::{DMatrix, DVector};

/// The LQ subproblem of the current point.
#[derive(Clone, Debug)]
pub(crate) struct LqData {
    /// Derivative blocks of every stage (H path stages, then the terminal stage).
    pub blocks: Vec<StageBlock>,
    /// True when the Hessians in `blocks` belong to the current point (false after a
    /// Jacobians-only evaluation).
    pub hess_fresh: bool,
    /// Hessians of the LQ subproblem with barrier terms, ∇²ℓ_i + GᵀΣG (valid while
    /// `hm_barrier`; without barrier terms the blocks' `hess` are used directly).
    pub hm: Vec<DMatrix<f64>>,
    /// True when the LQ Hessians are `hm` (interior-point step with inequalities), false when
    /// they are the blocks' own Hessians.
    pub hm_barrier: bool,
    /// Linear terms of the LQ subproblem (stage i: n + m; terminal: n).
    pub lin: Vec<DVector<f64>>,
    /// Dynamics defects f_i − x_{i+1}.
    pub defect: Vec<DVector<f64>>,
    /// x_init − x_0.
    pub x0_defect: DVector<f64>,
    /// Linear–quadratic models ([`crate::model::OcpModel::is_linear_quadratic`]): true once
    /// this solve's Jacobians and Hessians are in `blocks`, with the point `z` and cost
    /// gradients `grad` they were taken at (stage i: length n + m; terminal: n).
    pub ready: bool,
    /// The point of the cached blocks.
    pub z: Vec<DVector<f64>>,
    /// The cost gradients at `z`.
    pub grad: Vec<DVector<f64>>,
    /// Scratch: z − z₀ of one stage.
    pub dz: Vec<f64>,
}

impl LqData {
    pub(crate) fn new(n: usize, m: usize, h: usize, q: &[usize]) -> Self {
        let mut blocks: Vec<StageBlock> = (0..h).map(|i| StageBlock::new(n, m, q[i])).collect();
        blocks.push(StageBlock::new(n, 0, q[h]));
        let mut hm: Vec<DMatrix<f64>> = (0..h).map(|_| DMatrix::zeros(n + m, n + m)).collect();
        hm.push(DMatrix::zeros(n, n));
        let lin = stage_vectors(n, m, h);
        Self {
            blocks,
            hess_fresh: false,
            hm,
            hm_barrier: false,
            z: lin.clone(),
            grad: lin.clone(),
            lin,
            defect: vec![DVector::zeros(n); h],
            x0_defect: DVector::zeros(n),
            ready: false,
            dz: vec![0.0; n + m],
        }
    }
}

/// One vector per stage of the stage variables' length (n + m; terminal n).
pub(crate) fn stage_vectors(n: usize, m: usize, h: usize) -> Vec<DVector<f64>> {
    let mut v: Vec<DVector<f64>> = (0..h).map(|_| DVector::zeros(n + m)).collect();
    v.push(DVector::zeros(n));
    v
}
