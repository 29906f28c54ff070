//! Table-1 policy problems for the nonlinear tasks (`docs/spec/ENVIRONMENTS.md` §1.3).
//!
//! ```text
//! c_θ(x, u)  = Σ_j (θc_j (x_j − x_nom,j))² + ‖u‖²
//! c_Hθ(x)    = Σ_j (θH_j (x_j − x_nom,j))²
//! f_θ(x, u)  = x + dt · f_c(x, u; θ_f)          (the task's own Euler model)
//! θ          = (θ_c ∈ ℝⁿ, θ_H ∈ ℝⁿ, θ_f)
//! ```

use crate::dynamics::{self, arm, cartpole, quadrotor, rocket, DT};
use crate::model::{cst, Dims, OcpModel, Scalar};
use serde::{Deserialize, Serialize};

/// The four nonlinear tasks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NonlinearTask {
    /// Cart-pole swing-up (n = 4, m = 1).
    Cartpole,
    /// Two-link planar arm (n = 4, m = 2).
    Arm,
    /// 6-DoF quadrotor (n = 13, m = 4).
    Quadrotor,
    /// 6-DoF rocket landing (n = 13, m = 3).
    Rocket,
}

impl NonlinearTask {
    /// All four tasks.
    pub const ALL: [NonlinearTask; 4] = [Self::Cartpole, Self::Arm, Self::Quadrotor, Self::Rocket];

    /// Task name as used on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Self::Cartpole => "cartpole",
            Self::Arm => "arm",
            Self::Quadrotor => "quadrotor",
            Self::Rocket => "rocket",
        }
    }

    /// State and control dimensions (n, m).
    pub fn nm(self) -> (usize, usize) {
        match self {
            Self::Cartpole => (cartpole::N, cartpole::M),
            Self::Arm => (arm::N, arm::M),
            Self::Quadrotor => (quadrotor::N, quadrotor::M),
            Self::Rocket => (rocket::N, rocket::M),
        }
    }

    /// True physical parameters φ_f.
    pub fn phi_true(self) -> &'static [f64] {
        match self {
            Self::Cartpole => &cartpole::PHI_TRUE,
            Self::Arm => &arm::PHI_TRUE,
            Self::Quadrotor => &quadrotor::PHI_TRUE,
            Self::Rocket => &rocket::PHI_TRUE,
        }
    }

    /// Goal state x_nom of the Table-1 cost.
    pub fn goal(self) -> &'static [f64] {
        match self {
            Self::Cartpole => &cartpole::GOAL,
            Self::Arm => &arm::GOAL,
            Self::Quadrotor => &quadrotor::GOAL,
            Self::Rocket => &rocket::GOAL,
        }
    }

    /// Step-mode horizon (paper; rocket: project default).
    pub fn step_horizon(self) -> usize {
        match self {
            Self::Cartpole => 6,
            _ => 12,
        }
    }

    /// Episode length T (= Traj-mode horizon).
    pub fn episode_len(self) -> usize {
        match self {
            Self::Cartpole => 30,
            Self::Arm => 35,
            Self::Quadrotor => 50,
            Self::Rocket => 40,
        }
    }

    /// σ₀ of the θ_f(0) perturbation.
    pub fn sigma0(self) -> f64 {
        match self {
            Self::Quadrotor => 0.8,
            _ => 0.9,
        }
    }

    /// Continuous dynamics with parameters `phi`.
    #[inline]
    pub fn f_c<S: Scalar>(self, x: &[S], u: &[S], phi: &[S], out: &mut [S]) {
        match self {
            Self::Cartpole => cartpole::f_c(x, u, phi, out),
            Self::Arm => arm::f_c(x, u, phi, out),
            Self::Quadrotor => quadrotor::f_c(x, u, phi, out),
            Self::Rocket => rocket::f_c(x, u, phi, out),
        }
    }

    /// Euler-discretised dynamics x⁺ = x + dt f_c(x, u; φ).
    #[inline]
    pub fn step<S: Scalar>(self, x: &[S], u: &[S], phi: &[S], out: &mut [S]) {
        let mut xdot = [S::from(0.0); 13];
        let n = x.len();
        self.f_c(x, u, phi, &mut xdot[..n]);
        dynamics::euler(x, &xdot[..n], DT, out);
    }

    /// Curvature structure of the Table-1 stage Lagrangian in z = (x, u): the variables with
    /// cross terms (those the task's f_c depends on nonlinearly, and u) and the variables
    /// whose only curvature is the diagonal cost term (those f_c depends on linearly or not
    /// at all). See [`OcpModel::stage_curvature_vars`].
    pub fn curvature_structure(self) -> (&'static [usize], &'static [usize]) {
        match self {
            // f_c is nonlinear in q, q̇ and u; x and ẋ enter linearly.
            Self::Cartpole => (&[1, 3, 4], &[0, 2]),
            // with g = 0, q₁ does not enter f_c.
            Self::Arm => (&[1, 2, 3, 4, 5], &[0]),
            // r and v enter linearly (ṙ = v); q, ω and u interact.
            Self::Quadrotor => (
                &[6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
                &[0, 1, 2, 3, 4, 5],
            ),
            Self::Rocket => (&[6, 7, 8, 9, 10, 11, 12, 13, 14, 15], &[0, 1, 2, 3, 4, 5]),
        }
    }

    /// Oracle Table-1 weights (θc = θH): the true cost rewritten in Table-1 form
    /// (`docs/spec/ENVIRONMENTS.md` §2.4, §3.4, §4.5). `None` for the rocket, whose true cost is not
    /// representable.
    pub fn oracle_weights(self) -> Option<Vec<f64>> {
        match self {
            Self::Cartpole => Some(
                cartpole::STATE_WEIGHTS
                    .iter()
                    .map(|w| (w / cartpole::CONTROL_WEIGHT).sqrt())
                    .collect(),
            ),
            Self::Arm => Some(
                arm::STATE_WEIGHTS
                    .iter()
                    .map(|w| (w / arm::CONTROL_WEIGHT).sqrt())
                    .collect(),
            ),
            Self::Quadrotor => {
                let s = |w: f64| (w / quadrotor::CONTROL_WEIGHT).sqrt();
                let w = quadrotor::WEIGHTS;
                let mut v = vec![s(w[0]); 3];
                v.extend([s(w[1]); 3]);
                v.push(0.0);
                v.extend([s(4.0 * w[2]); 3]);
                v.extend([s(w[3]); 3]);
                Some(v)
            }
            Self::Rocket => None,
        }
    }

    /// The oracle θ = (oracle weights, oracle weights, φ_true), if it exists.
    pub fn oracle_theta(self) -> Option<Vec<f64>> {
        let w = self.oracle_weights()?;
        let mut th = w.clone();
        th.extend(&w);
        th.extend(self.phi_true());
        Some(th)
    }
}

