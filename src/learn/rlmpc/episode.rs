//! Exploring episodes of RLMPC and the MPC's value functions along them (`docs/spec/ALGORITHMS.md`
//! §11.2–11.3).
//!
//! At every step t of an episode the policy solves its OCP from s_t (giving π_θ(s_t) = u*_0 and
//! V_θ(s_t) = J*), the plant applies a_t = π_θ(s_t) + e_t with e_t ~ 𝒩(0, σ²I), and, depending
//! on the method,
//!
//! * TD: Q_θ(s_t, a_t) and ∇_θQ by one solve of the tail problem (u_0 = a_t eliminated,
//!   [`crate::sensitivity::q_value`]), warm-started from the policy's plan shifted by one stage;
//! * DPG: ∇_θπ(s_t) (m adjoint solves at the unperturbed solution) and ψ = ∇_θπ (a_t − π(s_t)).
//!
//! The target V_θ(s_{t+1}) is the optimum of the next step's action solve (no extra solve). On
//! the last transition it is the true terminal cost h(s_T) (nonlinear tasks) or 0 (voltage).
//! Voltage: a_t is the effective increment q_t − q_{t−1} after the plant's saturation, c_t the
//! plant's F(q_t), and Q omits the bound on q_1.
//!
//! A failed action solve or a diverged plant ends the attempt (the driver redraws it); a failed
//! Q solve or policy Jacobian only marks that transition (it is skipped by the update).

use crate::learn::batch::Abort;
use crate::learn::Failure;
use nalgebra::{DMatrix, DVector};
use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use super::dpg::{compatible_features, policy_jacobian};
pub use super::transition::{Episode, Transition};
use super::{RlmpcConfig, RlmpcMethod};
use crate::envs::nonlinear::{true_stage_cost, true_terminal_cost};
use crate::envs::voltage::{VoltageEnv, VoltageEnvSettings};
use crate::envs::{Env, NonlinearEnv};
use crate::learn::trainer::VOLTAGE_TRAIN_SEED0;
use crate::learn::LearnError;
use crate::model::tasks::{NonlinearTask, Table1Policy, VoltagePolicy};
use crate::model::OcpModel;
use crate::policy::normal::inv_cdf;
use crate::policy::{OptPolicy, PolicyError, PolicySettingsError};
use crate::rng::{stream, Stream};
use crate::sensitivity::{q_value, QValue, SensitivityError, TailProblem};
use crate::solver::{SolverSettings, WarmStart, Workspace};

/// The MPC as a function approximator: the policy (π_θ, V_θ, ∇_θπ) and a workspace of its tail
/// problem (Q_θ, ∇_θQ), allocated once per episode and reused at every step.
#[derive(Debug)]
pub struct MpcFunctions<M: OcpModel> {
    policy: OptPolicy<M>,
    tail: Workspace,
    drop_first: bool,
    ctx: Vec<f64>,
}

impl<M: OcpModel> MpcFunctions<M> {
    /// The functions of `model` with horizon H ≥ 2 and parameters θ. `drop_first` drops the
    /// tail's first-stage constraints in Q (the voltage rule).
    pub fn new(
        model: M,
        horizon: usize,
        theta: &[f64],
        settings: SolverSettings,
        drop_first: bool,
    ) -> Result<Self, PolicyError> {
        if horizon < 2 {
            return Err(PolicyError::Settings(PolicySettingsError::QHorizon {
                horizon,
            }));
        }
        let tail = Workspace::new(
            &TailProblem {
                inner: &model,
                drop_first_constraints: drop_first,
            },
            horizon - 1,
            settings.clone(),
        )?;
        let n_ctx = model.dims().n_ctx;
        let policy = OptPolicy::new(model, horizon, 1, theta.to_vec(), settings)?;
        Ok(Self {
            policy,
            tail,
            drop_first,
            ctx: vec![0.0; n_ctx],
        })
    }

    /// Set the per-episode context (voltage: v^env and the limits).
    pub fn set_context(&mut self, ctx: &[f64]) -> Result<(), PolicyError> {
        self.policy.set_context(ctx)?;
        self.ctx.copy_from_slice(ctx);
        Ok(())
    }

    /// Forget the previous plan (next action solve is a cold start).
    pub fn reset(&mut self) {
        self.policy.reset();
    }

