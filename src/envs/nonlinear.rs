//! The true plants of the four nonlinear tasks (`docs/spec/ENVIRONMENTS.md` §1–6).
//!
//! ```text
//! plant        x_{t+1} = x_t + dt · f_c(x_t, u_t; φ_f,true)      (explicit Euler, dt = 0.1)
//! stage cost   c(x_t, u_t)                                        (task tables §2.3–§5.3)
//! episode      t = 0 … T−1;  L(τ) = Σ_{t<T} c(x_t, u_t) + h(x_T)
//! reset        k = ⌊U·K_demo⌋,  x_0 = x̄_k + δ,  δ_j = ε_j (2U_j − 1)  (perturbed j only)
//! ```
//!
//! The last step of an episode adds the terminal cost h(x_T) to its stage cost and reports
//! `done`, so the sum of the step costs of an episode is L(τ) (see [`episode_cost`]).
//!
//! **Random draws of [`NonlinearEnv::reset`].** All draws are standard uniforms
//! `rng.random::<f64>()` ∈ [0, 1) from the caller's generator (the initial-state stream of
//! [`crate::rng`]), in this order:
//!
//! 1. one draw U for the demo index, k = ⌊U·K_demo⌋ (also when K_demo = 1, as for the rocket);
//! 2. one draw U_j per *perturbed* component j (half-width ε_j > 0), in state-component order.
//!    Components with ε_j = 0 consume no draw.
//!
//! With the default half-widths this is 1 + 4 draws for the cart-pole and the arm, and 1 + 6
//! draws (r and v) for the quadrotor and the rocket.

use super::{check_action, Env, EnvError, InputError, Step};
use crate::dynamics::{arm, cartpole, quadrotor, rocket};
use crate::model::tasks::NonlinearTask;
use crate::model::Scalar;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::f64::consts::{FRAC_PI_2, FRAC_PI_4, PI, SQRT_2};

/// True stage cost c(x, u) of `task` (`docs/spec/ENVIRONMENTS.md` §2.3, §3.3, §4.3, §5.3), generic over
/// the scalar so that it can also be differentiated. `x` has length n, `u` length m.
#[inline]
pub fn true_stage_cost<S: Scalar>(task: NonlinearTask, x: &[S], u: &[S]) -> S {
    match task {
        NonlinearTask::Cartpole => cartpole::true_stage_cost(x, u),
        NonlinearTask::Arm => arm::true_stage_cost(x, u),
        NonlinearTask::Quadrotor => quadrotor::true_stage_cost(x, u),
        NonlinearTask::Rocket => rocket::true_stage_cost(x, u),
    }
}

/// True terminal cost h(x) of `task`: the stage cost without its control terms.
#[inline]
pub fn true_terminal_cost<S: Scalar>(task: NonlinearTask, x: &[S]) -> S {
    match task {
        NonlinearTask::Cartpole => cartpole::true_terminal_cost(x),
        NonlinearTask::Arm => arm::true_terminal_cost(x),
        NonlinearTask::Quadrotor => quadrotor::true_terminal_cost(x),
        NonlinearTask::Rocket => rocket::true_terminal_cost(x),
    }
}

/// The PDP demonstration initial states x̄_k of `task`, in the order of the task tables
/// (`docs/spec/ENVIRONMENTS.md` §2.3, §3.3, §4.3, §5.3). These are the evaluation states.
pub fn demo_states(task: NonlinearTask) -> Vec<Vec<f64>> {
    match task {
        NonlinearTask::Cartpole => [0.0, -0.5, -0.25, 0.25, 0.5]
            .iter()
            .map(|&q| vec![0.0, q, 0.0, 0.0])
            .collect(),
        NonlinearTask::Arm => [
            (-FRAC_PI_2, 0.0),
            (-3.0 * FRAC_PI_4, -FRAC_PI_2),
            (-FRAC_PI_4, FRAC_PI_2),
            (-FRAC_PI_2, PI),
        ]
        .iter()
        .map(|&(q1, q2)| vec![q1, q2, 0.0, 0.0])
        .collect(),
        NonlinearTask::Quadrotor => [(-8.0, -6.0), (8.0, 6.0)]
            .iter()
            .map(|&(rx, ry)| {
                let mut x = vec![0.0; quadrotor::N];
                x[0] = rx;
                x[1] = ry;
                x[2] = 9.0;
                x[6] = 1.0;
                x
            })
            .collect(),
        NonlinearTask::Rocket => {
            let (s, c) = 0.5f64.sin_cos();
            let mut x = vec![0.0; rocket::N];
            x[..3].copy_from_slice(&[10.0, -8.0, 5.0]);
            x[3] = -0.5;
            x[6..10].copy_from_slice(&[c, 0.0, s / SQRT_2, -s / SQRT_2]);
            vec![x]
        }
    }
}

