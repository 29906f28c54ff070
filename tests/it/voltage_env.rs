//! IEEE 13-bus voltage plant: golden data (`docs/spec/ENVIRONMENTS.md` §7.14), power-flow cross-checks,
//! the linear model, the Table-2 metric and error handling.

// Index loops over the three controlled buses compare several arrays side by side.
#![allow(clippy::needless_range_loop)]

use diffop::envs::voltage::demos::{voltage_demos, DemoSettings};
use diffop::envs::voltage::linear::{a_by_finite_differences, a_closed_form, r_closed_form};
use diffop::envs::voltage::metrics::{evaluate_episodes, run_episode, EvalError};
use diffop::envs::voltage::mt19937::Mt19937;
use diffop::envs::voltage::network::{injections, Network, N_BUS};
use diffop::envs::voltage::powerflow::{max_mismatch, newton_raphson, sweep, FLAT_START};
use diffop::envs::voltage::{
    evaluate, Complex, EvalSettings, GradientFlow, Limits, PowerFlowMethod, Saturation, Scenario,
    ScenarioKind, VoltageController, VoltageEnv, VoltageEnvSettings, ZeroController,
};
use diffop::envs::{Env, EnvError};
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// |a − b| ≤ half a unit of the last printed digit.
fn assert_digits(got: f64, want: f64, decimals: i32, what: &str) {
    let tol = 0.5 * 10f64.powi(-decimals) + 1e-15;
    assert!(
        (got - want).abs() <= tol,
        "{what}: got {got:.12}, want {want} (±{tol:e})"
    );
}

fn eval_env() -> VoltageEnv {
    VoltageEnv::new(VoltageEnvSettings::evaluation()).unwrap()
}

#[test]
fn public_types_are_send_and_sync() {
    fn check<T: Send + Sync>() {}
    check::<VoltageEnv>();
    check::<diffop::envs::voltage::VoltageMetrics>();
    check::<GradientFlow>();
    check::<Scenario>();
}

#[test]
fn mt19937_vectors() {
    assert_eq!(Mt19937::new(5489).next_u32(), 3499211612);
    let mut g = Mt19937::new(0);
    let five: Vec<u32> = (0..5).map(|_| g.next_u32()).collect();
    assert_eq!(
        five,
        [2357136044, 2546248239, 3071714933, 3626093760, 2588848963]
    );
    let mut g = Mt19937::new(0);
    assert_eq!(g.next_double(), 0.5488135039273248);
    assert_eq!(g.next_double(), 0.7151893663724195);
    // uniform = lo + (hi − lo)·double and choice = u32 & 1.
    let mut g = Mt19937::new(0);
    assert_eq!(g.uniform(1.0, 7.0), 1.0 + 6.0 * 0.5488135039273248);
    let mut g = Mt19937::new(0);
    assert_eq!(g.choice01(), 2357136044 & 1);
}

#[test]
fn golden_reset_states() {
    struct Row {
        seed: u32,
        first: u32,
        kind: ScenarioKind,
        p: [(usize, f64); 8],
        n: usize,
        v0: [f64; 3],
    }
    let rows = [
        Row {
            seed: 0,
            first: 2357136044,
            kind: ScenarioKind::LowVoltage,
            p: pad(&[(0, -2.2785338547), (1, -2.8262377966), (2, -1.3295347411)]),
            n: 3,
            v0: [0.89815133, 0.85809326, 0.86581247],
        },
        Row {
            seed: 1,
            first: 1791095845,
            kind: ScenarioKind::HighVoltage,
            p: pad(&[
                (0, 3.9901468383),
                (1, 4.2732763313),
                (2, 0.6406222396),
                (3, 1.1988486184),
                (4, 1.3416533862),
                (5, 0.5552130182),
                (10, 1.2861500753),
                (11, 1.0046190552),
            ]),
            n: 8,
            v0: [1.05631295, 1.08423146, 1.06898086],
        },
        Row {
            seed: 2,
            first: 1872583848,
            kind: ScenarioKind::LowVoltage,
            p: pad(&[(0, -1.0552462345), (1, -3.0356980780), (2, -1.4372767338)]),
            n: 3,
            v0: [0.91918539, 0.86442791, 0.87262275],
        },
        Row {
            seed: 3,
            first: 2365658986,
            kind: ScenarioKind::LowVoltage,
            p: pad(&[(0, -0.7121746400), (1, -2.8158777051), (2, -0.4455942974)]),
            n: 3,
            v0: [0.94972121, 0.91018499, 0.92161852],
        },
    ];
    for method in [PowerFlowMethod::Sweep, PowerFlowMethod::NewtonRaphson] {
        let mut settings = VoltageEnvSettings::evaluation();
        settings.power_flow.method = method;
        let mut env = VoltageEnv::new(settings).unwrap();
        for r in &rows {
            let obs = env.reset_seed(r.seed).unwrap();
            let sc = *env.scenario().unwrap();
            assert_eq!(sc.first_u32, r.first, "seed {}", r.seed);
            assert_eq!(sc.kind, r.kind);
            assert_eq!(sc.draws, if r.n == 3 { 7 } else { 17 });
            let mut expected = [0.0; 12];
            for &(k, p) in &r.p[..r.n] {
                expected[k] = p;
            }
            for k in 0..12 {
                assert_digits(
                    sc.sgen_p[k],
                    expected[k],
                    10,
                    &format!("seed {} p{k}", r.seed),
                );
            }
            for i in 0..3 {
                assert_digits(obs[i], r.v0[i], 8, &format!("seed {} v0[{i}]", r.seed));
                assert_eq!(obs[3 + i], 0.0);
            }
            assert_eq!(env.v0(), [obs[0], obs[1], obs[2]]);
            assert_eq!(env.v_env(), env.v0().map(|x| x * x));
        }
    }
}

