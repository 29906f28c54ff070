//! Run directories of Stable-DDPG / TASRL (`diffop baseline --method stable-ddpg|tasrl`).
//!
//! ```text
//! DIR/config.toml         the resolved DdpgConfig
//! DIR/metrics.csv         one row per episode (steps, stored transitions, end, cost, losses,
//!                         noise, evaluations, wall time)
//! DIR/checkpoint.json     the networks (actors, critics and their targets, exact bit patterns)
//! DIR/summary.json        final transient / steady cost, counts, training and evaluation time
//! DIR/learning_curve.svg  and .png (episode cost; evaluation transient cost)
//! ```
//!
//! The checkpoint and the metrics are written atomically every `checkpoint_every` episodes and
//! at the end. `diffop eval --checkpoint DIR` re-evaluates the saved actors.

use serde::{Deserialize, Serialize};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::mlp::Mlp;
use super::monotone::MonotoneLayer;
use super::trainer::{DdpgEpisode, DdpgTrainer, EpisodeEnd};
use super::{DdpgConfig, DdpgController, DdpgError};
use crate::learn::checkpoint::write_atomic;
#[cfg(feature = "plot")]
use crate::learn::plot::{plot_learning_curve, Curves};

/// Format version of [`DdpgCheckpoint`].
pub const DDPG_CHECKPOINT_VERSION: u32 = 1;
/// The `kind` tag of a DDPG checkpoint.
pub const DDPG_CHECKPOINT_KIND: &str = "ddpg";

/// Called after every episode.
pub type EpisodeHook = Arc<dyn Fn(&DdpgEpisode) + Send + Sync>;

/// How to run.
#[derive(Clone)]
pub struct DdpgRunOptions {
    /// Run directory.
    pub out: PathBuf,
    /// No log lines on stderr.
    pub quiet: bool,
    /// Worker threads of the evaluation (0 = rayon default).
    pub threads: usize,
    /// Write the checkpoint and the metrics every this many episodes (≥ 1; always at the end).
    pub checkpoint_every: usize,
    /// Called after every episode.
    pub progress: Option<EpisodeHook>,
}

impl DdpgRunOptions {
    /// Options for a fresh, logged run in `out` (checkpoint every 100 episodes).
    pub fn new(out: impl Into<PathBuf>) -> Self {
        Self {
            out: out.into(),
            quiet: false,
            threads: 0,
            checkpoint_every: 100,
            progress: None,
        }
    }
}

/// The networks of one agent, as exact IEEE-754 bit patterns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AgentNetworks {
    /// Actor ξ.
    pub xi: Vec<u64>,
    /// Actor ρ.
    pub rho: Vec<u64>,
    /// Target actor ξ.
    pub xi_target: Vec<u64>,
    /// Target actor ρ.
    pub rho_target: Vec<u64>,
    /// Critic layer widths.
    pub critic_sizes: Vec<usize>,
    /// Critic θ.
    pub critic: Vec<u64>,
    /// Target critic θ.
    pub critic_target: Vec<u64>,
}

fn bits(v: &[f64]) -> Vec<u64> {
    v.iter().map(|x| x.to_bits()).collect()
}

fn unbits(v: &[u64]) -> Vec<f64> {
    v.iter().map(|&b| f64::from_bits(b)).collect()
}

/// A saved run (`DIR/checkpoint.json`): configuration, episodes done and the networks.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DdpgCheckpoint {
    /// Always [`DDPG_CHECKPOINT_KIND`].
    pub kind: String,
    /// Format version.
    pub version: u32,
    /// The configuration of the run.
    pub config: DdpgConfig,
    /// Episodes done.
    pub episode: usize,
    /// Networks of buses 0, 1, 2.
    pub networks: Vec<AgentNetworks>,
}

impl DdpgCheckpoint {
    /// Capture the networks of a learner.
    pub fn new(t: &DdpgTrainer) -> Self {
        let networks = t
            .agents()
            .iter()
            .map(|a| AgentNetworks {
                xi: bits(&a.actor.xi),
                rho: bits(&a.actor.rho),
                xi_target: bits(&a.actor_target.xi),
                rho_target: bits(&a.actor_target.rho),
                critic_sizes: a.critic.sizes.clone(),
                critic: bits(&a.critic.theta),
                critic_target: bits(&a.critic_target.theta),
            })
            .collect();
        Self {
            kind: DDPG_CHECKPOINT_KIND.into(),
            version: DDPG_CHECKPOINT_VERSION,
            config: t.config().clone(),
            episode: t.episode(),
            networks,
        }
    }

    fn check(&self) -> Result<(), DdpgError> {
        if self.kind != DDPG_CHECKPOINT_KIND || self.version != DDPG_CHECKPOINT_VERSION {
            return Err(DdpgError::Checkpoint(format!(
                "kind `{}` version {} is not a DDPG checkpoint of version {DDPG_CHECKPOINT_VERSION}",
                self.kind, self.version
            )));
        }
        self.config.validate()
    }