/// Settings of a nonlinear environment. The defaults ([`NonlinearEnvSettings::for_task`]) are
/// the project defaults of `docs/spec/ENVIRONMENTS.md` §2–6 (marked **[PROJECT DEFAULT]** there).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NonlinearEnvSettings {
    /// Episode length T (number of control steps). Default: the PDP demonstration horizon
    /// (30 cart-pole, 35 arm, 50 quadrotor, 40 rocket).
    pub horizon: usize,
    /// Half-widths ε_j ≥ 0 of the uniform initial-state perturbation, one per state
    /// component; ε_j = 0 leaves component j unperturbed and consumes no random draw.
    /// Default: 0.05 on every cart-pole and arm component; 0.5 on r and 0.1 on v for the
    /// quadrotor and the rocket (q and ω unperturbed).
    pub half_widths: Vec<f64>,
}

impl NonlinearEnvSettings {
    /// The project-default settings of `task`.
    pub fn for_task(task: NonlinearTask) -> Self {
        let half_widths = match task {
            NonlinearTask::Cartpole | NonlinearTask::Arm => vec![0.05; 4],
            NonlinearTask::Quadrotor | NonlinearTask::Rocket => {
                let mut e = vec![0.0; 13];
                e[..3].fill(0.5);
                e[3..6].fill(0.1);
                e
            }
        };
        Self {
            horizon: task.episode_len(),
            half_widths,
        }
    }

    /// Check the settings against `task`: T ≥ 1, one finite ε_j ≥ 0 per state component.
    pub fn validate(&self, task: NonlinearTask) -> Result<(), EnvError> {
        let (n, _) = task.nm();
        if self.horizon == 0 {
            return Err(EnvError::InvalidSettings(InputError::Zero {
                what: "episode length T",
            }));
        }
        if self.half_widths.len() != n {
            return Err(EnvError::InvalidSettings(InputError::Length {
                what: format!("perturbation half-widths of the {} task", task.name()),
                expected: n,
                got: self.half_widths.len(),
            }));
        }
        if let Some((j, e)) = self
            .half_widths
            .iter()
            .enumerate()
            .find(|(_, e)| !(e.is_finite() && **e >= 0.0))
        {
            return Err(EnvError::InvalidSettings(InputError::OutOfRange {
                what: format!("perturbation half-width {j}"),
                expected: "finite and ≥ 0",
                value: *e,
            }));
        }
        Ok(())
    }
}

/// The true plant of a nonlinear task: Euler steps of the true dynamics, true costs, episodes
/// of T steps and the initial-state distribution of `docs/spec/ENVIRONMENTS.md` §1.5.
#[derive(Clone, Debug)]
pub struct NonlinearEnv {
    task: NonlinearTask,
    settings: NonlinearEnvSettings,
    demos: Vec<Vec<f64>>,
    x: Vec<f64>,
    next: Vec<f64>,
    t: usize,
    running: bool,
}

impl NonlinearEnv {
    /// The environment of `task` with the project-default settings.
    ///
    /// ```
    /// use diffop::envs::{Env, NonlinearEnv};
    /// use diffop::model::tasks::NonlinearTask;
    /// let mut env = NonlinearEnv::new(NonlinearTask::Cartpole);
    /// let mut rng = diffop::rng::stream(0, diffop::rng::Stream::InitialState);
    /// let x0 = env.reset(&mut rng).unwrap();
    /// let step = env.step(&[0.0]).unwrap();
    /// assert_eq!((x0.len(), step.done, env.horizon()), (4, false, 30));
    /// ```
    pub fn new(task: NonlinearTask) -> Self {
        let settings = NonlinearEnvSettings::for_task(task);
        Self::build(task, settings)
    }

    /// The environment of `task` with explicit settings (validated first).
    pub fn with_settings(
        task: NonlinearTask,
        settings: NonlinearEnvSettings,
    ) -> Result<Self, EnvError> {
        settings.validate(task)?;
        Ok(Self::build(task, settings))
    }

    fn build(task: NonlinearTask, settings: NonlinearEnvSettings) -> Self {
        let demos = demo_states(task);
        let x = demos[0].clone();
        let next = vec![0.0; x.len()];
        Self {
            task,
            settings,
            demos,
            x,
            next,
            t: 0,
            running: false,
        }
    }

    /// The task of this environment.
    pub fn task(&self) -> NonlinearTask {
        self.task
    }

    /// The settings in use.
    pub fn settings(&self) -> &NonlinearEnvSettings {
        &self.settings
    }

    /// The current state x_t.
    pub fn state(&self) -> &[f64] {
        &self.x
    }

    /// The evaluation states: all demonstration states x̄_k, unperturbed (`docs/spec/ENVIRONMENTS.md`
    /// §1.5).
    pub fn evaluation_states(&self) -> Vec<Vec<f64>> {
        self.demos.clone()
    }

