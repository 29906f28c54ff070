//! Fuzz campaign, part 2 (issue 19): property tests that feed arbitrary TOML to the training
//! configuration loader [`TrainConfig::from_toml`].
//!
//! Properties, for every input: no panic; a failure is a typed [`LearnError`]; an accepted
//! configuration passes [`TrainConfig::validate`], has only finite floats, and survives
//! `to_toml` → `from_toml` unchanged.
//!
//! The case count follows `PROPTEST_CASES` (default 256 per property here).

use diffop::learn::LearnError;
use diffop::learn::{Mode, Preset, Task, TrainConfig};
use proptest::prelude::*;

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(256)
}

/// Every float of `v` is finite.
fn finite_floats(v: &toml::Value) -> bool {
    match v {
        toml::Value::Float(f) => f.is_finite(),
        toml::Value::Array(a) => a.iter().all(finite_floats),
        toml::Value::Table(t) => t.values().all(finite_floats),
        _ => true,
    }
}

/// The contract for one document.
fn check(text: &str) -> Result<(), TestCaseError> {
    match TrainConfig::from_toml(text) {
        Err(e) => {
            // Typed: the configuration or the format variant, with a message.
            let typed = matches!(e, LearnError::Config(_) | LearnError::Format(_));
            prop_assert!(typed, "unexpected error variant {e:?} for\n{text}");
            prop_assert!(!e.to_string().is_empty());
        }
        Ok(c) => {
            prop_assert!(c.validate().is_ok(), "accepted but invalid:\n{text}");
            let v = toml::Value::try_from(&c).expect("serialise");
            prop_assert!(finite_floats(&v), "non-finite float accepted:\n{text}");
            let back = c.to_toml().expect("to_toml");
            let again = TrainConfig::from_toml(&back);
            prop_assert!(again.is_ok(), "round trip rejected: {again:?}\n{back}");
            prop_assert_eq!(again.unwrap(), c, "round trip changed the config\n{}", back);
        }
    }
    Ok(())
}

/// The top-level keys of a configuration and a few of its nested ones.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => prop::sample::select(vec![
            "task", "mode", "preset", "horizon", "h", "iterations", "batch", "learning_rate",
            "learning_rate_final", "sigma", "theta0", "truncation", "baseline", "reward_to_go",
            "antithetic", "normalize_cost", "optimizer", "clip_grad_norm", "theta_f_floor",
            "eval_every", "eval_scenarios", "checkpoint_every", "seed", "threads",
            "max_failure_fraction", "solver", "kind", "rule", "beta", "beta1", "beta2", "eps",
            "k", "tol", "max_iter", "polish",
        ])
        .prop_map(String::from),
        1 => "[a-z_]{1,10}",
        1 => ".{0,6}",
    ]
}

/// Scalar TOML values, with the names the enums accept and extreme numbers.
fn scalar() -> impl Strategy<Value = toml::Value> {
    use toml::Value as V;
    prop_oneof![
        2 => prop::sample::select(vec![
            "cartpole", "arm", "quadrotor", "rocket", "voltage", "step", "traj", "default",
            "paper_faithful", "adam", "sgd", "k_sigma", "r1", "r2", "r3", "none",
            "leave_one_out", "deterministic", "",
        ])
        .prop_map(|s| V::String(s.into())),
        1 => ".{0,10}".prop_map(V::String),
        2 => prop_oneof![Just(0i64), Just(1), Just(-1), Just(i64::MAX), Just(i64::MIN), 0i64..600]
            .prop_map(V::Integer),
        2 => prop_oneof![
            any::<f64>(),
            Just(f64::NAN),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(0.0),
            Just(-0.0),
            Just(1e-320),
            Just(0.5),
            Just(1.0),
            -2.0f64..2.0
        ]
        .prop_map(V::Float),
        1 => any::<bool>().prop_map(V::Boolean),
    ]
}

/// Arbitrary TOML values: scalars, arrays and tables (depth ≤ 3).
fn value() -> impl Strategy<Value = toml::Value> {
    scalar().prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(toml::Value::Array),
            prop::collection::vec((key(), inner), 0..6)
                .prop_map(|kv| toml::Value::Table(kv.into_iter().collect())),
        ]
    })
}

/// A random document: a table of random keys and values (rendered by the toml crate).
fn document() -> impl Strategy<Value = String> {
    prop::collection::vec((key(), value()), 0..10).prop_map(|kv| {
        let t: toml::Table = kv.into_iter().collect();
        toml::to_string(&t).unwrap_or_default()
    })
}

/// One edit of a table: remove, replace or add a key (recursing into sub-tables).
#[derive(Clone, Debug)]
enum Edit {
    Remove(usize),
    Replace(usize, toml::Value),
    Add(String, toml::Value),
    Nested(usize, Box<Edit>),
}

fn edit() -> impl Strategy<Value = Edit> {
    let leaf = prop_oneof![
        any::<usize>().prop_map(Edit::Remove),
        (any::<usize>(), value()).prop_map(|(i, v)| Edit::Replace(i, v)),
        (key(), value()).prop_map(|(k, v)| Edit::Add(k, v)),
    ];
    leaf.prop_recursive(2, 4, 1, |inner| {
        (any::<usize>(), inner).prop_map(|(i, e)| Edit::Nested(i, Box::new(e)))
    })
}

fn apply(t: &mut toml::Table, e: &Edit) {
    let keys: Vec<String> = t.keys().cloned().collect();
    let pick = |i: usize| keys.get(i % keys.len().max(1)).cloned();
    match e {
        Edit::Remove(i) => {
            if let Some(k) = pick(*i) {
                t.remove(&k);
            }
        }
        Edit::Replace(i, v) => {
            if let Some(k) = pick(*i) {
                t.insert(k, v.clone());
            }
        }
        Edit::Add(k, v) => {
            t.insert(k.clone(), v.clone());
        }
        Edit::Nested(i, inner) => {
            if let Some(toml::Value::Table(sub)) = pick(*i).and_then(|k| t.get_mut(&k)) {
                apply(sub, inner);
            }
        }
    }
}

/// A valid configuration (any task, mode, preset) with up to four random edits.
fn mutated() -> impl Strategy<Value = String> {
    (
        prop::sample::select(Task::ALL.to_vec()),
        prop::sample::select(vec![Mode::Step, Mode::Traj]),
        prop::sample::select(vec![Preset::Default, Preset::PaperFaithful]),
        prop::collection::vec(edit(), 0..4),
    )
        .prop_map(|(task, mode, preset, edits)| {
            let c = TrainConfig::preset(task, mode, preset);
            let mut t: toml::Table = toml::from_str(&c.to_toml().expect("to_toml")).expect("toml");
            for e in &edits {
                apply(&mut t, e);
            }
            toml::to_string(&t).unwrap_or_default()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_text_is_rejected_or_valid(text in ".{0,200}") {
        check(&text)?;
    }

    #[test]
    fn random_documents_are_rejected_or_valid(text in document()) {
        check(&text)?;
    }

    #[test]
    fn mutated_configs_are_rejected_or_valid(text in mutated()) {
        check(&text)?;
    }
}

/// Every preset itself passes the contract (and the round trip).
#[test]
fn every_preset_round_trips() {
    for task in Task::ALL {
        for mode in [Mode::Step, Mode::Traj] {
            for preset in [Preset::Default, Preset::PaperFaithful] {
                let text = TrainConfig::preset(task, mode, preset).to_toml().unwrap();
                check(&text).unwrap();
            }
        }
    }
}
