//! The `diffop` binary under faults and odd inputs (issue 19): closed pipes and full disks,
//! exit codes, bounds, options that must not be ignored, exact resume of every run file.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_diffop"))
}

fn run(args: &[&str]) -> Output {
    bin().args(args).output().expect("spawn diffop")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("diffop_rel_{name}_{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn solve_with(request: &[u8], stdout: Stdio) -> Output {
    let mut child = bin()
        .args(["solve", "-"])
        .stdin(Stdio::piped())
        .stdout(stdout)
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn diffop");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request)
        .expect("write request");
    child.wait_with_output().expect("wait diffop")
}

#[test]
fn closed_pipe_exits_quietly_after_writing_the_plot() {
    let dir = tmp("pipe");
    std::fs::create_dir_all(&dir).unwrap();
    let png = dir.join("v.png");
    let mut child = bin()
        .args([
            "rollout",
            "--task",
            "voltage",
            "--controller",
            "gradient-flow",
        ])
        .arg("--plot")
        .arg(&png)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader goes away before anything is printed
    let out = child.wait_with_output().expect("wait");
    assert_eq!(out.status.code(), Some(141), "stderr: {}", stderr(&out));
    assert!(!stderr(&out).contains("panicked"), "{}", stderr(&out));
    assert!(std::fs::metadata(&png).map(|m| m.len()).unwrap_or(0) > 1000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn full_disk_is_a_typed_error_not_a_panic() {
    let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
    let Ok(full) = full else {
        eprintln!("no /dev/full on this system; skipped");
        return;
    };
    let out = solve_with(br#"{"task":"cartpole","x0":[0,0.5,0,0]}"#, full.into());
    assert_eq!(out.status.code(), Some(1), "stderr: {}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("writing to standard output failed"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = bin()
        .args(["env", "list"])
        .stdout(full)
        .output()
        .expect("spawn");
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
}

#[test]
fn exit_codes_usage_2_unconverged_3() {
    let out = run(&["rollout", "--task", "nope", "--controller", "zero"]);
    assert_eq!(out.status.code(), Some(2));
    let req = br#"{"task":"cartpole","x0":[0,0.5,0,0],"solver":{"max_iter":1}}"#;
    let out = solve_with(req, Stdio::piped());
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON answer");
    assert_ne!(v["status"], "solved");
    let help = run(&["--help"]);
    let text = String::from_utf8_lossy(&help.stdout);
    assert!(
        text.contains("3 `solve`: the solve did not converge"),
        "{text}"
    );
}

#[test]
fn bounds_on_threads_horizon_and_echoed_input() {
    let out = run(&[
        "train",
        "--threads",
        "100000",
        "--quiet",
        "--out",
        "/nonexistent/x",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("at most 1024"));
    let out = run(&[
        "train",
        "--horizon",
        "200000",
        "--quiet",
        "--out",
        "/nonexistent/x",
    ]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("between 1 and 1000"),
        "{}",
        stderr(&out)
    );
    let out = run(&[
        "eval",
        "--task",
        "cartpole",
        "--controller",
        "mpc-true",
        "--horizon",
        "5000",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = solve_with(
        br#"{"task":"cartpole","x0":[0,0.5,0,0],"horizon":20000}"#,
        Stdio::piped(),
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("between 1 and 10000"),
        "{}",
        stderr(&out)
    );
    // A 5 MB string where θ should be: the message is shortened, on stderr and in the JSON.
    let long = "9".repeat(5_000_000);
    let req = format!(r#"{{"task":"cartpole","x0":[0,0.5,0,0],"theta":"{long}"}}"#);
    let out = solve_with(req.as_bytes(), Stdio::piped());
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stderr.len() < 4000,
        "stderr has {} bytes",
        out.stderr.len()
    );
    assert!(
        out.stdout.len() < 4000,
        "stdout has {} bytes",
        out.stdout.len()
    );
    assert!(stderr(&out).contains("more characters"), "{}", stderr(&out));
}

#[test]
fn rollout_plot_path_is_checked_before_the_episode() {
    let out = run(&[
        "rollout",
        "--task",
        "cartpole",
        "--controller",
        "mpc-true",
        "--plot",
        "/missing/x.png",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty(), "nothing printed before the error");
    let err = stderr(&out);
    assert!(
        err.contains("cannot create the plot file `/missing/x.png`"),
        "{err}"
    );
    assert_eq!(
        err.matches("No such file or directory").count(),
        1,
        "OS error once: {err}"
    );
}

#[test]
fn options_that_need_a_checkpoint_are_usage_errors() {
    let out = run(&[
        "rollout",
        "--task",
        "cartpole",
        "--controller",
        "mpc-true",
        "--untrained",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    let out = run(&[
        "eval",
        "--task",
        "cartpole",
        "--controller",
        "mpc-true",
        "--references",
    ]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
}

#[test]
fn env_list_names_states_and_controls() {
    let out = run(&["env", "list"]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    for s in [
        "pole angle",
        "rad",
        "thrust of rotor 1",
        "MVar",
        "-1.4",
        "attitude quaternion",
    ] {
        assert!(text.contains(s), "missing {s}: {text}");
    }
    let out = run(&["env", "list", "--format", "json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v[0]["states"][1]["unit"], "rad");
    assert_eq!(v[4]["states"][5]["upper"], 0.6);
}

fn train(out: &Path, extra: &[&str]) -> Output {
    let mut args = vec![
        "train",
        "--task",
        "cartpole",
        "--iterations",
        "3",
        "--quiet",
        "--out",
    ];
    let o = out.to_str().unwrap();
    args.push(o);
    args.extend_from_slice(extra);
    run(&args)
}

/// Every file of a run directory, with the wall-clock values masked: the `wall_time_s`
/// column of the CSV files and the `wall_time_s` / `elapsed_s` keys of the JSON files.
fn run_files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut files = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        let bytes = std::fs::read(&p).unwrap();
        let masked = if name.ends_with(".csv") {
            mask_csv(&String::from_utf8(bytes).unwrap()).into_bytes()
        } else if name.ends_with(".json") {
            let mut v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
            mask_json(&mut v);
            // The text must also be the same apart from the masked values: compare both.
            let mut out = serde_json::to_vec(&v).unwrap();
            out.extend(mask_json_text(&String::from_utf8(bytes).unwrap()).into_bytes());
            out
        } else {
            bytes
        };
        files.insert(name, masked);
    }
    files
}

fn mask_csv(text: &str) -> String {
    let mut lines = text.lines();
    let head = lines.next().unwrap_or("");
    let col = head.split(',').position(|c| c == "wall_time_s");
    let mut out = vec![head.to_string()];
    for l in lines {
        let mut cells: Vec<&str> = l.split(',').collect();
        if let Some(c) = col {
            cells[c] = "*";
        }
        out.push(cells.join(","));
    }
    out.join("\n")
}

fn mask_json(v: &mut serde_json::Value) {
    match v {
        serde_json::Value::Object(m) => {
            for (k, x) in m.iter_mut() {
                if k == "wall_time_s" || k == "elapsed_s" || k.contains("wall_time") {
                    *x = serde_json::Value::Null;
                } else {
                    mask_json(x);
                }
            }
        }
        serde_json::Value::Array(a) => a.iter_mut().for_each(mask_json),
        _ => {}
    }
}

fn mask_json_text(text: &str) -> String {
    text.lines()
        .map(|l| {
            if l.contains("\"wall_time") || l.contains("\"elapsed_s\"") {
                "*".to_string()
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn assert_same_files(a: &Path, b: &Path) {
    let (fa, fb) = (run_files(a), run_files(b));
    assert_eq!(
        fa.keys().collect::<Vec<_>>(),
        fb.keys().collect::<Vec<_>>(),
        "same file names"
    );
    for (name, bytes) in &fa {
        assert!(bytes == &fb[name], "{name} differs between {a:?} and {b:?}");
    }
}

#[test]
fn resumed_runs_write_byte_identical_files() {
    let full = tmp("full");
    let out = train(&full, &[]);
    assert!(out.status.success(), "{}", stderr(&out));
    // Interrupted after 1 iteration, resumed to 3.
    let part = tmp("part");
    let out = train(&part, &["--stop-after", "1"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!part.join("summary.json").exists());
    let out = train(&part, &["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_files(&full, &part);
    // Interrupted before the first iteration (references done), and resuming a finished run.
    let zero = tmp("zero");
    let out = train(&zero, &["--stop-after", "0"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(train(&zero, &["--resume"]).status.success());
    assert!(train(&zero, &["--resume"]).status.success());
    assert_same_files(&full, &zero);
    // Interrupted before anything was written: an empty directory resumes from scratch.
    let empty = tmp("empty");
    std::fs::create_dir_all(&empty).unwrap();
    let out = train(&empty, &["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_files(&full, &empty);
    for d in [full, part, zero, empty] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn train_refuses_a_folder_that_is_not_a_run() {
    let dir = tmp("foreign");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("metrics.csv"), "mine\n").unwrap();
    std::fs::write(dir.join("notes.txt"), "mine\n").unwrap();
    let out = train(&dir, &[]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("is not a run directory"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        std::fs::read_to_string(dir.join("metrics.csv")).unwrap(),
        "mine\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn eval_checkpoint_honours_or_rejects_every_option() {
    let dir = tmp("evalck");
    let d = dir.to_str().unwrap();
    let out = run(&[
        "train",
        "--task",
        "cartpole",
        "--iterations",
        "1",
        "--quiet",
        "--out",
        d,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let table = run(&["eval", "--checkpoint", d]);
    assert!(table.status.success(), "{}", stderr(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("mean true episode cost") && text.contains("trained θ"),
        "{text}"
    );
    let js = run(&[
        "eval",
        "--checkpoint",
        d,
        "--format",
        "json",
        "--references",
    ]);
    let v: serde_json::Value = serde_json::from_slice(&js.stdout).expect("JSON");
    assert!(v["mpc_true"]["cost"].as_f64().is_some());
    let h = run(&["eval", "--checkpoint", d, "--horizon", "3"]);
    assert_eq!(h.status.code(), Some(2));
    let s = run(&["eval", "--checkpoint", d, "--scenarios", "3"]);
    assert_eq!(s.status.code(), Some(2), "cart-pole has no scenarios");
    // An RLMPC checkpoint: the message says what can be evaluated.
    let ck = std::fs::read_to_string(dir.join("checkpoint.json")).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&ck).unwrap();
    v["config"]["method"] = "td".into();
    let rl = dir.join("rlmpc.json");
    std::fs::write(&rl, v.to_string()).unwrap();
    let out = run(&["eval", "--checkpoint", rl.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("is an RLMPC run"), "{}", stderr(&out));
    let _ = std::fs::remove_dir_all(&dir);
}

/// A tiny deterministic generator for the kill delays (no dependency).
fn delays(seed: u64, n: usize, max_ms: u64) -> Vec<u64> {
    let mut s = seed;
    (0..n)
        .map(|_| {
            s = s
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (s >> 33) % max_ms
        })
        .collect()
}

#[test]
fn killed_at_random_points_then_resumed_gives_identical_files() {
    let full = tmp("kfull");
    assert!(train(&full, &[]).status.success());
    let dir = tmp("kill");
    let o = dir.to_str().unwrap().to_string();
    for (round, ms) in delays(19, 6, 2500).into_iter().enumerate() {
        let mut args = vec![
            "train",
            "--task",
            "cartpole",
            "--iterations",
            "3",
            "--quiet",
        ];
        args.extend(["--out", &o]);
        if round > 0 {
            args.push("--resume");
        }
        let mut child = bin().args(&args).stderr(Stdio::null()).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(ms));
        let _ = child.kill();
        let _ = child.wait();
    }
    let out = train(&dir, &["--resume"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same_files(&full, &dir);
    let _ = std::fs::remove_dir_all(&full);
    let _ = std::fs::remove_dir_all(&dir);
}