    /// The actors (exact values; ξ as saved, projected by the controller).
    pub fn actors(&self) -> Vec<MonotoneLayer> {
        self.networks
            .iter()
            .map(|n| MonotoneLayer {
                xi: unbits(&n.xi),
                rho: unbits(&n.rho),
            })
            .collect()
    }

    /// The critics (exact values).
    pub fn critics(&self) -> Result<Vec<Mlp>, DdpgError> {
        self.networks
            .iter()
            .map(|n| {
                let m = Mlp {
                    sizes: n.critic_sizes.clone(),
                    theta: unbits(&n.critic),
                };
                m.validate()?;
                Ok(m)
            })
            .collect()
    }

    /// The evaluation controller of the saved actors (α = the configuration's `alpha_eval`).
    pub fn controller(&self) -> Result<DdpgController, DdpgError> {
        self.check()?;
        DdpgController::new(
            self.config.method.rule(),
            self.actors(),
            self.config.alpha_eval,
        )
    }

    /// Write atomically to `path`.
    pub fn save(&self, path: &Path) -> Result<(), DdpgError> {
        let text =
            serde_json::to_string(self).map_err(|e| DdpgError::Format(format!("JSON: {e}")))?;
        write_atomic(path, text.as_bytes()).map_err(|e| DdpgError::Checkpoint(e.to_string()))
    }

    /// Read from `path` (a file, or a run directory holding `checkpoint.json`).
    pub fn load(path: &Path) -> Result<Self, DdpgError> {
        let file = if path.is_dir() {
            path.join("checkpoint.json")
        } else {
            path.to_path_buf()
        };
        let text = std::fs::read_to_string(&file).map_err(|source| DdpgError::Io {
            path: file.display().to_string(),
            source,
        })?;
        let c: Self = serde_json::from_str(&text).map_err(|e| {
            DdpgError::Checkpoint(format!("{}: not a DDPG checkpoint: {e}", file.display()))
        })?;
        c.check()?;
        Ok(c)
    }
}

/// True when `path` (a run directory or a checkpoint file) holds a DDPG checkpoint.
pub fn is_ddpg_run(path: &Path) -> bool {
    let file = if path.is_dir() {
        path.join("checkpoint.json")
    } else {
        path.to_path_buf()
    };
    std::fs::read_to_string(file)
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .is_some_and(|v| v.get("kind").and_then(|k| k.as_str()) == Some(DDPG_CHECKPOINT_KIND))
}

/// What `summary.json` holds.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DdpgSummary {
    /// `stable-ddpg` or `tasrl`.
    pub method: String,
    /// Run seed.
    pub seed: u64,
    /// Episodes trained.
    pub episodes: usize,
    /// Final transient cost (Table 2).
    pub transient: f64,
    /// Final steady-state cost (Table 2).
    pub steady: f64,
    /// Evaluation scenarios.
    pub eval_scenarios: usize,
    /// Transitions stored per agent.
    pub transitions: usize,
    /// Mean episode length (plant steps).
    pub mean_episode_length: f64,
    /// Episodes ended in band / aborted / by a diverged power flow.
    pub ends: [usize; 3],
    /// Training wall time (evaluations excluded) \[s\].
    pub training_time_s: f64,
    /// Wall time of the whole run \[s\].
    pub wall_time_s: f64,
}

/// Train `config` into the run directory of `options` (module docs).
pub fn run_ddpg(config: &DdpgConfig, options: &DdpgRunOptions) -> Result<DdpgSummary, DdpgError> {
    config.validate()?;
    if options.checkpoint_every == 0 {
        return Err(DdpgError::Config(
            "checkpoint_every must be at least 1".into(),
        ));
    }
    if options.threads > 0 {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(options.threads)
            .build()
            .map_err(|e| DdpgError::Config(format!("thread pool: {e}")))?;
        pool.install(|| run_inner(config, options))
    } else {
        run_inner(config, options)
    }
}

