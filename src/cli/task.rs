//! The task registry of the CLI: the four nonlinear tasks and the voltage task with their
//! dimensions, horizons, exploration σ and the "mpc-true" parameters.

use clap::ValueEnum;
use diffop::model::tasks::init::A_LINEAR;
use diffop::model::tasks::{NonlinearTask, Table1Policy};
use diffop::model::OcpModel;
use serde::{Deserialize, Serialize};

/// A task selectable on the command line and in JSON requests.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Task {
    /// Cart-pole swing-up (n = 4, m = 1).
    Cartpole,
    /// Two-link planar arm (n = 4, m = 2).
    Arm,
    /// 6-DoF quadrotor (n = 13, m = 4).
    Quadrotor,
    /// 6-DoF rocket landing (n = 13, m = 3).
    Rocket,
    /// IEEE 13-bus voltage control (n = 6, m = 3).
    Voltage,
}

impl Task {
    /// Every task, in the order of the tables.
    pub const ALL: [Task; 5] = [
        Task::Cartpole,
        Task::Arm,
        Task::Quadrotor,
        Task::Rocket,
        Task::Voltage,
    ];

    /// The nonlinear task, or `None` for the voltage task.
    pub fn nonlinear(self) -> Option<NonlinearTask> {
        match self {
            Task::Cartpole => Some(NonlinearTask::Cartpole),
            Task::Arm => Some(NonlinearTask::Arm),
            Task::Quadrotor => Some(NonlinearTask::Quadrotor),
            Task::Rocket => Some(NonlinearTask::Rocket),
            Task::Voltage => None,
        }
    }

    /// Name as on the command line.
    pub fn name(self) -> &'static str {
        match self.nonlinear() {
            Some(t) => t.name(),
            None => "voltage",
        }
    }

    /// State and control dimensions (n, m) of the policy problem.
    pub fn nm(self) -> (usize, usize) {
        match self.nonlinear() {
            Some(t) => t.nm(),
            None => (6, 3),
        }
    }

    /// Number of policy parameters d.
    pub fn d(self) -> usize {
        match self.nonlinear() {
            Some(t) => Table1Policy::new(t).dims().d,
            None => 12,
        }
    }

    /// Training episode length T.
    pub fn episode_len(self) -> usize {
        match self.nonlinear() {
            Some(t) => t.episode_len(),
            None => diffop::envs::voltage::TRAINING_HORIZON,
        }
    }

    /// Step-mode horizon H (voltage: 6, the short-horizon configuration).
    pub fn step_horizon(self) -> usize {
        match self.nonlinear() {
            Some(t) => t.step_horizon(),
            None => 6,
        }
    }

    /// Traj-mode horizon H = T.
    pub fn traj_horizon(self) -> usize {
        self.episode_len()
    }

    /// Exploration σ of the task (`ALGORITHMS.md` §4.4, project default).
    pub fn sigma(self) -> f64 {
        match self {
            Task::Cartpole | Task::Arm => 0.5,
            Task::Quadrotor | Task::Rocket => 0.25,
            Task::Voltage => 0.02,
        }
    }

    /// The "mpc-true" θ: true φ_f with the oracle weights (rocket: unit weights, its true cost
    /// has no Table-1 form); voltage: θ_v = 1 and the LinDistFlow A.
    pub fn mpc_true_theta(self) -> Vec<f64> {
        match self.nonlinear() {
            Some(t) => t.oracle_theta().unwrap_or_else(|| {
                let (n, _) = t.nm();
                let mut th = vec![1.0; 2 * n];
                th.extend(t.phi_true());
                th
            }),
            None => {
                let mut th = vec![1.0; 3];
                th.extend(A_LINEAR.iter().flatten());
                th
            }
        }
    }
}

/// `--task` of the benchmark: one task or all of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TaskSel {
    /// Every configuration.
    All,
    /// One task.
    One(Task),
}

/// Parse `all` or a task name.
pub fn parse_task_sel(s: &str) -> Result<TaskSel, String> {
    if s.eq_ignore_ascii_case("all") {
        return Ok(TaskSel::All);
    }
    Task::from_str(s, true).map(TaskSel::One).map_err(|_| {
        format!("unknown task `{s}`; expected all, cartpole, arm, quadrotor, rocket or voltage")
    })
}

/// Output format of tabular commands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TableFormat {
    /// Aligned human-readable table.
    Table,
    /// JSON.
    Json,
}