/// The Table-1 policy problem of a nonlinear task.
#[derive(Clone, Debug, PartialEq)]
pub struct Table1Policy {
    /// Which task.
    pub task: NonlinearTask,
}

impl Table1Policy {
    /// The policy problem of `task`.
    pub fn new(task: NonlinearTask) -> Self {
        Self { task }
    }

    /// Number of parameters d = 2n + dim φ_f.
    pub fn n_theta(&self) -> usize {
        let (n, _) = self.task.nm();
        2 * n + self.task.phi_true().len()
    }
}

impl OcpModel for Table1Policy {
    fn name(&self) -> &str {
        self.task.name()
    }

    /// The task selects the functions completely: compiled derivative programs.
    fn symbolic_key(&self) -> Option<u64> {
        Some(self.task as u64)
    }

    fn dims(&self) -> Dims {
        let (n, m) = self.task.nm();
        Dims {
            n,
            m,
            d: self.n_theta(),
            n_ctx: 0,
        }
    }

    #[inline]
    fn dynamics<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        theta: &[S],
        _ctx: &[f64],
        out: &mut [S],
    ) {
        let n = x.len();
        self.task.step(x, u, &theta[2 * n..], out);
    }

    #[inline]
    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], theta: &[S], _c: &[f64]) -> S {
        let goal = self.task.goal();
        let mut c = cst::<S>(0.0);
        for (j, &xj) in x.iter().enumerate() {
            let e = theta[j] * (xj - goal[j]);
            c += e * e;
        }
        for &uj in u {
            c += uj * uj;
        }
        c
    }

    fn stage_curvature_vars(&self) -> Option<&[usize]> {
        Some(self.task.curvature_structure().0)
    }

    fn stage_diagonal_vars(&self) -> &[usize] {
        self.task.curvature_structure().1
    }

    #[inline]
    fn terminal_cost<S: Scalar>(&self, x: &[S], theta: &[S], _c: &[f64]) -> S {
        let goal = self.task.goal();
        let n = x.len();
        let mut c = cst::<S>(0.0);
        for (j, &xj) in x.iter().enumerate() {
            let e = theta[n + j] * (xj - goal[j]);
            c += e * e;
        }
        c
    }
}
