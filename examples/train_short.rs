//! A short DiffOP training run: `cargo run --release --example train_short -- TASK MODE K [OUT]`
//! (`CLIP=c` sets the gradient-norm clipping, `ADAM=lr` switches to Adam with step lr, `LR=η`
//! sets the step, `EVAL_SCEN=n` and `EVAL_EVERY=k` the voltage evaluation, `DET_BASELINE=1` the deterministic-rollout baseline).
//! Prints the per-iteration log and the before/after evaluation.

use diffop::learn::{Mode, Preset, RunOptions, Task, TrainConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let task: Task = args.get(1).map_or("cartpole", String::as_str).parse()?;
    let mode: Mode = args.get(2).map_or("step", String::as_str).parse()?;
    let k: usize = args.get(3).map_or(Ok(50), |s| s.parse())?;
    let out = args.get(4).map_or_else(
        || std::env::temp_dir().join(format!("diffop-{task}-{mode}-k{k}")),
        std::path::PathBuf::from,
    );
    let _ = std::fs::remove_dir_all(&out);
    let mut config = TrainConfig::preset(task, mode, Preset::Default);
    config.iterations = k;
    if let Some(c) = std::env::var("CLIP").ok().and_then(|s| s.parse().ok()) {
        config.clip_grad_norm = Some(c);
    }
    if let Some(lr) = std::env::var("ADAM").ok().and_then(|s| s.parse().ok()) {
        config.optimizer = diffop::learn::OptimizerConfig::adam();
        config.learning_rate = lr;
    }
    if std::env::var("DET_BASELINE").is_ok() {
        config.baseline = diffop::learn::Baseline::Deterministic;
    }
    if let Some(lr) = std::env::var("LR").ok().and_then(|s| s.parse().ok()) {
        config.learning_rate = lr;
    }
    if let Some(n) = std::env::var("EVAL_SCEN").ok().and_then(|s| s.parse().ok()) {
        config.eval_scenarios = n;
    }
    if let Some(n) = std::env::var("EVAL_EVERY")
        .ok()
        .and_then(|s| s.parse().ok())
    {
        config.eval_every = n;
    }
    let summary = diffop::learn::run_training(
        &config,
        &RunOptions {
            out: out.clone(),
            resume: false,
            quiet: false,
            references: true,
            progress: None,
            stop_after: None,
        },
    )?;
    let ck = diffop::learn::Checkpoint::load(&out.join("checkpoint.json"))?;
    for r in &ck.state.history {
        println!(
            "k={:4} batch={:?} eval={:?} |g|={:?} failed={} weak={} t={:.2}s",
            r.iteration,
            r.batch_mean_cost,
            r.eval_cost,
            r.grad_norm,
            r.failed_solves,
            r.weakly_active,
            r.wall_time_s
        );
    }
    println!("{}", serde_json::to_string_pretty(&summary)?);
    Ok(())
}