fn pad(x: &[(usize, f64)]) -> [(usize, f64); 8] {
    let mut out = [(0, 0.0); 8];
    out[..x.len()].copy_from_slice(x);
    out
}

#[test]
fn golden_gradient_flow_seed0() {
    let golden: [(usize, [f64; 3], [f64; 3], f64); 4] = [
        (
            1,
            [0.19332418, 0.26367596, 0.25036877],
            [0.91901267, 0.89311952, 0.89989871],
            -0.14290818,
        ),
        (
            2,
            [0.32844086, 0.44623779, 0.41801789],
            [0.93242002, 0.91546489, 0.92163469],
            -0.21096315,
        ),
        (
            3,
            [0.42454748, 0.57469398, 0.50900895],
            [0.94086531, 0.92925167, 0.93495313],
            -0.24263335,
        ),
        (
            100,
            [0.71544401, 0.99522966, 0.60000000],
            [0.96170598, 0.96195518, 0.96575761],
            -0.27946969,
        ),
    ];
    for warm in [true, false] {
        let mut settings = VoltageEnvSettings::evaluation();
        settings.power_flow.warm_start = warm;
        let mut env = VoltageEnv::new(settings).unwrap();
        let rec = run_episode(&mut env, &mut GradientFlow::default(), 0, 0.99).unwrap();
        assert_eq!(rec.cost.len(), 100);
        for (t, q, v, f) in golden {
            for i in 0..3 {
                assert_digits(rec.q[t - 1][i], q[i], 8, &format!("t={t} q[{i}]"));
                assert_digits(rec.v[t - 1][i], v[i], 8, &format!("t={t} v[{i}]"));
            }
            assert_digits(rec.cost[t - 1], f, 8, &format!("t={t} F"));
        }
        // Bus 9 sits at its evaluation upper limit (approached geometrically, never crossed).
        assert!(rec.q[99][2] <= 0.6 && rec.q[99][2] > 0.6 - 1e-12);
    }
}

/// The AC power-flow equations hold and the two methods agree, on test scenarios with several q.
#[test]
fn power_flow_residual_and_methods_agree() {
    let net = Network::ieee13();
    let y = net.admittance();
    for seed in 0..20u32 {
        let sc = Scenario::draw(seed);
        for q in [
            [0.0; 3],
            [1.5, 1.4, 0.6],
            [-0.6, -0.6, -0.4],
            [0.3, -0.7, 0.2],
        ] {
            let s = injections(&sc.sgen_p, &q);
            let mut vb = FLAT_START;
            let ib = sweep(&net, &s, &mut vb, 1e-12, 500).unwrap();
            assert!(ib.iterations < 60, "{} sweeps", ib.iterations);
            let mut vn = FLAT_START;
            let inr = newton_raphson(&y, &s, &mut vn, 1e-12, 30).unwrap();
            assert!(inr.iterations <= 8, "{} NR iterations", inr.iterations);
            let mb = max_mismatch(&y, &s, &vb);
            let mn = max_mismatch(&y, &s, &vn);
            assert!(mb <= 1e-10, "seed {seed}: sweep mismatch {mb:e}");
            assert!(mn <= 1e-10, "seed {seed}: NR mismatch {mn:e}");
            let diff = (0..N_BUS).fold(0.0f64, |m, k| m.max((vb[k] - vn[k]).abs()));
            assert!(diff <= 1e-10, "seed {seed}: |V_bfs − V_nr| = {diff:e}");
            assert_eq!(vb[0], Complex::ONE);
        }
    }
}

