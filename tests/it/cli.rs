//! End-to-end tests of the `diffop` binary.

use serde_json::Value;
use std::io::Write;
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diffop"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn diffop")
}

fn solve(request: &str) -> Output {
    let mut child = bin()
        .args(["solve", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn diffop");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.as_bytes())
        .expect("write request");
    child.wait_with_output().expect("wait diffop")
}

fn json(out: &Output) -> Value {
    let text = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {text}"))
}

fn shape(v: &Value) -> Vec<usize> {
    let mut dims = Vec::new();
    let mut cur = v;
    while let Some(a) = cur.as_array() {
        dims.push(a.len());
        match a.first() {
            Some(f) => cur = f,
            None => break,
        }
    }
    dims
}

#[test]
fn solve_cartpole_shapes_jacobian_and_vjp() {
    let out = solve(
        r#"{"task": "cartpole", "horizon": 6, "x0": [0, 0.5, 0, 0], "jacobian": true,
            "vjp_seed": [[1.0], [-0.5], [0.25], [0], [2], [0.1]]}"#,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["status"], "solved");
    assert_eq!(shape(&v["x"]), vec![7, 4]);
    assert_eq!(shape(&v["u"]), vec![6, 1]);
    assert_eq!(shape(&v["costates"]), vec![6, 4]);
    assert_eq!(shape(&v["jacobian"]), vec![6, 1, 11]);
    assert_eq!(shape(&v["jacobian_x0"]), vec![6, 1, 4]);
    let seed = [1.0, -0.5, 0.25, 0.0, 2.0, 0.1];
    let jac = &v["jacobian"];
    let vjp = v["vjp"].as_array().expect("vjp");
    assert_eq!(vjp.len(), 11);
    for k in 0..11 {
        let expect: f64 = (0..6)
            .map(|i| seed[i] * jac[i][0][k].as_f64().expect("number"))
            .sum();
        let got = vjp[k].as_f64().expect("number");
        assert!(
            (got - expect).abs() <= 1e-8 * (1.0 + expect.abs()),
            "vjp[{k}] = {got}, seedᵀJ = {expect}"
        );
    }
}

#[test]
fn solve_voltage_defaults() {
    let out = solve(
        r#"{"task": "voltage", "horizon": 6, "x0": [0.81, 0.74, 0.75, 0, 0, 0], "jacobian": true}"#,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["status"], "solved");
    assert_eq!(shape(&v["x"]), vec![7, 6]);
    assert_eq!(shape(&v["u"]), vec![6, 3]);
    assert_eq!(shape(&v["jacobian"]), vec![6, 3, 12]);
    assert_eq!(v["mu"].as_array().map(Vec::len), Some(7));
    assert!(v["active"].as_u64().is_some());
}

#[test]
fn solve_rejects_bad_input() {
    for (req, needle) in [
        (r#"{"task": "pendulum", "x0": [0, 0, 0, 0]}"#, "pendulum"),
        (r#"{"task": "cartpole", "x0": [0, 0, 0]}"#, "x0"),
        (r#"{"task": "cartpole", "x0": [0, 0, 0, 0"#, "invalid"),
        (
            r#"{"task": "cartpole", "x0": [0, 0, 0, 0], "colour": 1}"#,
            "colour",
        ),
        (r#"{"task": "cartpole"}"#, "x0"),
        (r#"{"task": "cartpole", "x0": ["a", 0, 0, 0]}"#, "invalid"),
        (
            r#"{"task": "cartpole", "x0": [0, 0, 0, 0], "theta": [1, 2]}"#,
            "theta",
        ),
        (
            r#"{"task": "cartpole", "x0": [0, 0, 0, 0], "vjp_seed": [[1]]}"#,
            "vjp_seed",
        ),
        (
            r#"{"task": "cartpole", "x0": [0, 0, 0, 0], "solver": {"tol": -1}}"#,
            "tol",
        ),
    ] {
        let out = solve(req);
        assert!(!out.status.success(), "accepted: {req}");
        let v = json(&out);
        let msg = v["error"]
            .as_str()
            .unwrap_or_else(|| panic!("no error field: {v}"));
        assert!(msg.contains(needle), "`{msg}` lacks `{needle}`");
        assert!(!out.stderr.is_empty());
    }
}

#[test]
fn env_list_names_every_task() {
    let out = run(&["env", "list", "--format", "json"]);
    assert!(out.status.success());
    let v = json(&out);
    let names: Vec<&str> = v
        .as_array()
        .expect("array")
        .iter()
        .filter_map(|r| r["task"].as_str())
        .collect();
    assert_eq!(names, ["cartpole", "arm", "quadrotor", "rocket", "voltage"]);
    assert_eq!(v[2]["d"], 31);
    assert!(run(&["env", "list"]).status.success());
}

#[test]
fn rollout_voltage_gradient_flow_matches_golden() {
    let out = run(&[
        "rollout",
        "--task",
        "voltage",
        "--controller",
        "gradient-flow",
        "--seed",
        "0",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let steps = v["steps"].as_array().expect("steps");
    assert_eq!(steps.len(), 100);
    assert_eq!(steps[0]["t"], 1);
    let f1 = steps[0]["cost"].as_f64().expect("cost");
    assert!((f1 + 0.14290818).abs() < 5e-9, "F_1 = {f1}");
    let f100 = steps[99]["cost"].as_f64().expect("cost");
    assert!((f100 + 0.27946969).abs() < 5e-9, "F_100 = {f100}");
}

#[test]
fn rollout_plots_png_and_svg() {
    let dir = std::env::temp_dir();
    let pid = std::process::id();
    for (task, ctl, ext) in [
        ("voltage", "gradient-flow", "png"),
        ("voltage", "zero", "svg"),
        ("cartpole", "zero", "png"),
    ] {
        let path = dir.join(format!("diffop_cli_test_{pid}_{task}_{ctl}.{ext}"));
        let p = path.to_string_lossy().to_string();
        let out = run(&["rollout", "--task", task, "--controller", ctl, "--plot", &p]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        assert!(len > 1000, "{p} has {len} bytes");
        let _ = std::fs::remove_file(&path);
    }
    let bad = run(&[
        "rollout",
        "--task",
        "voltage",
        "--controller",
        "zero",
        "--plot",
        "x.gif",
    ]);
    assert!(!bad.status.success());
    let missing_dir = dir.join("diffop_no_such_dir").join("x.png");
    let p = missing_dir.to_string_lossy().to_string();
    let bad = run(&[
        "rollout",
        "--task",
        "voltage",
        "--controller",
        "zero",
        "--plot",
        &p,
    ]);
    assert!(!bad.status.success());
    assert!(!bad.stderr.is_empty());
}

#[test]
fn eval_voltage_json_shape() {
    let out = run(&[
        "eval",
        "--task",
        "voltage",
        "--controller",
        "gradient-flow",
        "--scenarios",
        "20",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["scenarios"], 20);
    assert_eq!(v["controller"], "gradient-flow");
    assert!(v["transient"].as_f64().is_some_and(|t| t < 0.0));
    assert!(v["steady"].as_f64().is_some());
    let n =
        v["low"]["scenarios"].as_u64().unwrap_or(0) + v["high"]["scenarios"].as_u64().unwrap_or(0);
    assert_eq!(n, 20);
}

#[test]
fn eval_cartpole_zero() {
    let out = run(&[
        "eval",
        "--task",
        "cartpole",
        "--controller",
        "zero",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["costs"].as_array().map(Vec::len), Some(5));
    assert!(v["mean_cost"].as_f64().is_some_and(|c| c > 0.0));
}

#[test]
fn bench_cartpole_json_columns() {
    let out = run(&[
        "bench",
        "--task",
        "cartpole",
        "--episodes",
        "2",
        "--format",
        "json",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    let rows = v.as_array().expect("array");
    assert_eq!(rows.len(), 2);
    for row in rows {
        for key in [
            "task",
            "horizon",
            "mode",
            "solve_median_us",
            "solve_p90_us",
            "vjp_median_us",
            "solve_vjp_median_us",
            "jacobian_median_us",
            "calls",
            "failures",
        ] {
            assert!(row.get(key).is_some(), "missing {key} in {row}");
        }
        assert_eq!(row["task"], "cartpole");
        assert_eq!(row["calls"], 40);
    }
    assert_eq!(rows[0]["mode"], "closed-loop");
    assert_eq!(rows[1]["mode"], "cold");
}

#[test]
fn help_teaches() {
    let out = run(&["--help"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("Examples:"));
    assert!(text.contains("diffop solve"));
}

#[test]
fn rollout_from_a_checkpoint() {
    let dir = std::env::temp_dir().join(format!("diffop_cli_ckpt_{}", std::process::id()));
    let d = dir.to_string_lossy().to_string();
    let out = run(&[
        "train",
        "--task",
        "cartpole",
        "--iterations",
        "1",
        "--out",
        &d,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let trained = run(&["rollout", "--checkpoint", &d, "--format", "json"]);
    assert!(
        trained.status.success(),
        "{}",
        String::from_utf8_lossy(&trained.stderr)
    );
    let v = json(&trained);
    assert_eq!(v["task"], "cartpole");
    assert_eq!(v["steps"].as_array().map(|a| a.len()), Some(30));
    assert!(v["controller"].as_str().unwrap().contains("iteration 1"));
    let before = run(&[
        "rollout",
        "--checkpoint",
        &d,
        "--untrained",
        "--format",
        "json",
    ]);
    assert!(before.status.success());
    let b = json(&before);
    assert!(b["controller"].as_str().unwrap().contains("θ(0)"));
    assert_ne!(v["total"], b["total"], "θ changed after one iteration");
    let png = dir.join("r.png");
    let p = png.to_string_lossy().to_string();
    let plotted = run(&["rollout", "--checkpoint", &d, "--plot", &p]);
    assert!(plotted.status.success());
    assert!(std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0) > 1000);
    // the task must agree with the checkpoint; --horizon is the run's
    let bad = run(&["rollout", "--checkpoint", &d, "--task", "arm"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("does not match"));
    let bad = run(&["rollout", "--checkpoint", &d, "--horizon", "3"]);
    assert!(!bad.status.success());
    let missing = run(&["rollout", "--checkpoint", "/no/such/run"]);
    assert!(!missing.status.success());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn baseline_tiny_run_writes_run_directory() {
    let dir = std::env::temp_dir().join(format!("diffop-cli-baseline-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = run(&[
        "baseline",
        "--method",
        "rlmpc-td-dpg",
        "--task",
        "cartpole",
        "--iterations",
        "2",
        "--batch",
        "2",
        "--eval-every",
        "1",
        "--quiet",
        "--format",
        "json",
        "--out",
        dir.to_str().expect("utf-8 path"),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v = json(&out);
    assert_eq!(v["method"], "rlmpc-td-dpg");
    assert_eq!(v["iterations"], 2);
    assert!(v["eval_cost"].as_f64().is_some());
    let summary: Value = serde_json::from_str(
        &std::fs::read_to_string(dir.join("summary.json")).expect("summary.json"),
    )
    .expect("summary is JSON");
    assert_eq!(summary["eval_cost"], v["eval_cost"]);
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).expect("metrics.csv");
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "iteration,batch_mean_cost,eval_cost,grad_norm,failed_solves,weakly_active,wall_time_s"
        )
    );
    assert_eq!(lines.count(), 3);
    let config = std::fs::read_to_string(dir.join("config.toml")).expect("config.toml");
    assert!(config.contains("method = \"td-dpg\""));
    // Extend the finished run by one iteration from its checkpoint.
    let more = run(&[
        "baseline",
        "--resume",
        "--iterations",
        "3",
        "--quiet",
        "--format",
        "json",
        "--out",
        dir.to_str().expect("utf-8 path"),
    ]);
    assert!(
        more.status.success(),
        "{}",
        String::from_utf8_lossy(&more.stderr)
    );
    assert_eq!(json(&more)["iterations"], 3);
    let csv = std::fs::read_to_string(dir.join("metrics.csv")).expect("metrics.csv");
    assert_eq!(csv.lines().count(), 5, "{csv}");
    let nothing = run(&["baseline", "--resume", "--out", "/nonexistent/diffop-run"]);
    assert!(!nothing.status.success());
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("nothing to resume"));
    let bad = run(&["baseline", "--method", "rlmpc-td", "--alpha=-1"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("alpha_td"));
    let _ = std::fs::remove_dir_all(&dir);
}
