//! The commands of the `diffop` binary: each module parses its arguments, calls the library and
//! prints. Shared pieces: the task registry ([`task`]), the plants and policies behind one
//! interface ([`plant`], [`mpc`]), text output ([`table`]) and plotting ([`plot`]).

pub mod baseline;
pub mod bench;
pub mod control;
pub mod envs;
pub mod eval;
pub mod mpc;
pub mod out;
pub mod plant;
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

Exit codes: 0 success; 1 error (message on stderr); 2 usage error (bad or conflicting
arguments); 3 `solve`: the solve did not converge (its status is printed); 141 standard output
was closed by its reader (e.g. `| head`), the rest of the output is dropped quietly.";

/// Longest error message printed (characters).
pub const MAX_MESSAGE: usize = 2000;

/// Exit code of a usage error (clap's, and the CLI's own argument checks).
pub const EXIT_USAGE: u8 = 2;
/// Exit code of `diffop solve` when the solve did not converge.
pub const EXIT_NOT_CONVERGED: u8 = 3;
/// Exit code when stdout was closed by its reader (128 + SIGPIPE, as a shell reports it).
pub const EXIT_BROKEN_PIPE: u8 = 141;

/// A usage error found after parsing (conflicting or meaningless options): exit code 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// Fail with a [`UsageError`] (exit code 2).
macro_rules! usage {
    ($($arg:tt)*) => { return Err($crate::cli::UsageError(format!($($arg)*)).into()) };
}
pub(crate) use usage;

/// Check an MPC horizon given on the command line (1 … [`MAX_HORIZON`]).
pub fn check_horizon(horizon: usize) -> anyhow::Result<()> {
    if horizon == 0 || horizon > MAX_HORIZON {
        usage!("--horizon must be between 1 and {MAX_HORIZON}, got {horizon}");
    }
    Ok(())
}

/// Largest MPC horizon of `rollout` and `eval` (the training limit).
pub const MAX_HORIZON: usize = diffop::learn::config::MAX_HORIZON;

/// Check a thread count given on the command line (0 = one per core, at most 1024).
pub fn check_threads(threads: usize) -> anyhow::Result<()> {
    let max = diffop::learn::config::MAX_THREADS;
    if threads > max {
        usage!("--threads must be at most {max} (0 = one per core), got {threads}");
    }
    Ok(())
}

/// Run `work` on a pool of `threads` workers (0: rayon's global pool, one per core).
pub fn with_threads<T: Send>(
    threads: usize,
    work: impl FnOnce() -> anyhow::Result<T> + Send,
) -> anyhow::Result<T> {
    check_threads(threads)?;
    if threads == 0 {
        return work();
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build()?
        .install(work)
}

/// Shorten a message for the terminal: at most `max` characters, the rest replaced by a
/// note of how much was left out (a 50 MB request must not be echoed back).
pub fn truncate_message(text: &str, max: usize) -> String {
    let n = text.chars().count();
    if n <= max {
        return text.to_string();
    }
    let head: String = text.chars().take(max).collect();
    format!("{head}… ({} more characters)", n - max)
}

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

/// Turn a command's result into the process exit code. Errors are printed once on stderr
/// (exit 1; a [`UsageError`] exits 2); a closed stdout exits 141 without a message.
pub fn finish<T: IntoExit>(result: anyhow::Result<T>) -> ExitCode {
    let result = result.and_then(|v| {
        out::flush()?;
        Ok(v)
    });
    match result {
        Ok(v) => v.into_exit(),
        Err(e) => {
            let broken = e
                .chain()
                .any(|c| matches!(c.downcast_ref(), Some(out::OutputError::BrokenPipe)));
            if broken {
                return ExitCode::from(EXIT_BROKEN_PIPE);
            }
            out::errln!("error: {}", truncate_message(&message(&e), MAX_MESSAGE));
            if e.chain().any(|c| c.is::<UsageError>()) {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::FAILURE
            }
        }
    }
}

/// The error chain joined by `: `, each message once: a cause whose text its parent already
/// ends with (e.g. an OS error inside a file error) is not repeated.
pub fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain() {
        let m = cause.to_string();
        if text.contains(&m) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&m);
    }
    text
}
