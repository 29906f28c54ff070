//! A small f64 multilayer perceptron with ReLU hidden layers and hand-written backpropagation
//! (the DDPG critic, 2 → 100 → 100 → 1; `docs/spec/ALGORITHMS.md` §12.1).
//!
//! All parameters live in one flat vector θ (layer by layer: W_l column-major, out × in, then
//! b_l), so that Adam and the soft target update act on plain slices. A batch is a matrix with
//! one sample per column:
//!
//! ```text
//! forward   h_0 = X,  z_l = W_l h_{l−1} + b_l 1ᵀ,  h_l = relu(z_l) (hidden), h_L = z_L (output)
//! backward  δ_L = ∂ℓ/∂h_L;  ∂ℓ/∂W_l = δ_l h_{l−1}ᵀ,  ∂ℓ/∂b_l = δ_l 1,
//!           δ_{l−1} = (W_lᵀ δ_l) ⊙ 1[h_{l−1} > 0],   ∂ℓ/∂X = W_1ᵀ δ_1
//! ```
//!
//! Products run through nalgebra's `gemm` / `gemm_tr` on contiguous column-major operands only.
//! Strided "transposed" views must not be passed to `gemm`: in nalgebra 0.35 its fallback path
//! for small dimensions (any dimension ≤ 5, here the input width 2 and the output width 1)
//! calls `axcpy_uninit`, which loops over the length of the *underlying slice* of a strided
//! column instead of its number of rows and writes past the end of the output column (heap
//! corruption). `∂ℓ/∂W_l` therefore uses an owned `h_{l−1}ᵀ` and `W_lᵀ δ_l` uses `gemm_tr`
//! (column dot products). The results are deterministic.

use nalgebra::{DMatrix, DMatrixView, DMatrixViewMut};
use rand::Rng;
use serde::{Deserialize, Serialize};

use super::DdpgError;

/// Layer sizes and the flat parameters of an MLP.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Mlp {
    /// Layer widths [input, hidden…, output].
    pub sizes: Vec<usize>,
    /// All parameters θ, layer by layer (W_l column-major, then b_l).
    pub theta: Vec<f64>,
}

/// Activations of one forward pass, kept for the backward pass (reused between calls).
#[derive(Clone, Debug, Default)]
pub struct MlpWork {
    /// h_0 … h_L (h_0 = the input batch).
    h: Vec<DMatrix<f64>>,
    /// Back-propagated signal, two buffers.
    delta: [DMatrix<f64>; 2],
}

/// Offsets of W_l and b_l in θ.
fn offsets(sizes: &[usize]) -> Vec<(usize, usize)> {
    let mut v = Vec::with_capacity(sizes.len() - 1);
    let mut off = 0;
    for l in 1..sizes.len() {
        let (n_in, n_out) = (sizes[l - 1], sizes[l]);
        v.push((off, off + n_in * n_out));
        off += n_in * n_out + n_out;
    }
    v
}

impl Mlp {
    /// Number of parameters of an MLP with these layer widths.
    pub fn param_count(sizes: &[usize]) -> usize {
        sizes.windows(2).map(|w| w[0] * w[1] + w[1]).sum()
    }

    /// PyTorch's default initialisation: W_l, b_l ~ U(±1/√fan_in), the last layer U(±`last`)
    /// (the DDPG critic uses 3·10⁻³).
    pub fn random<R: Rng>(sizes: &[usize], last: f64, rng: &mut R) -> Result<Self, DdpgError> {
        if sizes.len() < 2 || sizes.contains(&0) {
            return Err(DdpgError::Shape(format!(
                "an MLP needs at least two positive layer widths, got {sizes:?}"
            )));
        }
        let mut theta = Vec::with_capacity(Self::param_count(sizes));
        let n_layers = sizes.len() - 1;
        for l in 1..sizes.len() {
            let bound = if l == n_layers {
                last
            } else {
                1.0 / (sizes[l - 1] as f64).sqrt()
            };
            for _ in 0..sizes[l - 1] * sizes[l] + sizes[l] {
                theta.push(rng.random_range(-bound..bound));
            }
        }
        Ok(Self {
            sizes: sizes.to_vec(),
            theta,
        })
    }

