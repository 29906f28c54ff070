//! IEEE 13-bus voltage control (`docs/spec/ENVIRONMENTS.md` §7).
//!
//! The plant is the full balanced AC power flow of TASRL's 13-bus feeder. An episode:
//!
//! ```text
//! reset(seed): scenario (sgen p) from MT19937(seed); q_0 = 0; power flow; v_0 = (|V₂|, |V₇|, |V₉|)
//! step t:      q_t = sat(q_{t−1} + u_t) to [q̲, q̄]; power flow; v_t;
//!              cost F(q_t) = Σ_i ½ C_i q_{t,i}² + ½ q_{t,i} (v_{t,i}² + v_{0,i}² − 2)
//! ```
//!
//! **Observation.** The spec's observation is v_t = (|V₂|, |V₇|, |V₉|) in p.u., not squared. The
//! [`Env`] interface returns `[v_t (3), q_t (3)]` (6 entries): the policy's state (§7.12) needs the
//! current set-point q_t too. The typed accessors ([`VoltageEnv::v`], [`VoltageEnv::q`],
//! [`VoltageEnv::v_env`], [`VoltageEnv::policy_state`], [`VoltageEnv::policy_context`]) give
//! everything without going through vectors.
//!
//! Files: [`network`] (feeder data, limits, F), [`powerflow`] (sweep and Newton–Raphson),
//! [`mt19937`] and [`scenario`] (bit-exact test set), [`metrics`] (Table-2 evaluation),
//! [`gradient_flow`] (reference controller), [`linear`] (the linear model A), [`demos`] (PDP
//! (Offline) demonstrations).

pub mod complex;
pub mod demos;
pub mod gradient_flow;
pub mod linear;
pub mod metrics;
pub mod mt19937;
pub mod network;
pub mod powerflow;
pub mod scenario;

use rand::RngCore;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

pub use complex::Complex;
pub use gradient_flow::{GradientFlow, ZeroController};
pub use metrics::{evaluate, EpisodeRecord, EvalSettings, VoltageController, VoltageMetrics};
pub use network::{Limits, Network, N_BUS, N_CTRL};
pub use powerflow::{PowerFlow, PowerFlowMethod, PowerFlowSettings};
pub use scenario::{Scenario, ScenarioKind};

use super::{check_action, Env, EnvError, InputError, Step};
use network::{injections, objective, CONTROLLED_BUSES};
use powerflow::FLAT_START;

/// Task name used in errors.
pub const TASK: &str = "voltage";
/// Training episode length T (§7.7).
pub const TRAINING_HORIZON: usize = 30;
/// Evaluation episode length (§7.10).
pub const EVALUATION_HORIZON: usize = 100;
/// Dimension of the [`Env`] observation `[v (3), q (3)]`.
pub const OBS_DIM: usize = 6;

/// What the plant does with a set-point q_{t−1} + u_t outside [q̲, q̄].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Saturation {
    /// Clip elementwise to the limits (project default, §7.7).
    Clip,
    /// Apply the set-point as is (TASRL's environment; the power flow may then diverge).
    Unclipped,
}

/// Settings of the voltage environment.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoltageEnvSettings {
    /// Reactive limit set.
    pub limits: Limits,
    /// Episode length T (steps).
    pub horizon: usize,
    /// Saturation of q at the limits.
    pub saturation: Saturation,
    /// Power-flow algorithm and tolerances.
    pub power_flow: PowerFlowSettings,
}

impl VoltageEnvSettings {
    /// Training: training limits, T = 30, clipping.
    pub fn training() -> Self {
        Self {
            limits: Limits::Training,
            horizon: TRAINING_HORIZON,
            saturation: Saturation::Clip,
            power_flow: PowerFlowSettings::default(),
        }
    }

    /// Evaluation: evaluation limits, 100 steps, clipping.
    pub fn evaluation() -> Self {
        Self {
            limits: Limits::Evaluation,
            horizon: EVALUATION_HORIZON,
            ..Self::training()
        }
    }

    /// Check limits, horizon and power-flow settings.
    pub fn validate(&self) -> Result<(), EnvError> {
        self.limits.validate()?;
        self.power_flow.validate()?;
        if self.horizon == 0 {
            return Err(EnvError::InvalidState(InputError::Zero {
                what: "voltage episode length",
            }));
        }
        Ok(())
    }
}

impl Default for VoltageEnvSettings {
    /// The training settings ([`VoltageEnvSettings::training`]).
    fn default() -> Self {
        Self::training()
    }
}

/// Result of one [`VoltageEnv::step_u`], without allocation.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct VoltageStep {
    /// Time step t after the step (1 … T).
    pub t: usize,
    /// Voltage magnitudes v_t at the controlled buses [p.u.].
    pub v: [f64; N_CTRL],
    /// Set-points q_t \[MVar\] (after saturation).
    pub q: [f64; N_CTRL],
    /// Per-step cost F(q_t).
    pub cost: f64,
    /// True when t = T.
    pub done: bool,
}

