//! Names, units and bounds of the states and controls of every task (`docs/spec/ENVIRONMENTS.md`
//! §2.1, §3.1, §4.1, §5.1, §7.5), for tables, plots and `diffop env list`.
//!
//! The nonlinear tasks have no state or control bounds (§1: the PDP imitation setting); their
//! units are those of the spec's layouts (SI: m, rad, s, N). The voltage policy state is
//! (v², q) at buses 2, 7 and 9 and its control is the set-point increment; q is kept within the
//! reactive limits of the environment (evaluation set: §7.5).

use super::voltage::network::{Q_MAX_EVALUATION, Q_MIN};
use crate::model::tasks::NonlinearTask;

/// One state or control component.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Var {
    /// Short symbol (e.g. `q`, `ω_x`).
    pub symbol: &'static str,
    /// What it is (e.g. "pole angle (0 = hanging down)").
    pub name: &'static str,
    /// Unit (`-` for dimensionless).
    pub unit: &'static str,
    /// Lower bound, if any.
    pub lower: Option<f64>,
    /// Upper bound, if any.
    pub upper: Option<f64>,
    /// Plot group: components with the same group share a panel (same unit).
    pub group: &'static str,
}

const fn free(
    symbol: &'static str,
    name: &'static str,
    unit: &'static str,
    group: &'static str,
) -> Var {
    Var {
        symbol,
        name,
        unit,
        lower: None,
        upper: None,
        group,
    }
}

const CARTPOLE_X: [Var; 4] = [
    free("x", "cart position", "m", "cart position"),
    free(
        "q",
        "pole angle (0 = down, π = upright)",
        "rad",
        "pole angle",
    ),
    free("ẋ", "cart velocity", "m/s", "velocities"),
    free("q̇", "pole angular rate", "rad/s", "velocities"),
];
const CARTPOLE_U: [Var; 1] = [free("F", "horizontal force on the cart", "N", "force")];
const ARM_X: [Var; 4] = [
    free(
        "q₁",
        "angle of link 1 (from horizontal)",
        "rad",
        "joint angles",
    ),
    free("q₂", "angle of link 2 (relative)", "rad", "joint angles"),
    free("q̇₁", "angular rate of joint 1", "rad/s", "joint rates"),
    free("q̇₂", "angular rate of joint 2", "rad/s", "joint rates"),
];
const ARM_U: [Var; 2] = [
    free("τ₁", "torque at joint 1", "N·m", "torques"),
    free("τ₂", "torque at joint 2", "N·m", "torques"),
];
const RIGID_BODY_X: [Var; 13] = [
    free("r_x", "position x", "m", "position"),
    free("r_y", "position y", "m", "position"),
    free("r_z", "position z", "m", "position"),
    free("v_x", "velocity x", "m/s", "velocity"),
    free("v_y", "velocity y", "m/s", "velocity"),
    free("v_z", "velocity z", "m/s", "velocity"),
    free(
        "q₀",
        "attitude quaternion (scalar)",
        "-",
        "attitude quaternion",
    ),
    free("q₁", "attitude quaternion 1", "-", "attitude quaternion"),
    free("q₂", "attitude quaternion 2", "-", "attitude quaternion"),
    free("q₃", "attitude quaternion 3", "-", "attitude quaternion"),
    free("ω_x", "body angular rate x", "rad/s", "body angular rate"),
    free("ω_y", "body angular rate y", "rad/s", "body angular rate"),
    free("ω_z", "body angular rate z", "rad/s", "body angular rate"),
];
const QUADROTOR_U: [Var; 4] = [
    free("f₁", "thrust of rotor 1", "N", "rotor thrusts"),
    free("f₂", "thrust of rotor 2", "N", "rotor thrusts"),
    free("f₃", "thrust of rotor 3", "N", "rotor thrusts"),
    free("f₄", "thrust of rotor 4", "N", "rotor thrusts"),
];
const ROCKET_U: [Var; 3] = [
    free("T_x", "body thrust x (vertical axis)", "N", "body thrust"),
    free("T_y", "body thrust y", "N", "body thrust"),
    free("T_z", "body thrust z", "N", "body thrust"),
];