#[test]
fn power_flow_divergence_is_a_typed_error() {
    let net = Network::ieee13();
    // A huge load at bus 12 has no power-flow solution.
    let mut s = [Complex::ZERO; N_BUS];
    s[12] = Complex::new(-50.0, -50.0);
    let mut v = FLAT_START;
    let e = sweep(&net, &s, &mut v, 1e-12, 500).unwrap_err();
    assert!(matches!(e, EnvError::PowerFlowDiverged { .. }), "{e:?}");
    let mut v = FLAT_START;
    let e = newton_raphson(&net.admittance(), &s, &mut v, 1e-12, 30).unwrap_err();
    assert!(matches!(e, EnvError::PowerFlowDiverged { .. }), "{e:?}");
    // Through the environment, without saturation, with the state left untouched.
    let mut settings = VoltageEnvSettings::evaluation();
    settings.saturation = Saturation::Unclipped;
    let mut env = VoltageEnv::new(settings).unwrap();
    env.reset_seed(0).unwrap();
    let before = env.observation_array();
    let e = env.step_u([-200.0, -200.0, -200.0]).unwrap_err();
    assert!(matches!(e, EnvError::PowerFlowDiverged { .. }), "{e:?}");
    assert_eq!(env.observation_array(), before);
    assert_eq!(env.t(), 0);
}

/// Known physical limit: at the lower reactive corner q̲ (maximal absorption) a heavy-load
/// scenario has no power-flow solution (voltage collapse); both methods report it as a typed
/// error rather than returning garbage.
#[test]
fn voltage_collapse_at_the_lower_corner() {
    let net = Network::ieee13();
    let sc = Scenario::draw(0);
    let s = injections(&sc.sgen_p, &[-1.5, -1.4, -1.0]);
    let mut v = FLAT_START;
    assert!(matches!(
        sweep(&net, &s, &mut v, 1e-12, 500),
        Err(EnvError::PowerFlowDiverged { .. })
    ));
    let mut v = FLAT_START;
    assert!(matches!(
        newton_raphson(&net.admittance(), &s, &mut v, 1e-12, 30),
        Err(EnvError::PowerFlowDiverged { .. })
    ));
    let mut env = eval_env();
    env.reset_seed(0).unwrap();
    assert!(matches!(
        env.step_u([-5.0, -5.0, -5.0]),
        Err(EnvError::PowerFlowDiverged { .. })
    ));
}

#[test]
fn linear_model_matches_finite_differences() {
    let a = a_closed_form();
    let spec = [
        [0.05931028, 0.04456361, 0.04456361],
        [0.04456361, 0.09803763, 0.08912722],
        [0.04456361, 0.08912722, 0.09401581],
    ];
    let r_spec = [
        [0.02971293, 0.01516272, 0.01516272],
        [0.01516272, 0.03901627, 0.03032544],
        [0.01516272, 0.03032544, 0.03906250],
    ];
    let r = r_closed_form();
    let fd = a_by_finite_differences(1e-3).unwrap();
    for i in 0..3 {
        for j in 0..3 {
            assert_digits(a[i][j], spec[i][j], 8, "A closed form");
            assert_digits(r[i][j], r_spec[i][j], 8, "R closed form");
            assert_digits(fd[i][j], a[i][j], 6, "A finite differences");
            assert!((fd[i][j] - a[i][j]).abs() < 1e-8);
        }
    }
    assert!(a_by_finite_differences(0.0).is_err());
}

#[test]
fn determinism_and_trait_interface() {
    let mut a = eval_env();
    let mut b = eval_env();
    let ra = run_episode(&mut a, &mut GradientFlow::default(), 7, 0.99).unwrap();
    let rb = run_episode(&mut b, &mut GradientFlow::default(), 7, 0.99).unwrap();
    assert_eq!(ra, rb);

    // The Env trait: reset draws the seed from the rng, obs = [v, q].
    let mut env = VoltageEnv::new(VoltageEnvSettings::training()).unwrap();
    assert_eq!((env.obs_dim(), env.action_dim(), env.horizon()), (6, 3, 30));
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let o1 = env.reset(&mut rng).unwrap();
    let mut rng = ChaCha8Rng::seed_from_u64(5);
    let mut env2 = VoltageEnv::new(VoltageEnvSettings::training()).unwrap();
    assert_eq!(env2.reset(&mut rng).unwrap(), o1);
    assert_eq!(o1.len(), 6);
    let mut total = 0.0;
    for t in 1..=30 {
        let step = env.step(&[0.05, 0.05, 0.05]).unwrap();
        assert_eq!(step.done, t == 30);
        assert_eq!(step.observation, env.observation());
        total += step.cost;
    }
    assert!(total.is_finite());
    assert_eq!(env.t(), 30);
    // Step after the end of the episode.
    let e = env.step(&[0.0, 0.0, 0.0]).unwrap_err();
    assert_eq!(e, EnvError::EpisodeOver { t: 30, horizon: 30 });
}