/// The IEEE 13-bus voltage-control plant.
#[derive(Clone, Debug)]
pub struct VoltageEnv {
    settings: VoltageEnvSettings,
    pf: PowerFlow,
    scenario: Option<Scenario>,
    s: [Complex; N_BUS],
    v: [Complex; N_BUS],
    v0: [f64; N_CTRL],
    q: [f64; N_CTRL],
    q_prev: [f64; N_CTRL],
    t: usize,
    cost: f64,
    pf_iterations: usize,
}

impl VoltageEnv {
    /// A plant with validated `settings`; call [`VoltageEnv::reset_seed`] before stepping.
    ///
    /// ```
    /// use diffop::envs::voltage::{VoltageEnv, VoltageEnvSettings};
    /// let mut env = VoltageEnv::new(VoltageEnvSettings::evaluation()).unwrap();
    /// env.reset_seed(0).unwrap();
    /// let step = env.step_u([0.1, 0.1, 0.1]).unwrap();
    /// assert!(step.cost < 0.0);
    /// ```
    pub fn new(settings: VoltageEnvSettings) -> Result<Self, EnvError> {
        settings.validate()?;
        let pf = PowerFlow::new(Network::ieee13(), settings.power_flow)?;
        Ok(Self {
            settings,
            pf,
            scenario: None,
            s: [Complex::ZERO; N_BUS],
            v: FLAT_START,
            v0: [1.0; N_CTRL],
            q: [0.0; N_CTRL],
            q_prev: [0.0; N_CTRL],
            t: 0,
            cost: 0.0,
            pf_iterations: 0,
        })
    }

    /// Reset to the scenario of seed `seed` (§7.7, §7.8) and return the observation `[v_0, q_0]`.
    pub fn reset_seed(&mut self, seed: u32) -> Result<[f64; OBS_DIM], EnvError> {
        self.scenario = None;
        let scenario = Scenario::draw(seed);
        let zero = [0.0; N_CTRL];
        let s = injections(&scenario.sgen_p, &zero);
        let mut v = FLAT_START;
        let info = self.pf.solve(&s, &mut v)?;
        let v0 = magnitudes(&v);
        if v0.iter().any(|x| !x.is_finite()) {
            return Err(EnvError::NonFiniteState { t: 0 });
        }
        self.scenario = Some(scenario);
        self.s = s;
        self.v = v;
        self.v0 = v0;
        self.q = zero;
        self.q_prev = zero;
        self.t = 0;
        self.cost = 0.0;
        self.pf_iterations = info.iterations;
        Ok(self.observation_array())
    }

    /// Apply the increment u_t \[MVar\]: q_t = sat(q_{t−1} + u_t), solve the power flow, return v_t
    /// and F(q_t). On error the state is unchanged.
    pub fn step_u(&mut self, u: [f64; N_CTRL]) -> Result<VoltageStep, EnvError> {
        if self.scenario.is_none() || self.t >= self.settings.horizon {
            return Err(EnvError::EpisodeOver {
                t: self.t,
                horizon: self.settings.horizon,
            });
        }
        check_action(TASK, &u, N_CTRL)?;
        let target: [f64; N_CTRL] = std::array::from_fn(|i| self.q[i] + u[i]);
        let q = match self.settings.saturation {
            Saturation::Clip => self.settings.limits.clip(target),
            Saturation::Unclipped => target,
        };
        if q.iter().any(|x| !x.is_finite()) {
            return Err(EnvError::NonFiniteState { t: self.t + 1 });
        }
        let p = match &self.scenario {
            Some(sc) => sc.sgen_p,
            None => [0.0; network::N_SGEN],
        };
        let s = injections(&p, &q);
        let mut v = if self.settings.power_flow.warm_start {
            self.v
        } else {
            FLAT_START
        };
        let info = self.pf.solve(&s, &mut v)?;
        let vm = magnitudes(&v);
        if vm.iter().any(|x| !x.is_finite()) {
            return Err(EnvError::NonFiniteState { t: self.t + 1 });
        }
        self.q_prev = self.q;
        self.q = q;
        self.s = s;
        self.v = v;
        self.t += 1;
        self.cost = objective(&q, &vm, &self.v0);
        self.pf_iterations = info.iterations;
        Ok(VoltageStep {
            t: self.t,
            v: vm,
            q,
            cost: self.cost,
            done: self.t == self.settings.horizon,
        })
    }

    /// The settings.
    pub fn settings(&self) -> &VoltageEnvSettings {
        &self.settings
    }

    /// The reactive limit set.
    pub fn limits(&self) -> Limits {
        self.settings.limits
    }