    /// Start an episode at a given state x_0 (length n, all entries finite) and return it.
    pub fn reset_to(&mut self, x0: &[f64]) -> Result<Vec<f64>, EnvError> {
        let n = self.x.len();
        if x0.len() != n {
            return Err(EnvError::InvalidState(InputError::Length {
                what: format!("initial state of the {} task", self.task.name()),
                expected: n,
                got: x0.len(),
            }));
        }
        if let Some(j) = x0.iter().position(|v| !v.is_finite()) {
            return Err(EnvError::InvalidState(InputError::NotFinite {
                what: "initial state",
                index: j,
                value: x0[j],
            }));
        }
        self.x.copy_from_slice(x0);
        self.t = 0;
        self.running = true;
        Ok(self.x.clone())
    }
}

impl Env for NonlinearEnv {
    fn name(&self) -> &'static str {
        self.task.name()
    }

    fn obs_dim(&self) -> usize {
        self.x.len()
    }

    fn action_dim(&self) -> usize {
        self.task.nm().1
    }

    fn horizon(&self) -> usize {
        self.settings.horizon
    }

    /// Draw x_0 = x̄_k + δ (see the module docs for the exact sequence of draws).
    fn reset(&mut self, rng: &mut ChaCha8Rng) -> Result<Vec<f64>, EnvError> {
        let k_demo = self.demos.len();
        let u: f64 = rng.random::<f64>();
        // U < 1 gives k ≤ K_demo − 1; the `min` only guards against rounding.
        let k = ((u * k_demo as f64).floor() as usize).min(k_demo - 1);
        self.x.copy_from_slice(&self.demos[k]);
        for (xj, &eps) in self.x.iter_mut().zip(&self.settings.half_widths) {
            if eps > 0.0 {
                let uj: f64 = rng.random::<f64>();
                *xj += eps * (2.0 * uj - 1.0);
            }
        }
        self.t = 0;
        self.running = true;
        Ok(self.x.clone())
    }

    /// Apply u_t: the cost is c(x_t, u_t), plus h(x_T) on the last step (then `done`). After
    /// an error of the plant (non-finite state or cost) the episode is over and the state is
    /// left at x_t.
    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError> {
        if !self.running {
            return Err(EnvError::EpisodeOver {
                t: self.t,
                horizon: self.settings.horizon,
            });
        }
        check_action(self.task.name(), action, self.action_dim())?;
        let mut cost = true_stage_cost(self.task, &self.x, action);
        self.task
            .step(&self.x, action, self.task.phi_true(), &mut self.next);
        let t_next = self.t + 1;
        let done = t_next >= self.settings.horizon;
        if done {
            cost += true_terminal_cost(self.task, &self.next);
        }
        if !cost.is_finite() || self.next.iter().any(|v| !v.is_finite()) {
            self.running = false;
            return Err(EnvError::NonFiniteState { t: t_next });
        }
        std::mem::swap(&mut self.x, &mut self.next);
        self.t = t_next;
        self.running = !done;
        Ok(Step {
            observation: self.x.clone(),
            cost,
            done,
        })
    }

    fn observation(&self) -> Vec<f64> {
        self.x.clone()
    }

    fn t(&self) -> usize {
        self.t
    }
}

/// Episode cost L(τ) = Σ_{t<T} c(x_t, u_t) + h(x_T) of a trajectory of `task` with states
/// `xs` = (x_0 … x_T) and actions `us` = (u_0 … u_{T−1}) (`docs/spec/ENVIRONMENTS.md` §1.2).
///
/// Errors: `xs.len() ≠ us.len() + 1`, a state of the wrong length ([`EnvError::InvalidState`])
/// or an action of the wrong length ([`EnvError::ActionDim`]).
pub fn episode_cost<X: AsRef<[f64]>, U: AsRef<[f64]>>(
    task: NonlinearTask,
    xs: &[X],
    us: &[U],
) -> Result<f64, EnvError> {
    let (n, m) = task.nm();
    if xs.len() != us.len() + 1 {
        return Err(EnvError::InvalidState(InputError::Length {
            what: format!("the state list of a trajectory with {} actions", us.len()),
            expected: us.len() + 1,
            got: xs.len(),
        }));
    }
    if let Some((t, x)) = xs.iter().enumerate().find(|(_, x)| x.as_ref().len() != n) {
        return Err(EnvError::InvalidState(InputError::Length {
            what: format!("state x_{t} of the {} task", task.name()),
            expected: n,
            got: x.as_ref().len(),
        }));
    }
    if let Some(u) = us.iter().find(|u| u.as_ref().len() != m) {
        return Err(EnvError::ActionDim {
            task: task.name(),
            got: u.as_ref().len(),
            expected: m,
        });
    }
    let stages: f64 = xs
        .iter()
        .zip(us)
        .map(|(x, u)| true_stage_cost(task, x.as_ref(), u.as_ref()))
        .sum();
    let terminal = xs
        .last()
        .map_or(0.0, |x| true_terminal_cost(task, x.as_ref()));
    Ok(stages + terminal)
}
