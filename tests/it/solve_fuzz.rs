//! Fuzz campaign, part 1 (issue 19): property tests that feed arbitrary and adversarial JSON
//! requests to `diffop solve` through the real binary (standard input → stdout, exit code).
//!
//! Properties, for every input:
//! - no panic: the exit code is 0, 1 or 3 (a panic exits with 101, a signal has none);
//! - stdout is one JSON object; exit 1 ⇔ `{"error": "<non-empty message>"}`;
//! - exit 0 ⇔ a status marked solved, and then every number of the answer (plan, costates,
//!   multipliers, Jacobians, VJP) is finite (serde_json writes NaN and ±∞ as `null`);
//! - exit 3 ⇔ a status not marked solved (exit 2 is reserved for usage errors).
//!
//! The case count follows `PROPTEST_CASES` (default 64 per property here); the campaign of
//! `docs/robustness.md` runs thousands.

use diffop::learn::Task;
use proptest::prelude::*;
use serde_json::{json, Value};
use std::io::Write;
use std::process::{Command, Stdio};

/// (name, n, m, d, Step-mode H) of task `t` (index into `Task::ALL`).
fn spec(t: usize) -> (&'static str, usize, usize, usize, usize) {
    let task = Task::ALL[t];
    let (n, m) = task.nm();
    (task.name(), n, m, task.d(), task.step_horizon())
}

const SOLVED: [&str; 3] = ["solved", "solved_inaccurate", "solved_unpolished"];

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(64)
}

/// Run `diffop solve -` on `request`; (exit code, stdout, stderr).
fn solve(request: &[u8]) -> (Option<i32>, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_diffop"))
        .args(["solve", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn diffop");
    let mut stdin = child.stdin.take().expect("stdin");
    // The binary may reject the request before reading all of it (a closed pipe is fine).
    let _ = stdin.write_all(request);
    drop(stdin);
    let out = child.wait_with_output().expect("wait diffop");
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Every leaf of `v` that should be a number is a finite number (not `null`).
fn all_numbers(v: &Value) -> bool {
    match v {
        Value::Number(n) => n.as_f64().is_some_and(f64::is_finite),
        Value::Array(a) => a.iter().all(all_numbers),
        _ => false,
    }
}

/// Check the contract of one answer; `Err` describes the violation.
fn check_answer(request: &[u8]) -> Result<(), TestCaseError> {
    let (code, stdout, stderr) = solve(request);
    let shown = String::from_utf8_lossy(&request[..request.len().min(400)]).into_owned();
    let ctx = || format!("request {shown:?}\nexit {code:?}\nstdout {stdout}\nstderr {stderr}");
    let code = code.ok_or_else(|| TestCaseError::fail(format!("killed by a signal\n{}", ctx())))?;
    prop_assert!(matches!(code, 0 | 1 | 3), "exit code {code}\n{}", ctx());
    prop_assert!(!stderr.contains("panicked"), "panic\n{}", ctx());
    let answer: Value = serde_json::from_str(stdout.trim())
        .map_err(|e| TestCaseError::fail(format!("stdout is not JSON ({e})\n{}", ctx())))?;
    prop_assert!(answer.is_object(), "not an object\n{}", ctx());
    if code == 1 {
        let msg = answer["error"].as_str().unwrap_or("");
        prop_assert!(
            !msg.is_empty(),
            "exit 1 without an error message\n{}",
            ctx()
        );
        prop_assert!(
            !stderr.trim().is_empty(),
            "exit 1 with a silent stderr\n{}",
            ctx()
        );
        return Ok(());
    }
    let status = answer["status"].as_str().unwrap_or("");
    let solved = SOLVED.contains(&status);
    prop_assert_eq!(
        code == 0,
        solved,
        "exit code vs status {}\n{}",
        status,
        ctx()
    );
    if solved {
        for key in ["x", "u", "costates", "mu", "jacobian", "jacobian_x0", "vjp"] {
            if let Some(v) = answer.get(key) {
                prop_assert!(
                    all_numbers(v),
                    "non-finite `{}` in a solved answer\n{}",
                    key,
                    ctx()
                );
            }
        }
        prop_assert!(
            all_numbers(&answer["objective"]),
            "non-finite objective in a solved answer\n{}",
            ctx()
        );
    }
    Ok(())
}

/// Arbitrary JSON values (nested arrays and objects of random scalars).
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|i| json!(i)),
        any::<f64>().prop_map(|f| json!(f)),
        ".{0,12}".prop_map(Value::String),
        prop::sample::select(vec!["cartpole", "arm", "quadrotor", "rocket", "voltage"])
            .prop_map(|s| json!(s)),
    ];
    leaf.prop_recursive(4, 48, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// Object keys: mostly the request's own fields, so that nested values reach the validation.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => prop::sample::select(vec![
            "task", "horizon", "x0", "theta", "v_env", "q_min", "q_max", "jacobian", "vjp_seed",
            "solver", "tol", "max_iter", "polish", "mu_init",
        ])
        .prop_map(String::from),
        1 => "[a-z_]{1,8}",
    ]
}