    /// Lower reactive limits q̲ \[MVar\].
    pub fn q_min(&self) -> [f64; N_CTRL] {
        self.settings.limits.q_min()
    }

    /// Upper reactive limits q̄ \[MVar\].
    pub fn q_max(&self) -> [f64; N_CTRL] {
        self.settings.limits.q_max()
    }

    /// The current scenario (None before the first successful reset).
    pub fn scenario(&self) -> Option<&Scenario> {
        self.scenario.as_ref()
    }

    /// Reset magnitudes v_0 = (|V₂|, |V₇|, |V₉|) [p.u.].
    pub fn v0(&self) -> [f64; N_CTRL] {
        self.v0
    }

    /// v^env = v_0² (elementwise), the static term of the policy's voltage model (§7.12).
    pub fn v_env(&self) -> [f64; N_CTRL] {
        self.v0.map(|x| x * x)
    }

    /// Current set-points q_t \[MVar\].
    pub fn q(&self) -> [f64; N_CTRL] {
        self.q
    }

    /// Current magnitudes v_t at the controlled buses [p.u.] (v_0 right after reset).
    pub fn v(&self) -> [f64; N_CTRL] {
        magnitudes(&self.v)
    }

    /// Current magnitudes at all 13 buses [p.u.].
    pub fn v_bus(&self) -> [f64; N_BUS] {
        self.v.map(Complex::abs)
    }

    /// Current complex bus voltages [p.u.].
    pub fn v_complex(&self) -> &[Complex; N_BUS] {
        &self.v
    }

    /// Current complex bus injections S [p.u.].
    pub fn injections(&self) -> &[Complex; N_BUS] {
        &self.s
    }

    /// The power-flow solver (network, admittance matrix, settings).
    pub fn power_flow(&self) -> &PowerFlow {
        &self.pf
    }

    /// Iterations of the last power flow.
    pub fn power_flow_iterations(&self) -> usize {
        self.pf_iterations
    }

    /// The last step's effective increment q_t − q_{t−1} (differs from u_t when saturated).
    pub fn last_increment(&self) -> [f64; N_CTRL] {
        std::array::from_fn(|i| self.q[i] - self.q_prev[i])
    }

    /// The last step's cost F(q_t) (0 right after reset).
    pub fn last_cost(&self) -> f64 {
        self.cost
    }

    /// Observation `[v_t (3), q_t (3)]`.
    pub fn observation_array(&self) -> [f64; OBS_DIM] {
        let v = self.v();
        [v[0], v[1], v[2], self.q[0], self.q[1], self.q[2]]
    }

    /// The policy's initial state x_0 = (v_t², q_t) (§7.12: squared measured magnitudes, then the
    /// current set-points).
    pub fn policy_state(&self) -> [f64; 2 * N_CTRL] {
        let v = self.v();
        [
            v[0] * v[0],
            v[1] * v[1],
            v[2] * v[2],
            self.q[0],
            self.q[1],
            self.q[2],
        ]
    }

    /// The policy's context (v^env, q̲, q̄), the layout of `VoltagePolicy::context`.
    pub fn policy_context(&self) -> [f64; 3 * N_CTRL] {
        let (e, lo, hi) = (self.v_env(), self.q_min(), self.q_max());
        [e[0], e[1], e[2], lo[0], lo[1], lo[2], hi[0], hi[1], hi[2]]
    }
}

fn magnitudes(v: &[Complex; N_BUS]) -> [f64; N_CTRL] {
    CONTROLLED_BUSES.map(|b| v[b].abs())
}

impl Env for VoltageEnv {
    fn name(&self) -> &'static str {
        TASK
    }

    fn obs_dim(&self) -> usize {
        OBS_DIM
    }

    fn action_dim(&self) -> usize {
        N_CTRL
    }

    fn horizon(&self) -> usize {
        self.settings.horizon
    }

    /// Draws one u32 from `rng` as the reset seed and calls [`VoltageEnv::reset_seed`]. Training
    /// that follows the §7.8 seed protocol (seed 10000 + j) should call `reset_seed` directly.
    fn reset(&mut self, rng: &mut ChaCha8Rng) -> Result<Vec<f64>, EnvError> {
        let seed = rng.next_u32();
        self.reset_seed(seed).map(|o| o.to_vec())
    }

    fn step(&mut self, action: &[f64]) -> Result<Step, EnvError> {
        check_action(TASK, action, N_CTRL)?;
        let r = self.step_u([action[0], action[1], action[2]])?;
        Ok(Step {
            observation: self.observation_array().to_vec(),
            cost: r.cost,
            done: r.done,
        })
    }

    fn observation(&self) -> Vec<f64> {
        self.observation_array().to_vec()
    }

    fn t(&self) -> usize {
        self.t
    }
}
