//! Property test (issue 3): random linear–quadratic problems with random box constraints on the
//! controls and a θ that enters the dynamics offset, the cost and the bounds. The structured
//! Jacobian must equal the dense KKT solve, and the VJP must equal vᵀJ.

use crate::common;

use common::err;
use diffop::model::{cst, Dims, OcpModel, Scalar};
use diffop::sensitivity::{self, dense::DenseKkt, Seed};
use diffop::solver::{SolverSettings, WarmStart, Workspace};
use proptest::prelude::*;

const N: usize = 3;
const M: usize = 2;

/// x⁺ = A x + B u + θ_b,  c = ½xᵀQx + ½uᵀRu + θ_rᵀu,  −β ≤ u_j ≤ β θ_β (θ-dependent bound).
#[derive(Clone, Debug)]
struct RandomLq {
    a: [f64; N * N],
    b: [f64; N * M],
    q: [f64; N],
    r: [f64; M],
    beta: f64,
}

impl OcpModel for RandomLq {
    fn name(&self) -> &str {
        "random-lq"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: N,
            m: M,
            d: N + M + 1,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], th: &[S], _c: &[f64], o: &mut [S]) {
        for r in 0..N {
            let mut v = th[r];
            for c in 0..N {
                v += x[c] * self.a[r * N + c];
            }
            for c in 0..M {
                v += u[c] * self.b[r * M + c];
            }
            o[r] = v;
        }
    }
    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], th: &[S], _c: &[f64]) -> S {
        let mut c = cst::<S>(0.0);
        for j in 0..N {
            c += x[j] * x[j] * (0.5 * self.q[j]);
        }
        for j in 0..M {
            c += u[j] * u[j] * (0.5 * self.r[j]) + th[N + j] * u[j];
        }
        c
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], _th: &[S], _c: &[f64]) -> S {
        let mut c = cst::<S>(0.0);
        for j in 0..N {
            c += x[j] * x[j] * self.q[j];
        }
        c
    }
    // affine dynamics and constraints, quadratic costs: the solver's LQ shortcut is exercised
    fn is_linear_quadratic(&self) -> bool {
        true
    }
    fn n_path(&self, _i: usize) -> usize {
        2 * M
    }
    fn path_constraints<S: Scalar>(
        &self,
        _i: usize,
        _x: &[S],
        u: &[S],
        th: &[S],
        _c: &[f64],
        g: &mut [S],
    ) {
        for j in 0..M {
            g[j] = u[j] - th[N + M] * self.beta;
            g[M + j] = -u[j] - self.beta;
        }
    }
}

fn model_strategy() -> impl Strategy<Value = (RandomLq, Vec<f64>, Vec<f64>)> {
    (
        prop::array::uniform9(-0.6f64..0.6),
        prop::array::uniform6(-1.0f64..1.0),
        prop::array::uniform3(0.2f64..3.0),
        prop::array::uniform2(0.1f64..2.0),
        0.2f64..1.5,
        prop::collection::vec(-2.0f64..2.0, N),
        prop::collection::vec(-1.0f64..1.0, N + M),
        0.5f64..1.5,
    )
        .prop_map(|(mut a, b, q, r, beta, x0, mut th, tb)| {
            for j in 0..N {
                a[j * N + j] += 1.0;
            }
            th.push(tb);
            (RandomLq { a, b, q, r, beta }, x0, th)
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]
    #[test]
    fn structured_matches_dense_on_random_box_lq((model, x0, theta) in model_strategy()) {
        let h = 5;
        let mut ws = Workspace::new(&model, h, SolverSettings::default()).unwrap();
        let sol = ws.solve(&model, &x0, &theta, &[], WarmStart::Cold).unwrap().clone();
        prop_assume!(sol.status.is_polished());
        let jac = sensitivity::jacobian(&mut ws, &model).unwrap();
        let dk = DenseKkt::assemble(&mut ws, &model).unwrap();
        let z = dk.solve_kkt().unwrap();
        let zu = dk.controls(&z);
        let d = theta.len();
        let mut ju = nalgebra::DMatrix::zeros(h * M, d);
        for i in 0..h {
            ju.view_mut((i * M, 0), (M, d)).copy_from(&jac.u[i]);
        }
        let e = err(&ju, &zu);
        prop_assert!(e <= 1e-9, "structured vs dense {e:e} ({} active)", sol.n_active());
        let seed: Vec<f64> = (0..h * M).map(|k| ((k * 7 % 5) as f64) - 2.0).collect();
        let mut v = vec![0.0; d];
        sensitivity::vjp(&mut ws, &model, Seed { x: None, u: Some(&seed) }, &mut v).unwrap();
        for k in 0..d {
            let vref: f64 = (0..h * M).map(|r| seed[r] * ju[(r, k)]).sum();
            prop_assert!((v[k] - vref).abs() <= 1e-10 * vref.abs().max(1.0), "vjp {} vs {}", v[k], vref);
        }
    }
}
