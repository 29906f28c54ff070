//! PDP (Offline) imitation in DiffOP's Table-1 parameterisation, from DiffOP's θ(0) — the
//! `docs/spec/ALGORITHMS.md` §11.1 "Option", apples-to-apples with DiffOP (Traj): the same loss
//! (‖x − x^d‖² + ‖u − u^d‖² over the demonstrations), ĝ = ½∇ℓ by one VJP per demonstration,
//! plain gradient descent, cold solves, θ_f floored at 0.05 (`PdpParameterisation::Table1`,
//! the `pdp-table1` rows of `diffop reproduce`). Prints the imitation loss and the Traj-policy
//! evaluation cost (the true cost from the demo states, as in Figure 2).
//!
//! `cargo run --release --example pdp_table1 -- TASK [ITERS=1000] [LR=spec] [SEED=0]`
//! (the spec's PDP step sizes are the default: 1e-4 cart-pole and arm, 3e-4 quadrotor).
use diffop::learn::pdp::{Pdp, PdpParameterisation, PdpSettings};
use diffop::model::tasks::NonlinearTask;

fn arg<T: std::str::FromStr>(i: usize) -> Option<T> {
    std::env::args().nth(i).and_then(|s| s.parse().ok())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let which: String = arg(1).unwrap_or_else(|| "arm".into());
    let task = NonlinearTask::ALL
        .into_iter()
        .find(|t| t.name() == which)
        .ok_or_else(|| format!("unknown task `{which}`"))?;
    let defaults = PdpSettings::for_task(task);
    let settings = PdpSettings {
        iterations: arg(2).unwrap_or(1000),
        lr: arg(3).unwrap_or(defaults.lr),
        seed: arg(4).unwrap_or(0),
        parameterisation: PdpParameterisation::Table1,
        ..defaults
    };
    let iterations = settings.iterations;
    let mut pdp = Pdp::new(task, settings)?;
    println!("it 0 eval {:.2}", pdp.evaluate()?);
    while pdp.iteration() < iterations {
        let loss = pdp.step()?;
        if pdp.iteration() % (iterations / 10).max(1) == 0 {
            println!(
                "it {} loss {loss:.4} eval {:.2}",
                pdp.iteration(),
                pdp.evaluate()?
            );
        }
    }
    Ok(())
}