    /// Solve from s: (π_θ(s), V_θ(s), weakly active count).
    pub fn plan(&mut self, s: &[f64]) -> Result<(Vec<f64>, f64, usize), PolicyError> {
        let sol = self.policy.plan(s)?;
        let (v, weak) = (sol.objective, sol.weakly_active);
        Ok((self.policy.planned_actions(1), v, weak))
    }

    /// Q_θ(s, a) and ∇_θQ. Warm-started from the last plan shifted by one stage when one
    /// exists (the plan should be the one from s), retried from a cold start on failure.
    pub fn q(&mut self, s: &[f64], a: &[f64]) -> Result<QValue, SensitivityError> {
        let model = self.policy.model();
        let theta = self.policy.theta();
        let sol = self.policy.solution();
        let mut start = WarmStart::Cold;
        if sol.status.is_polished() {
            let xg: Vec<f64> = sol.x[1..].iter().flat_map(|v| v.iter().copied()).collect();
            let ug: Vec<f64> = sol.u[1..].iter().flat_map(|v| v.iter().copied()).collect();
            if self.tail.set_guess(&xg, &ug).is_ok() {
                start = WarmStart::Current;
            }
        }
        let first = q_value(
            &mut self.tail,
            model,
            self.drop_first,
            s,
            a,
            theta,
            &self.ctx,
            start,
        );
        match first {
            Ok(q) => Ok(q),
            Err(SensitivityError::NotReady(_)) if start != WarmStart::Cold => q_value(
                &mut self.tail,
                model,
                self.drop_first,
                s,
                a,
                theta,
                &self.ctx,
                WarmStart::Cold,
            ),
            Err(e) => Err(e),
        }
    }

    /// ∇_θπ(s) (d×m) at the last plan.
    pub fn policy_jacobian(&mut self) -> Result<DMatrix<f64>, PolicyError> {
        policy_jacobian(&mut self.policy)
    }

    /// The policy.
    pub fn policy(&self) -> &OptPolicy<M> {
        &self.policy
    }
}

/// A standard normal draw by inversion, U ∈ (0, 1) with 53 random bits.
fn standard_normal(rng: &mut ChaCha8Rng) -> f64 {
    let u = ((rng.next_u64() >> 11) as f64 + 0.5) * (1.0 / (1u64 << 53) as f64);
    inv_cdf(u)
}

/// What to compute along an episode.
#[derive(Clone, Copy, Debug)]
struct Needs {
    q: bool,
    jacobian: bool,
}

impl Needs {
    fn of(method: RlmpcMethod) -> Self {
        Self {
            q: matches!(method, RlmpcMethod::Td | RlmpcMethod::TdDpg),
            jacobian: matches!(method, RlmpcMethod::Dpg | RlmpcMethod::TdDpg),
        }
    }
}

/// Exploring episode number j with parameters θ (initial state / scenario and noise from the
/// ChaCha streams of the run seed switched to stream j, as in DiffOP's trainer).
pub fn collect_episode(config: &RlmpcConfig, theta: &[f64], j: u64) -> Result<Episode, LearnError> {
    collect(config, theta, j).map_err(|e| match e {
        Abort::Failed(why) => LearnError::Evaluation(Failure::Episode {
            episode: j,
            source: Box::new(why),
        }),
        Abort::Hard(e) => e,
    })
}

pub(crate) fn collect(config: &RlmpcConfig, theta: &[f64], j: u64) -> Result<Episode, Abort> {
    let mut rng_e = stream(config.seed, Stream::Exploration);
    rng_e.set_stream(j);
    match config.task.nonlinear() {
        Some(task) => {
            let mut rng_x = stream(config.seed, Stream::InitialState);
            rng_x.set_stream(j);
            collect_nonlinear(config, task, theta, &mut rng_x, &mut rng_e)
        }
        None => collect_voltage(config, theta, j, &mut rng_e),
    }
}

/// The per-transition quantities after the plant step.
fn finish_transition<M: OcpModel>(
    f: &mut MpcFunctions<M>,
    needs: Needs,
    s: &[f64],
    a: &[f64],
    pi: &[f64],
    skipped: &mut usize,
) -> (Option<QValue>, Option<DMatrix<f64>>, Option<DVector<f64>>) {
    let mut failed = false;
    let (mut jac, mut psi) = (None, None);
    if needs.jacobian {
        match f.policy_jacobian() {
            Ok(j) => {
                psi = Some(compatible_features(&j, a, pi));
                jac = Some(j);
            }
            Err(_) => failed = true,
        }
    }
    let q = if needs.q {
        match f.q(s, a) {
            Ok(q) if q.value.is_finite() && q.theta.iter().all(|v| v.is_finite()) => Some(q),
            _ => {
                failed = true;
                None
            }
        }
    } else {
        None
    };
    if failed {
        *skipped += 1;
    }
    (q, jac, psi)
}

