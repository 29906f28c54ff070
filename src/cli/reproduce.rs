//! `diffop reproduce`: regenerate the paper's Figure 2, Table 2 and Figure 3 into one folder.

use super::out::{errln, outln};
use anyhow::{bail, Result};
use clap::{Args, ValueEnum};
use diffop::experiments::{reproduce, Artefact, ReproduceOptions, Scale};
use diffop::learn::Task as LearnTask;
use std::path::PathBuf;

/// What to regenerate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Target {
    /// Figure 2: learning curves on cart-pole, arm, quadrotor (all five methods).
    Figure2,
    /// Table 2: voltage transient / steady-state costs of every method.
    Table2,
    /// Figure 3: voltage trajectories before and after DiffOP training.
    Figure3,
    /// All of the above.
    All,
}

/// Arguments of `diffop reproduce`.
#[derive(Args, Debug)]
#[command(after_help = "\
Every (task, method, run seed) is a job in OUT/runs/<task>/<method>/seed<k>/, run in parallel.
Start the same command again after an interruption: finished jobs are read back and DiffOP jobs
continue from their checkpoints. Results do not depend on the thread count.

Full protocol (docs/spec/RESULTS.md §6.2, 7.2): K = 500 iterations × N = 10 episodes per method on the
nonlinear tasks, 1000 iterations (10,000 trajectories) on the voltage task, PDP with 10⁴
iterations (voltage 2000) in its own parameterisation and, on the nonlinear tasks, also in
DiffOP's Table-1 parameterisation from DiffOP's θ(0) (pdp-table1, docs/spec/ALGORITHMS.md §11.1 option),
500 voltage test scenarios, 5 run seeds. About 14 minutes on 2 cores (the quadrotor and the
voltage evaluations dominate); --quick runs 4 iterations, 5 PDP iterations and 20 test
scenarios in a few minutes, to check the pipeline.

Acceptance checks are evaluated for the full protocol only; a reduced run (--quick,
--iterations, --pdp-iterations) marks them [n/a]. Without a terminal on stderr, one line per
finished job is printed instead of the progress bar.

Output: figure2/{figure2,figure2_training}.{png,svg}, curves.csv, final.csv, summary.{csv,md};
table2/table2.{md,csv}; figure3/figure3.{png,svg}, trajectories.csv, summary.json; report.json
with every file and the acceptance checks of docs/spec/RESULTS.md §9.

Examples:
  diffop reproduce all --quick --out results-quick
  diffop reproduce table2 --seeds 5 --out results
  diffop reproduce figure2 --tasks cartpole,arm --iterations 200")]
pub struct ReproduceArgs {
    /// What to regenerate.
    #[arg(value_enum)]
    pub target: Target,
    /// Run seeds per method (0 … N−1).
    #[arg(long)]
    pub seeds: Option<usize>,
    /// Reduced smoke-test version (default 2 seeds).
    #[arg(long)]
    pub quick: bool,
    /// Results folder.
    #[arg(long, default_value = "results")]
    pub out: PathBuf,
    /// Figure 2 tasks (comma-separated; default cartpole,arm,quadrotor; rocket also possible).
    #[arg(long, value_delimiter = ',')]
    pub tasks: Option<Vec<String>>,
    /// Override the iterations of the online methods on the nonlinear tasks.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Override the PDP iterations on the nonlinear tasks.
    #[arg(long)]
    pub pdp_iterations: Option<usize>,
    /// Worker threads (0 = all cores).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// No progress bar.
    #[arg(long)]
    pub quiet: bool,
}

/// Run `diffop reproduce`.
pub fn run(args: ReproduceArgs) -> Result<()> {
    super::check_threads(args.threads)?;
    let mut options = ReproduceOptions::new(args.out.clone());
    if args.quick {
        options.scale = Scale::quick();
        options.seeds = 2;
    }
    if let Some(s) = args.seeds {
        options.seeds = s;
    }
    if let Some(k) = args.iterations {
        options.scale.nonlinear_iterations = k;
    }
    if let Some(k) = args.pdp_iterations {
        options.scale.pdp_nonlinear = [k; 4];
    }
    if let Some(tasks) = &args.tasks {
        options.tasks = tasks
            .iter()
            .map(|t| t.parse::<LearnTask>())
            .collect::<Result<Vec<_>, _>>()?;
        if options.tasks.is_empty() {
            bail!("--tasks needs at least one task");
        }
    }
    options.quiet = args.quiet;
    let artefact = match args.target {
        Target::Figure2 => Artefact::Figure2,
        Target::Table2 => Artefact::Table2,
        Target::Figure3 => Artefact::Figure3,
        Target::All => Artefact::All,
    };
    let work = || reproduce(artefact, &options);
    let report = if args.threads > 0 {
        rayon::ThreadPoolBuilder::new()
            .num_threads(args.threads)
            .build()?
            .install(work)?
    } else {
        work()?
    };
    outln!("results in {}:", args.out.display())?;
    for f in &report.files {
        outln!("  {f}")?;
    }
    if !report.checks.is_empty() {
        let full = options.scale == Scale::full();
        if full {
            outln!("acceptance checks (docs/spec/RESULTS.md §9):")?;
        } else {
            outln!(
                "acceptance checks (docs/spec/RESULTS.md §9): n/a — they apply to the full protocol, not to \
                 this reduced one (--quick, --iterations or --pdp-iterations); shown for reference:"
            )?;
        }
        for (c, ok) in &report.checks {
            let mark = match (full, *ok) {
                (false, _) => "n/a",
                (true, true) => "pass",
                (true, false) => "FAIL",
            };
            outln!("  [{mark}] {c}")?;
        }
    }
    if !report.failures.is_empty() {
        for f in &report.failures {
            errln!("job {} failed: {}", f.job, f.error);
        }
        bail!(
            "{} job(s) failed; the other results were written (run the command again to retry them)",
            report.failures.len()
        );
    }
    Ok(())
}