/// A number as JSON text: ordinary, extreme, or out of range (1e400 is not a finite f64).
fn number() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => (-2.0f64..2.0).prop_map(|f| format!("{f}")),
        2 => any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:e}")),
        1 => prop::sample::select(vec![
            "0", "-0", "1e308", "-1e308", "1.7976931348623157e308", "5e-324", "1e-300", "1e400",
            "-1e400", "1e20", "-1e20", "123456789012345678901234567890", "NaN", "Infinity",
            "\"1\"", "null", "true", "[]", "{}",
        ])
        .prop_map(String::from),
    ]
}

/// A list of `len` numbers as JSON text.
fn numbers(len: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(number(), len..=len).prop_map(|v| format!("[{}]", v.join(", ")))
}

/// A length: the right one most of the time, else off by one, empty or long.
fn length(right: usize) -> impl Strategy<Value = usize> {
    prop_oneof![
        6 => Just(right),
        1 => Just(right + 1),
        1 => Just(right.saturating_sub(1)),
        1 => Just(0usize),
        1 => 0usize..40,
    ]
}

/// `horizon` as JSON text (or absent): small, the Step H, out of range, negative, fractional.
fn horizon(step: usize) -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        3 => Just(None),
        3 => (1usize..=40).prop_map(|h| Some(h.to_string())),
        1 => Just(Some(step.to_string())),
        1 => prop::sample::select(vec![
            "0", "-1", "1.5", "100001", "18446744073709551616", "1e3", "\"6\"", "null",
        ])
        .prop_map(|s| Some(s.to_string())),
    ]
}

/// A `solver` table as JSON text (or absent): random valid and invalid settings.
fn solver() -> impl Strategy<Value = Option<String>> {
    let field = prop_oneof![
        ("tol", number()).prop_map(|(k, v)| format!("\"{k}\": {v}")),
        ("polish_tol", number()).prop_map(|(k, v)| format!("\"{k}\": {v}")),
        ("mu_init", number()).prop_map(|(k, v)| format!("\"{k}\": {v}")),
        ("reg_max", number()).prop_map(|(k, v)| format!("\"{k}\": {v}")),
        ("armijo", number()).prop_map(|(k, v)| format!("\"{k}\": {v}")),
        (0usize..60).prop_map(|v| format!("\"max_iter\": {v}")),
        (0usize..10).prop_map(|v| format!("\"polish_max_iter\": {v}")),
        any::<bool>().prop_map(|b| format!("\"polish\": {b}")),
        any::<bool>().prop_map(|b| format!("\"active_set_start\": {b}")),
        any::<bool>().prop_map(|b| format!("\"constrained_riccati\": {b}")),
        any::<bool>().prop_map(|b| format!("\"defer_kkt_factorization\": {b}")),
        Just("\"no_such_setting\": 1".to_string()),
    ];
    prop_oneof![
        3 => Just(None),
        1 => prop::collection::vec(field, 0..4).prop_map(|f| Some(format!("{{{}}}", f.join(", ")))),
    ]
}