fn run_inner(config: &DdpgConfig, options: &DdpgRunOptions) -> Result<DdpgSummary, DdpgError> {
    let start = Instant::now();
    let out = &options.out;
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| DdpgError::Io { path, source }
    };
    std::fs::create_dir_all(out).map_err(io(out))?;
    let ckpt = out.join("checkpoint.json");
    if ckpt.exists() {
        return Err(DdpgError::Checkpoint(format!(
            "{} already exists; choose another --out or remove it",
            ckpt.display()
        )));
    }
    #[cfg(feature = "toml")]
    {
        let toml =
            toml::to_string_pretty(config).map_err(|e| DdpgError::Format(format!("TOML: {e}")))?;
        write(&out.join("config.toml"), &toml)?;
    }
    #[cfg(not(feature = "toml"))]
    {
        let json = serde_json::to_string_pretty(config)
            .map_err(|e| DdpgError::Format(format!("JSON: {e}")))?;
        write(&out.join("config.json"), &json)?;
    }
    let mut trainer = DdpgTrainer::new(config.clone())?;
    while !trainer.is_done() {
        let rec = trainer.step()?;
        if let Some(hook) = &options.progress {
            (hook.as_ref())(&rec);
        }
        if !options.quiet && (rec.eval_transient.is_some() || rec.episode % 100 == 99) {
            eprintln!("episode {:>4}: {}", rec.episode + 1, progress_message(&rec));
        }
        if trainer.episode() % options.checkpoint_every == 0 || trainer.is_done() {
            save(&trainer, out)?;
        }
    }
    let h = trainer.history();
    let last = h
        .last()
        .ok_or_else(|| DdpgError::Config("no episode ran".into()))?;
    let (transient, steady) = match (last.eval_transient, last.eval_steady) {
        (Some(t), Some(s)) => (t, s),
        _ => {
            return Err(DdpgError::Evaluation(
                "the final evaluation is missing".into(),
            ))
        }
    };
    let count = |e: EpisodeEnd| h.iter().filter(|r| r.end == e).count();
    let steps: usize = h.iter().map(|r| r.steps).sum();
    let summary = DdpgSummary {
        method: config.method.to_string(),
        seed: config.seed,
        episodes: trainer.episode(),
        transient,
        steady,
        eval_scenarios: config.eval_scenarios,
        transitions: h.iter().map(|r| r.stored).sum(),
        mean_episode_length: steps as f64 / h.len() as f64,
        ends: [
            count(EpisodeEnd::InBand),
            count(EpisodeEnd::Aborted),
            count(EpisodeEnd::PowerFlow),
        ],
        training_time_s: trainer.elapsed_s(),
        wall_time_s: start.elapsed().as_secs_f64(),
    };
    let json = serde_json::to_string_pretty(&summary)
        .map_err(|e| DdpgError::Format(format!("JSON: {e}")))?;
    write(&out.join("summary.json"), &json)?;
    #[cfg(feature = "plot")]
    {
        let curves = Curves {
            title: format!("{} voltage, seed {}", config.method, config.seed),
            y_label: "cost (episode; eval: transient)".into(),
            training: h.iter().map(|r| (r.episode as f64 + 1.0, r.cost)).collect(),
            evaluation: h
                .iter()
                .filter_map(|r| r.eval_transient.map(|t| (r.episode as f64 + 1.0, t)))
                .collect(),
            untrained: None,
            mpc_true: None,
        };
        if let Err(e) = plot_learning_curve(
            &curves,
            &out.join("learning_curve.svg"),
            &out.join("learning_curve.png"),
        ) {
            if !options.quiet {
                eprintln!("learning-curve plot skipped: {e}");
            }
        }
    }
    Ok(summary)
}

fn write(path: &Path, text: &str) -> Result<(), DdpgError> {
    write_atomic(path, text.as_bytes()).map_err(|e| DdpgError::Format(e.to_string()))
}

fn save(trainer: &DdpgTrainer, out: &Path) -> Result<(), DdpgError> {
    DdpgCheckpoint::new(trainer).save(&out.join("checkpoint.json"))?;
    write(&out.join("metrics.csv"), &metrics_csv(trainer.history()))
}

/// The per-episode CSV of `metrics.csv`.
pub fn metrics_csv(history: &[DdpgEpisode]) -> String {
    let opt = |v: Option<f64>| v.map_or(String::new(), |x| format!("{x}"));
    let mut s = String::from(
        "episode,reset_seed,steps,stored,end,cost,updates,critic_loss,actor_loss,noise_std,eval_transient,eval_steady,wall_time_s\n",
    );
    for r in history {
        let end = serde_json::to_value(r.end)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "{},{},{},{},{},{},{},{},{},{},{},{},{}",
            r.episode,
            r.reset_seed,
            r.steps,
            r.stored,
            end,
            r.cost,
            r.updates,
            opt(r.critic_loss),
            opt(r.actor_loss),
            r.noise_std,
            opt(r.eval_transient),
            opt(r.eval_steady),
            r.wall_time_s
        );
    }
    s
}

fn progress_message(r: &DdpgEpisode) -> String {
    let mut s = format!("{} steps, cost {:.4}", r.steps, r.cost);
    if let Some(c) = r.critic_loss {
        let _ = write!(s, ", critic loss {c:.3e}");
    }
    if let (Some(t), Some(st)) = (r.eval_transient, r.eval_steady) {
        let _ = write!(s, ", eval transient {t:.4} steady {st:.5}");
    }
    s
}
