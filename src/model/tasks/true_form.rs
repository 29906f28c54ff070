//! PDP's own parameterisation of the nonlinear tasks (`docs/spec/ALGORITHMS.md` §11.1): the true
//! dynamics with learnable physical parameters φ_f and the true *form* of the cost with
//! learnable weights w (the control weight w_u stays fixed).
//!
//! | task | θ_PDP |
//! |---|---|
//! | cart-pole | (m_c, m_p, l, w_x, w_q, w_ẋ, w_q̇) |
//! | arm | (l₁, m₁, l₂, m₂, w_q1, w_q2, w_q̇1, w_q̇2) |
//! | quadrotor | (J_x, J_y, J_z, m, l, w_r, w_v, w_q, w_ω) |
//! | rocket | (J_x, J_y, J_z, m, l, w_r, w_v, w_tilt, w_side, w_ω) |
//!
//! The terminal cost uses the same weights without the control terms. With θ_PDP at the truth
//! this is exactly the true optimal control problem, whose solutions are the demonstrations.

use super::NonlinearTask;
use crate::dynamics::{arm, cartpole, dcm, quadrotor, rocket};
use crate::model::{cst, Dims, OcpModel, Scalar};

/// The true-form policy problem of a nonlinear task.
#[derive(Clone, Debug, PartialEq)]
pub struct TrueFormPolicy {
    /// Which task.
    pub task: NonlinearTask,
}

impl TrueFormPolicy {
    /// The problem of `task`.
    pub fn new(task: NonlinearTask) -> Self {
        Self { task }
    }

    /// True cost weights w, in θ_PDP order.
    pub fn true_weights(&self) -> Vec<f64> {
        match self.task {
            NonlinearTask::Cartpole => cartpole::STATE_WEIGHTS.to_vec(),
            NonlinearTask::Arm => arm::STATE_WEIGHTS.to_vec(),
            NonlinearTask::Quadrotor => quadrotor::WEIGHTS.to_vec(),
            NonlinearTask::Rocket => {
                let w = rocket::WEIGHTS;
                // WEIGHTS = (r, v, ω, tilt, side); θ_PDP order = (r, v, tilt, side, ω)
                vec![w[0], w[1], w[3], w[4], w[2]]
            }
        }
    }

    /// The true θ_PDP = (φ_f, w).
    pub fn true_theta(&self) -> Vec<f64> {
        let mut th = self.task.phi_true().to_vec();
        th.extend(self.true_weights());
        th
    }

    /// Number of physical parameters (the leading entries of θ_PDP).
    pub fn n_phi(&self) -> usize {
        self.task.phi_true().len()
    }

    fn control_weight(&self) -> f64 {
        match self.task {
            NonlinearTask::Cartpole => cartpole::CONTROL_WEIGHT,
            NonlinearTask::Arm => arm::CONTROL_WEIGHT,
            NonlinearTask::Quadrotor => quadrotor::CONTROL_WEIGHT,
            NonlinearTask::Rocket => rocket::CONTROL_WEIGHT,
        }
    }

    fn state_cost<S: Scalar>(&self, x: &[S], w: &[S]) -> S {
        let sq = |v: &[S]| v.iter().fold(cst::<S>(0.0), |a, &b| a + b * b);
        match self.task {
            NonlinearTask::Cartpole | NonlinearTask::Arm => {
                let goal = self.task.goal();
                let mut c = cst::<S>(0.0);
                for j in 0..4 {
                    let e = x[j] - goal[j];
                    c += w[j] * e * e;
                }
                c
            }
            NonlinearTask::Quadrotor => {
                let cq = dcm(&x[6..10]);
                let tr = cst::<S>(3.0) - (cq[0][0] + cq[1][1] + cq[2][2]);
                w[0] * sq(&x[0..3]) + w[1] * sq(&x[3..6]) + w[2] * tr + w[3] * sq(&x[10..13])
            }
            NonlinearTask::Rocket => {
                w[0] * sq(&x[0..3])
                    + w[1] * sq(&x[3..6])
                    + w[2] * rocket::tilt(&x[6..10])
                    + w[4] * sq(&x[10..13])
            }
        }
    }
}

impl OcpModel for TrueFormPolicy {
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
            d: self.n_phi() + self.true_weights().len(),
            n_ctx: 0,
        }
    }

    fn dynamics<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        theta: &[S],
        _ctx: &[f64],
        out: &mut [S],
    ) {
        self.task.step(x, u, &theta[..self.n_phi()], out);
    }

    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], theta: &[S], _c: &[f64]) -> S {
        let w = &theta[self.n_phi()..];
        let mut c = self.state_cost(x, w);
        let uu = u.iter().fold(cst::<S>(0.0), |a, &b| a + b * b);
        c += uu * self.control_weight();
        if self.task == NonlinearTask::Rocket {
            c += w[3] * (u[1] * u[1] + u[2] * u[2]);
        }
        c
    }

    fn terminal_cost<S: Scalar>(&self, x: &[S], theta: &[S], _c: &[f64]) -> S {
        self.state_cost(x, &theta[self.n_phi()..])
    }
}