#[test]
fn bad_actions_are_rejected() {
    let mut env = eval_env();
    // Before reset.
    assert!(matches!(
        env.step_u([0.0; 3]),
        Err(EnvError::EpisodeOver { t: 0, .. })
    ));
    env.reset_seed(3).unwrap();
    let before = env.observation_array();
    assert!(matches!(
        env.step(&[0.0, 0.0]),
        Err(EnvError::ActionDim {
            got: 2,
            expected: 3,
            ..
        })
    ));
    assert!(matches!(
        env.step(&[0.0, f64::NAN, 0.0]),
        Err(EnvError::NonFiniteAction { index: 1, .. })
    ));
    assert!(matches!(
        env.step_u([f64::INFINITY, 0.0, 0.0]),
        Err(EnvError::NonFiniteAction { index: 0, .. })
    ));
    assert_eq!(env.observation_array(), before);
    assert_eq!(env.t(), 0);
    // Invalid settings.
    let mut s = VoltageEnvSettings::evaluation();
    s.horizon = 0;
    assert!(VoltageEnv::new(s).is_err());
    s = VoltageEnvSettings::evaluation();
    s.limits = Limits::Custom {
        q_min: [0.0, 0.0, 1.0],
        q_max: [1.0, 1.0, 0.0],
    };
    assert!(VoltageEnv::new(s).is_err());
    s = VoltageEnvSettings::evaluation();
    s.power_flow.tol = f64::NAN;
    assert!(VoltageEnv::new(s).is_err());
    assert!(GradientFlow::new(1.5).is_err());
}

#[test]
fn saturation_and_accessors() {
    let mut env = eval_env();
    env.reset_seed(1).unwrap();
    let s = env.step_u([10.0, -10.0, 10.0]).unwrap();
    assert_eq!(s.q, [1.5, -1.4, 0.6]);
    assert_eq!(env.q(), [1.5, -1.4, 0.6]);
    assert_eq!(env.last_increment(), [1.5, -1.4, 0.6]);
    let s2 = env.step_u([0.5, 0.1, -0.1]).unwrap();
    assert_eq!(s2.q[0], 1.5);
    assert!((s2.q[1] + 1.3).abs() < 1e-15 && (s2.q[2] - 0.5).abs() < 1e-15);
    let inc = env.last_increment();
    assert_eq!(inc[0], 0.0);
    assert!((inc[1] - 0.1).abs() < 1e-15 && (inc[2] + 0.1).abs() < 1e-15);
    assert_eq!(env.v(), s2.v);
    assert_eq!(env.last_cost(), s2.cost);
    let ctx = env.policy_context();
    assert_eq!(&ctx[0..3], &env.v_env());
    assert_eq!(&ctx[3..6], &[-1.5, -1.4, -1.0]);
    assert_eq!(&ctx[6..9], &[1.5, 1.4, 0.6]);
    let x = env.policy_state();
    assert_eq!(x[3..6], env.q());
    assert!((x[0] - s2.v[0] * s2.v[0]).abs() < 1e-15);
    assert_eq!(env.v_bus()[2], s2.v[0]);
    assert_eq!(Limits::Training.q_max(), [1.5, 1.4, 1.0]);
    // Unclipped mode applies the set-point as is.
    let mut settings = VoltageEnvSettings::evaluation();
    settings.saturation = Saturation::Unclipped;
    let mut env = VoltageEnv::new(settings).unwrap();
    env.reset_seed(1).unwrap();
    assert_eq!(env.step_u([2.0, 0.0, 0.0]).unwrap().q, [2.0, 0.0, 0.0]);
}