/// A structurally valid request for task `t` with random, extreme and wrongly sized fields.
fn request_for(t: usize) -> impl Strategy<Value = String> {
    let (name, n, m, d, step) = spec(t);
    let x0 = length(n).prop_flat_map(numbers);
    let theta = prop_oneof![
        2 => Just(None),
        // θ near the nominal one cannot be drawn here (the binary's default is used instead
        // when absent); random entries exercise the model's parameter checks.
        1 => length(d).prop_flat_map(numbers).prop_map(Some),
    ];
    let voltage = (
        prop::option::weighted(0.2, numbers(3)),
        prop::option::weighted(0.2, numbers(3)),
        prop::option::weighted(0.2, numbers(3)),
    );
    let seed_rows = horizon(step).prop_flat_map(move |h| {
        let rows = h
            .as_deref()
            .and_then(|s| s.parse::<usize>().ok())
            .filter(|&h| h <= 40)
            .unwrap_or(step);
        let seed = prop::option::weighted(
            0.3,
            (length(rows), length(m)).prop_flat_map(|(r, c)| {
                prop::collection::vec(numbers(c), r..=r).prop_map(|v| format!("[{}]", v.join(",")))
            }),
        );
        (Just(h), seed)
    });
    (x0, theta, voltage, seed_rows, any::<bool>(), solver()).prop_map(
        move |(x0, theta, (v_env, q_min, q_max), (h, seed), jac, solver)| {
            let mut f = vec![format!("\"task\": \"{name}\""), format!("\"x0\": {x0}")];
            let opt = [
                ("horizon", h),
                ("theta", theta),
                ("v_env", v_env),
                ("q_min", q_min),
                ("q_max", q_max),
                ("vjp_seed", seed),
                ("solver", solver),
            ];
            for (k, v) in opt {
                if let Some(v) = v {
                    f.push(format!("\"{k}\": {v}"));
                }
            }
            if jac {
                f.push("\"jacobian\": true".into());
            }
            format!("{{{}}}", f.join(", "))
        },
    )
}

/// A valid request near the nominal problem: nominal θ scaled by up to ±50 % per entry and a
/// small random state, so most solves succeed and the solved path (Jacobians, VJP) is checked.
fn near_nominal(t: usize) -> impl Strategy<Value = String> {
    let (name, n, m, d, step) = spec(t);
    let theta = Task::ALL[t].mpc_true_theta();
    assert_eq!(theta.len(), d);
    (
        prop::collection::vec(-0.3f64..0.3, n),
        prop::collection::vec(0.5f64..1.5, d),
        1usize..=step.max(2),
    )
        .prop_map(move |(dx, scale, h)| {
            let mut x0 = dx;
            if name == "voltage" {
                // (v², q): squared voltages near 1 p.u., reactive powers inside the limits.
                for (j, x) in x0.iter_mut().enumerate() {
                    *x = if j < 3 { 1.0 + 0.2 * *x } else { *x };
                }
            }
            let th: Vec<f64> = theta.iter().zip(&scale).map(|(a, s)| a * s).collect();
            let seed: Vec<Vec<f64>> = (0..h).map(|i| vec![1.0 / (1 + i) as f64; m]).collect();
            json!({"task": name, "horizon": h, "x0": x0, "theta": th, "jacobian": true,
                   "vjp_seed": seed})
            .to_string()
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        check_answer(&bytes)?;
    }

    #[test]
    fn arbitrary_json_never_panics(v in any_json()) {
        check_answer(v.to_string().as_bytes())?;
    }

    #[test]
    fn adversarial_requests_every_task(req in (0usize..5).prop_flat_map(request_for)) {
        check_answer(req.as_bytes())?;
    }

    #[test]
    fn near_nominal_requests_every_task(req in (0usize..5).prop_flat_map(near_nominal)) {
        check_answer(req.as_bytes())?;
    }
}
