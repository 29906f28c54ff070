//! PDP (Offline) voltage demonstrations (`docs/spec/ALGORITHMS.md` §11.1, voltage part).
//!
//! Safe-gradient-flow trajectories (α = 0.5, training limits) on reset seeds 20000–20019, 30 steps
//! each, expressed in the policy's state x = (v², q) and control u:
//!
//! ```text
//! lagged (default, eq. 11b):  x^d_0 = (v_0², q_0),  x^d_t = (v_{t−1}², q_t)  for t = 1 … T
//! lag-free option:            x^d_t = (v_t², q_t)                          for t = 0 … T
//! both:                       u^d_t = q_{t+1} − q_t                         for t = 0 … T−1
//! ```
//!
//! The lagged pairing matches the model's v_{i+1} = A q_i + v^env, whose v_i is the plant's
//! voltage measured after q_{i−1}.

use serde::{Deserialize, Serialize};

use super::gradient_flow::GradientFlow;
use super::metrics::VoltageController;
use super::network::{Limits, N_CTRL};
use super::{Saturation, VoltageEnv, VoltageEnvSettings};
use crate::envs::voltage::powerflow::PowerFlowSettings;
use crate::envs::{EnvError, InputError};

/// Settings of the demonstration set.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
pub struct DemoSettings {
    /// First reset seed (default 20000).
    pub first_seed: u32,
    /// Number of demonstrations (default 20).
    pub count: usize,
    /// Steps per demonstration T (default 30).
    pub steps: usize,
    /// Gradient-flow step α (default 0.5).
    pub alpha: f64,
    /// Limit set of the plant and the expert (default: training).
    pub limits: Limits,
    /// Lag-free pairing x^d_t = (v_t², q_t) (default false: the lagged pairing of eq. 11b).
    pub lag_free: bool,
}

impl Default for DemoSettings {
    fn default() -> Self {
        Self {
            first_seed: 20_000,
            count: 20,
            steps: 30,
            alpha: 0.5,
            limits: Limits::Training,
            lag_free: false,
        }
    }
}

/// One demonstration in the policy's coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VoltageDemo {
    /// Reset seed.
    pub seed: u32,
    /// v^env = v_0² of the scenario (the policy's context).
    pub v_env: [f64; N_CTRL],
    /// States x^d_0 … x^d_T, each (v² (3), q (3)).
    pub x: Vec<[f64; 2 * N_CTRL]>,
    /// Controls u^d_0 … u^d_{T−1} \[MVar\].
    pub u: Vec<[f64; N_CTRL]>,
}

/// Generate the demonstrations.
pub fn voltage_demos(settings: &DemoSettings) -> Result<Vec<VoltageDemo>, EnvError> {
    if settings.count == 0 || settings.steps == 0 {
        return Err(EnvError::InvalidState(InputError::Zero {
            what: if settings.count == 0 {
                "demonstration count"
            } else {
                "demonstration steps"
            },
        }));
    }
    let env_settings = VoltageEnvSettings {
        limits: settings.limits,
        horizon: settings.steps,
        saturation: Saturation::Clip,
        power_flow: PowerFlowSettings::default(),
    };
    let mut env = VoltageEnv::new(env_settings)?;
    let mut expert = GradientFlow::new(settings.alpha)?;
    let mut out = Vec::with_capacity(settings.count);
    for i in 0..settings.count {
        let seed = u32::try_from(i)
            .ok()
            .and_then(|i| settings.first_seed.checked_add(i))
            .ok_or(EnvError::InvalidState(InputError::SeedRange {
                what: "demonstration seed",
            }))?;
        env.reset_seed(seed)?;
        let Ok(()) = expert.reset(&env);
        // Plant trajectory: v_0 … v_T and q_0 … q_T.
        let mut v = vec![env.v()];
        let mut q = vec![env.q()];
        for _ in 0..settings.steps {
            let Ok(u) = expert.act(&env);
            let step = env.step_u(u)?;
            v.push(step.v);
            q.push(step.q);
        }
        let sq = |a: [f64; N_CTRL]| a.map(|x| x * x);
        let x = (0..=settings.steps)
            .map(|t| {
                let vt = if settings.lag_free || t == 0 {
                    v[t]
                } else {
                    v[t - 1]
                };
                let v2 = sq(vt);
                [v2[0], v2[1], v2[2], q[t][0], q[t][1], q[t][2]]
            })
            .collect();
        let u = (0..settings.steps)
            .map(|t| std::array::from_fn(|k| q[t + 1][k] - q[t][k]))
            .collect();
        out.push(VoltageDemo {
            seed,
            v_env: env.v_env(),
            x,
            u,
        });
    }
    Ok(out)
}