    /// Check that θ has the length the layer widths need and is finite.
    pub fn validate(&self) -> Result<(), DdpgError> {
        if self.sizes.len() < 2 || self.sizes.contains(&0) {
            return Err(DdpgError::Shape(format!(
                "bad MLP layer widths {:?}",
                self.sizes
            )));
        }
        if self.theta.len() != Self::param_count(&self.sizes) {
            return Err(DdpgError::Shape(format!(
                "MLP {:?} needs {} parameters, got {}",
                self.sizes,
                Self::param_count(&self.sizes),
                self.theta.len()
            )));
        }
        if self.theta.iter().any(|x| !x.is_finite()) {
            return Err(DdpgError::NonFinite("MLP parameters"));
        }
        Ok(())
    }

    /// Input width.
    pub fn n_in(&self) -> usize {
        self.sizes[0]
    }

    /// Forward pass on a batch `x` (n_in × B); returns the output (n_out × B), kept in `work`
    /// with the hidden activations.
    pub fn forward<'w>(&self, x: DMatrixView<'_, f64>, work: &'w mut MlpWork) -> &'w DMatrix<f64> {
        let n_layers = self.sizes.len() - 1;
        let batch = x.ncols();
        work.h.resize_with(n_layers + 1, || DMatrix::zeros(0, 0));
        work.h[0].resize_mut(x.nrows(), batch, 0.0);
        work.h[0].copy_from(&x);
        for (l, (w_off, b_off)) in offsets(&self.sizes).into_iter().enumerate() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let w = DMatrixView::from_slice(&self.theta[w_off..b_off], n_out, n_in);
            let b = &self.theta[b_off..b_off + n_out];
            let (prev, rest) = work.h.split_at_mut(l + 1);
            let out = &mut rest[0];
            out.resize_mut(n_out, batch, 0.0);
            out.gemm(1.0, &w, &prev[l], 0.0);
            let hidden = l + 1 < n_layers;
            for mut col in out.column_iter_mut() {
                for (z, bi) in col.iter_mut().zip(b) {
                    *z += bi;
                    if hidden && *z < 0.0 {
                        *z = 0.0;
                    }
                }
            }
        }
        &work.h[n_layers]
    }

    /// Backward pass after [`Mlp::forward`] with output signal `d_out` = ∂ℓ/∂h_L (n_out × B).
    /// Adds ∂ℓ/∂θ to `grad` when given; returns ∂ℓ/∂X (n_in × B).
    pub fn backward(
        &self,
        d_out: &DMatrix<f64>,
        work: &mut MlpWork,
        mut grad: Option<&mut [f64]>,
    ) -> DMatrix<f64> {
        let offs = offsets(&self.sizes);
        let batch = d_out.ncols();
        let [d_a, d_b] = &mut work.delta;
        d_a.resize_mut(d_out.nrows(), batch, 0.0);
        d_a.copy_from(d_out);
        let (mut cur, mut nxt) = (d_a, d_b);
        for l in (0..offs.len()).rev() {
            let (n_in, n_out) = (self.sizes[l], self.sizes[l + 1]);
            let (w_off, b_off) = offs[l];
            let h_prev = &work.h[l];
            if let Some(g) = grad.as_deref_mut() {
                let mut gw = DMatrixViewMut::from_slice(&mut g[w_off..b_off], n_out, n_in);
                gw.gemm(1.0, cur, &h_prev.transpose(), 1.0);
                for (gb, row) in g[b_off..b_off + n_out].iter_mut().zip(cur.row_iter()) {
                    *gb += row.sum();
                }
            }
            nxt.resize_mut(n_in, batch, 0.0);
            let w = DMatrixView::from_slice(&self.theta[w_off..b_off], n_out, n_in);
            nxt.gemm_tr(1.0, &w, cur, 0.0);
            if l > 0 {
                nxt.zip_apply(h_prev, |d, h| {
                    if h <= 0.0 {
                        *d = 0.0
                    }
                });
            }
            std::mem::swap(&mut cur, &mut nxt);
        }
        cur.clone()
    }
}
