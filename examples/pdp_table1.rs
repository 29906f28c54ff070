//! PDP (Offline) imitation in DiffOP's Table-1 parameterisation, from DiffOP's θ(0) — the
//! `ALGORITHMS.md` §11.1 "Option", apples-to-apples with DiffOP (Traj): the same loss
//! (‖x − x^d‖² + ‖u − u^d‖² over the demonstrations), ĝ = ½∇ℓ by one VJP per demonstration,
//! plain gradient descent, cold solves, θ_f floored at 0.05. Prints the imitation loss and the
//! Traj-policy evaluation cost (the true cost from the demo states, as in Figure 2).
//!
//! `cargo run --release --example pdp_table1 -- TASK [ITERS=1000] [LR=1e-4] [SEED=0]`
//! (the spec's PDP step sizes: 1e-4 cart-pole and arm, 3e-4 quadrotor).
use diffop::envs::nonlinear::{demo_states, NonlinearEnv};
use diffop::envs::Env;
use diffop::learn::pdp::demonstrations;
use diffop::model::tasks::init::theta0_nonlinear;
use diffop::model::tasks::{NonlinearTask, Table1Policy};
use diffop::sensitivity::{vjp, Seed};
use diffop::solver::{SolverSettings, WarmStart, Workspace};
fn main() {
    let which = std::env::args().nth(1).unwrap_or("arm".into());
    let iters: usize = std::env::args()
        .nth(2)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1000);
    let lr: f64 = std::env::args()
        .nth(3)
        .map(|s| s.parse().unwrap())
        .unwrap_or(1e-4);
    let seed: u64 = std::env::args()
        .nth(4)
        .map(|s| s.parse().unwrap())
        .unwrap_or(0);
    let task = NonlinearTask::ALL
        .into_iter()
        .find(|t| t.name() == which)
        .unwrap();
    let (n, m) = task.nm();
    let model = Table1Policy::new(task);
    let solver = SolverSettings::default();
    let demos = demonstrations(task, &solver).unwrap();
    let mut rng = diffop::rng::stream(seed, diffop::rng::Stream::ThetaInit);
    let mut theta = theta0_nonlinear(task, &mut rng);
    let d = theta.len();
    let t_len = task.episode_len();
    let mut wss: Vec<Workspace> = demos
        .iter()
        .map(|_| Workspace::new(&model, t_len, solver.clone()).unwrap())
        .collect();
    let eval = |theta: &[f64]| -> f64 {
        let mut ws = Workspace::new(&model, t_len, solver.clone()).unwrap();
        let mut env = NonlinearEnv::new(task);
        let states = demo_states(task);
        let mut total = 0.0;
        for x0 in &states {
            let sol = ws.solve(&model, x0, theta, &[], WarmStart::Cold).unwrap();
            if !sol.status.is_solved() {
                return f64::NAN;
            }
            env.reset_to(x0).unwrap();
            for t in 0..t_len {
                total += env.step(sol.u[t].as_slice()).unwrap().cost;
            }
        }
        total / states.len() as f64
    };
    println!("it 0 eval {:.2}", eval(&theta));
    for it in 0..iters {
        let mut g = vec![0.0; d];
        let mut loss = 0.0;
        for (ws, demo) in wss.iter_mut().zip(&demos) {
            let sol = ws
                .solve(&model, &demo.x[..n], &theta, &[], WarmStart::Cold)
                .unwrap();
            if !sol.status.is_solved() {
                println!("it {it}: solve failed");
                return;
            }
            let mut sx = vec![0.0; (t_len + 1) * n];
            let mut su = vec![0.0; t_len * m];
            for t in 0..=t_len {
                for j in 0..n {
                    sx[t * n + j] = sol.x[t][j] - demo.x[t * n + j];
                }
            }
            for t in 0..t_len {
                for j in 0..m {
                    su[t * m + j] = sol.u[t][j] - demo.u[t * m + j];
                }
            }
            loss += sx.iter().chain(&su).map(|v| v * v).sum::<f64>();
            let mut gk = vec![0.0; d];
            vjp(
                ws,
                &model,
                Seed {
                    x: Some(&sx),
                    u: Some(&su),
                },
                &mut gk,
            )
            .unwrap();
            for (a, b) in g.iter_mut().zip(&gk) {
                *a += b / demos.len() as f64;
            }
        }
        loss /= demos.len() as f64;
        for (t, gi) in theta.iter_mut().zip(&g) {
            *t -= lr * gi;
        }
        for v in theta[2 * n..].iter_mut() {
            *v = v.max(0.05);
        }
        if (it + 1) % (iters / 10).max(1) == 0 {
            println!("it {} loss {:.4} eval {:.2}", it + 1, loss, eval(&theta));
        }
    }
}
