//! The commands of the `diffop` binary: each module parses its arguments, calls the library and
//! prints. Shared pieces: the task registry ([`task`]), the plants and policies behind one
//! interface ([`plant`], [`mpc`]), text output ([`table`]) and plotting ([`plot`]).

pub mod baseline;
pub mod bench;
pub mod control;
pub mod envs;
pub mod eval;
pub mod mpc;
pub mod plant;
pub mod plot;
pub mod reproduce;
pub mod rollout;
pub mod solve;
pub mod table;
pub mod task;
pub mod train;

use std::process::ExitCode;

/// Examples shown at the end of `diffop --help`.
pub const EXAMPLES: &str = "\
Examples:
  # solve the cart-pole policy OCP (θ defaults to the true model and oracle weights)
  echo '{\"task\": \"cartpole\", \"horizon\": 6, \"x0\": [0, 0.5, 0, 0]}' | diffop solve -
  # ... with the full Jacobian ∂u/∂θ and a vector-Jacobian product
  echo '{\"task\": \"cartpole\", \"x0\": [0, 0.5, 0, 0], \"jacobian\": true,
         \"vjp_seed\": [[1],[0],[0],[0],[0],[0]]}' | diffop solve
  # voltage control from a measured state (v², q); limits default to the evaluation limits
  echo '{\"task\": \"voltage\", \"x0\": [0.81, 0.74, 0.75, 0, 0, 0]}' | diffop solve
  diffop env list
  # train DiffOP (defaults: cart-pole, Step mode); resume after an interruption
  diffop train --task voltage --mode step --out runs/v
  diffop train --task voltage --mode step --out runs/v --resume
  diffop eval --checkpoint runs/v
  diffop rollout --checkpoint runs/v --seed 1 --plot after.png
  diffop rollout --checkpoint runs/v --seed 1 --untrained --plot before.png
  # RLMPC baselines (TD, DPG, and the TD+DPG project proxy)
  diffop baseline --method rlmpc-td --task cartpole --iterations 20 --alpha 1e-4
  diffop rollout --task voltage --controller gradient-flow --seed 0 --plot v.png
  diffop rollout --task cartpole --controller mpc-true --format csv
  diffop eval --task voltage --controller gradient-flow --scenarios 500 --format json
  diffop eval --task cartpole --controller mpc-true
  diffop bench --format table
  # regenerate the paper's figures and table (add --quick for a few-minute smoke test)
  diffop reproduce all --out results
  diffop bench --task cartpole --robustness --samples 1000
  diffop bench --scaling

Exit codes: 0 success, 1 error (message on stderr), 2 a solve that did not converge.";

/// What a command's `run` may return on success: nothing (exit 0) or an explicit exit code.
pub trait IntoExit {
    /// The process exit code.
    fn into_exit(self) -> ExitCode;
}

impl IntoExit for () {
    fn into_exit(self) -> ExitCode {
        ExitCode::SUCCESS
    }
}

impl IntoExit for ExitCode {
    fn into_exit(self) -> ExitCode {
        self
    }
}

/// Turn a command's result into the process exit code; errors are printed on stderr (exit 1).
pub fn finish<T: IntoExit>(result: anyhow::Result<T>) -> ExitCode {
    match result {
        Ok(v) => v.into_exit(),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