fn collect_nonlinear(
    config: &RlmpcConfig,
    task: NonlinearTask,
    theta: &[f64],
    rng_x: &mut ChaCha8Rng,
    rng_e: &mut ChaCha8Rng,
) -> Result<Episode, Abort> {
    let needs = Needs::of(config.method);
    let mut env = NonlinearEnv::new(task);
    let mut s = env.reset(rng_x)?;
    let mut f = MpcFunctions::new(
        Table1Policy::new(task),
        config.horizon,
        theta,
        config.solver.clone(),
        false,
    )?;
    let big_t = env.horizon();
    let (mut pi, _, mut weak) = f.plan(&s)?;
    let mut ep = Episode {
        transitions: Vec::with_capacity(big_t),
        cost: 0.0,
        context: Vec::new(),
        skipped: 0,
        weakly_active: 0,
    };
    for t in 0..big_t {
        let a: Vec<f64> = pi
            .iter()
            .map(|p| p + config.sigma * standard_normal(rng_e))
            .collect();
        let step = env.step(&a)?;
        ep.cost += step.cost;
        let c = true_stage_cost(task, &s, &a);
        let (q, jacobian, psi) = finish_transition(&mut f, needs, &s, &a, &pi, &mut ep.skipped);
        let terminal = t + 1 == big_t;
        let (next_pi, target) = if terminal {
            (Vec::new(), true_terminal_cost(task, &step.observation))
        } else {
            let (p, v, w) = f.plan(&step.observation)?;
            weak += w;
            (p, v)
        };
        ep.transitions.push(Transition {
            state: std::mem::replace(&mut s, step.observation),
            action: a,
            pi: std::mem::replace(&mut pi, next_pi),
            cost: c,
            next_state: s.clone(),
            terminal,
            target,
            q,
            jacobian,
            psi,
        });
    }
    ep.weakly_active = weak;
    Ok(ep)
}

fn collect_voltage(
    config: &RlmpcConfig,
    theta: &[f64],
    j: u64,
    rng_e: &mut ChaCha8Rng,
) -> Result<Episode, Abort> {
    let needs = Needs::of(config.method);
    let seed = u32::try_from(VOLTAGE_TRAIN_SEED0 + j).map_err(|_| {
        Abort::Hard(LearnError::Config(
            "voltage training ran out of scenario seeds (u32)".into(),
        ))
    })?;
    let mut env = VoltageEnv::new(VoltageEnvSettings::training())?;
    env.reset_seed(seed)?;
    let mut f = MpcFunctions::new(
        VoltagePolicy::default(),
        config.horizon,
        theta,
        config.solver.clone(),
        true,
    )?;
    let ctx = env.policy_context().to_vec();
    f.set_context(&ctx)?;
    let big_t = env.settings().horizon;
    let mut s = env.policy_state().to_vec();
    let (mut pi, _, mut weak) = f.plan(&s)?;
    let mut ep = Episode {
        transitions: Vec::with_capacity(big_t),
        cost: 0.0,
        context: ctx,
        skipped: 0,
        weakly_active: 0,
    };
    for t in 0..big_t {
        let u: [f64; 3] = std::array::from_fn(|i| pi[i] + config.sigma * standard_normal(rng_e));
        let step = env.step_u(u)?;
        ep.cost += step.cost;
        let a = env.last_increment().to_vec();
        let next = env.policy_state().to_vec();
        let (q, jacobian, psi) = finish_transition(&mut f, needs, &s, &a, &pi, &mut ep.skipped);
        let terminal = t + 1 == big_t;
        let (next_pi, target) = if terminal {
            (Vec::new(), 0.0)
        } else {
            let (p, v, w) = f.plan(&next)?;
            weak += w;
            (p, v)
        };
        ep.transitions.push(Transition {
            state: std::mem::replace(&mut s, next),
            action: a,
            pi: std::mem::replace(&mut pi, next_pi),
            cost: step.cost,
            next_state: s.clone(),
            terminal,
            target,
            q,
            jacobian,
            psi,
        });
    }
    ep.weakly_active = weak;
    Ok(ep)
}