/// The state components of a nonlinear task, in state order.
pub fn nonlinear_states(task: NonlinearTask) -> &'static [Var] {
    match task {
        NonlinearTask::Cartpole => &CARTPOLE_X,
        NonlinearTask::Arm => &ARM_X,
        NonlinearTask::Quadrotor | NonlinearTask::Rocket => &RIGID_BODY_X,
    }
}

/// The control components of a nonlinear task.
pub fn nonlinear_controls(task: NonlinearTask) -> &'static [Var] {
    match task {
        NonlinearTask::Cartpole => &CARTPOLE_U,
        NonlinearTask::Arm => &ARM_U,
        NonlinearTask::Quadrotor => &QUADROTOR_U,
        NonlinearTask::Rocket => &ROCKET_U,
    }
}

/// The voltage policy state (v² at buses 2, 7, 9, then q), with the evaluation limits on q.
pub fn voltage_states() -> Vec<Var> {
    let v2 = ["v²₂", "v²₇", "v²₉"];
    let q = ["q₂", "q₇", "q₉"];
    let v_names = [
        "squared voltage magnitude, bus 2",
        "squared voltage magnitude, bus 7",
        "squared voltage magnitude, bus 9",
    ];
    let q_names = [
        "reactive set-point, bus 2",
        "reactive set-point, bus 7",
        "reactive set-point, bus 9",
    ];
    let mut out: Vec<Var> = (0..3)
        .map(|b| free(v2[b], v_names[b], "p.u.²", "squared voltage"))
        .collect();
    out.extend((0..3).map(|b| Var {
        lower: Some(Q_MIN[b]),
        upper: Some(Q_MAX_EVALUATION[b]),
        ..free(q[b], q_names[b], "MVar", "reactive set-points")
    }));
    out
}

/// The voltage controls: set-point increments u = q_t − q_{t−1} (q stays within its limits).
pub fn voltage_controls() -> Vec<Var> {
    let u = ["u₂", "u₇", "u₉"];
    let names = [
        "set-point increment, bus 2",
        "set-point increment, bus 7",
        "set-point increment, bus 9",
    ];
    (0..3)
        .map(|b| free(u[b], names[b], "MVar", "set-point increments"))
        .collect()
}

/// The state and control components of `task` (the voltage task: its policy state and control).
pub fn variables(task: crate::learn::Task) -> (Vec<Var>, Vec<Var>) {
    match task.nonlinear() {
        Some(t) => (nonlinear_states(t).to_vec(), nonlinear_controls(t).to_vec()),
        None => (voltage_states(), voltage_controls()),
    }
}

/// Group `vars` by [`Var::group`], in order of first appearance: (group, indices).
pub fn groups(vars: &[Var]) -> Vec<(&'static str, Vec<usize>)> {
    let mut out: Vec<(&'static str, Vec<usize>)> = Vec::new();
    for (j, v) in vars.iter().enumerate() {
        match out.iter_mut().find(|(g, _)| *g == v.group) {
            Some((_, idx)) => idx.push(j),
            None => out.push((v.group, vec![j])),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dimensions_match_the_tasks() {
        for t in [
            NonlinearTask::Cartpole,
            NonlinearTask::Arm,
            NonlinearTask::Quadrotor,
            NonlinearTask::Rocket,
        ] {
            let (n, m) = t.nm();
            assert_eq!(nonlinear_states(t).len(), n, "{t:?}");
            assert_eq!(nonlinear_controls(t).len(), m, "{t:?}");
        }
        assert_eq!(voltage_states().len(), 6);
        assert_eq!(voltage_controls().len(), 3);
        let g = groups(nonlinear_states(NonlinearTask::Quadrotor));
        assert_eq!(g.len(), 4);
        assert_eq!(g[2], ("attitude quaternion", vec![6, 7, 8, 9]));
    }
}