#[test]
fn pdp_demonstrations() {
    let demos = voltage_demos(&DemoSettings::default()).unwrap();
    assert_eq!(demos.len(), 20);
    let mut env = VoltageEnv::new(VoltageEnvSettings::training()).unwrap();
    for (j, d) in demos.iter().enumerate() {
        assert_eq!(d.seed, 20000 + j as u32);
        assert_eq!((d.x.len(), d.u.len()), (31, 30));
        let rec = run_episode(&mut env, &mut GradientFlow::default(), d.seed, 0.99).unwrap();
        assert_eq!(d.v_env, env.v_env());
        let v0 = env.v0();
        for i in 0..3 {
            assert_eq!(d.x[0][i], v0[i] * v0[i]);
            assert_eq!(d.x[0][3 + i], 0.0);
        }
        for t in 1..=30 {
            let vprev = if t == 1 { v0 } else { rec.v[t - 2] };
            for i in 0..3 {
                assert_eq!(d.x[t][i], vprev[i] * vprev[i]);
                assert_eq!(d.x[t][3 + i], rec.q[t - 1][i]);
            }
        }
        for t in 0..30 {
            for i in 0..3 {
                assert!((d.x[t + 1][3 + i] - d.x[t][3 + i] - d.u[t][i]).abs() < 1e-15);
            }
        }
    }
    let lf = voltage_demos(&DemoSettings {
        count: 2,
        lag_free: true,
        ..DemoSettings::default()
    })
    .unwrap();
    assert_eq!(lf[0].u, demos[0].u);
    assert_eq!(lf[0].x[0], demos[0].x[0]);
    assert_eq!(lf[0].x[5][..3], demos[0].x[6][..3]);
}

/// A controller that fails: the typed error carries seed and step.
struct Failing;

#[derive(Debug, thiserror::Error)]
#[error("boom")]
struct Boom;

impl VoltageController for Failing {
    type Error = Boom;
    fn reset(&mut self, _env: &VoltageEnv) -> Result<(), Boom> {
        Ok(())
    }
    fn act(&mut self, env: &VoltageEnv) -> Result<[f64; 3], Boom> {
        if env.t() == 4 {
            Err(Boom)
        } else {
            Ok([0.0; 3])
        }
    }
}

#[test]
fn table2_metric_gradient_flow() {
    let settings = EvalSettings::default();
    let records = evaluate_episodes(&settings, GradientFlow::default).unwrap();
    let m = diffop::envs::voltage::VoltageMetrics::from_records(&records);
    println!(
        "gradient flow (alpha 0.5), 500 scenarios: transient {:.6}, steady {:.6}; \
         low ({}) {:.6} / {:.6}; high ({}) {:.6} / {:.6}",
        m.transient,
        m.steady,
        m.n_low,
        m.transient_low,
        m.steady_low,
        m.n_high,
        m.transient_high,
        m.steady_high
    );
    assert_eq!((m.scenarios, m.n_low, m.n_high), (500, 249, 251));
    assert!(m.transient.is_finite() && m.transient < 0.0);
    assert!(
        m.transient > -6.851,
        "transient {} below the bound",
        m.transient
    );
    assert!(m.steady > -0.1092, "steady {} below the bound", m.steady);
    assert!(m.steady < 0.0);
    // Group means recombine to the overall means.
    let recombined =
        (m.n_low as f64 * m.transient_low + m.n_high as f64 * m.transient_high) / 500.0;
    assert!((recombined - m.transient).abs() < 1e-12);
    // The test set's initial deviations (§7.8).
    let dev: Vec<f64> = records
        .iter()
        .map(|r| r.v0.iter().fold(0.0f64, |m, v| m.max((v - 1.0).abs())))
        .collect();
    let (lo, hi) = dev
        .iter()
        .fold((f64::MAX, 0.0f64), |(a, b), &d| (a.min(d), b.max(d)));
    let mean = dev.iter().sum::<f64>() / 500.0;
    assert!(
        lo >= 0.0345 && hi <= 0.1685 && (mean - 0.083).abs() < 5e-4,
        "{lo} {hi} {mean}"
    );
    // Same result for the metric entry point and any thread count.
    let again = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap()
        .install(|| evaluate(&settings, GradientFlow::default).unwrap());
    assert_eq!(again, m);
    assert!(serde_json::to_string(&m).unwrap().contains("\"transient\""));

    // Zero control: F ≡ 0.
    let small = EvalSettings {
        scenarios: 10,
        ..EvalSettings::default()
    };
    let z = evaluate(&small, || ZeroController).unwrap();
    assert_eq!((z.transient, z.steady), (0.0, 0.0));
    // Failures are typed.
    match evaluate(&small, || Failing) {
        Err(EvalError::Controller { t, .. }) => assert_eq!(t, 5),
        other => panic!("expected a controller error, got {other:?}"),
    }
    let bad = EvalSettings {
        scenarios: 0,
        ..EvalSettings::default()
    };
    assert!(matches!(
        evaluate(&bad, GradientFlow::default),
        Err(EvalError::InvalidSettings(_))
    ));
}
