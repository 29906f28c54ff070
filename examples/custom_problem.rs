//! Define your own policy problem in ~30 lines, solve it and differentiate it.
//!
//! A damped point mass x = (position, velocity), force u, learnable mass θ₀ and a learnable
//! position weight θ₁, with a force limit |u| ≤ 2 as a path constraint.
//!
//! Run: `cargo run --release --example custom_problem`

use diffop::model::{cst, Dims, OcpModel, Scalar};
use diffop::sensitivity::{self, Seed};
use diffop::solver::{SolverSettings, WarmStart, Workspace};

struct PointMass;

impl OcpModel for PointMass {
    fn name(&self) -> &str {
        "point-mass"
    }
    fn dims(&self) -> Dims {
        Dims {
            n: 2,
            m: 1,
            d: 2,
            n_ctx: 0,
        }
    }
    fn dynamics<S: Scalar>(
        &self,
        _i: usize,
        x: &[S],
        u: &[S],
        th: &[S],
        _c: &[f64],
        out: &mut [S],
    ) {
        let dt = cst::<S>(0.1);
        out[0] = x[0] + dt * x[1];
        out[1] = x[1] + dt * (u[0] / th[0] - x[1] * 0.2);
    }
    fn stage_cost<S: Scalar>(&self, _i: usize, x: &[S], u: &[S], th: &[S], _c: &[f64]) -> S {
        th[1] * th[1] * x[0] * x[0] + x[1] * x[1] + u[0] * u[0] * 0.1
    }
    fn terminal_cost<S: Scalar>(&self, x: &[S], th: &[S], _c: &[f64]) -> S {
        (th[1] * th[1] * x[0] * x[0] + x[1] * x[1]) * 10.0
    }
    fn n_path(&self, _i: usize) -> usize {
        2
    }
    fn path_constraints<S: Scalar>(
        &self,
        _i: usize,
        _x: &[S],
        u: &[S],
        _th: &[S],
        _c: &[f64],
        g: &mut [S],
    ) {
        g[0] = u[0] - 2.0; //  u ≤ 2
        g[1] = -u[0] - 2.0; // −u ≤ 2
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let model = PointMass;
    let mut ws = Workspace::new(&model, 20, SolverSettings::default())?;
    let theta = [1.0, 2.0];
    let sol = ws.solve(&model, &[1.0, 0.0], &theta, &[], WarmStart::Cold)?;
    println!(
        "status {:?}, objective {:.6}, {} active limits",
        sol.status,
        sol.objective,
        sol.n_active()
    );
    println!("u*_0 = {:.6}", sol.u[0][0]);
    // ∂u*_0/∂θ by one adjoint solve (seed 1 on u_0).
    let mut seed = vec![0.0; 20];
    seed[0] = 1.0;
    let mut grad = [0.0; 2];
    sensitivity::vjp(
        &mut ws,
        &model,
        Seed {
            x: None,
            u: Some(&seed),
        },
        &mut grad,
    )?;
    println!("∂u*_0/∂θ = {grad:?}");
    Ok(())
}
