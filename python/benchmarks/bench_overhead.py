"""Python overhead and batched throughput of diffop.

1. Overhead: a cold ``solve`` + first-action θ-VJP called from Python, against the same work
   timed inside Rust on identical inputs (``Solver._native.bench_native``), for cart-pole H = 6
   and quadrotor H = 12 at the oracle θ. Target: Python ≤ 1.3 × Rust.
2. Throughput: B = 256 cart-pole solves + VJPs (``solve_batch`` + ``BatchSolution.vjp``) on a
   2-thread pool against a 1-thread pool. Target: ≥ 1.7 ×.

Run: ``python python/benchmarks/bench_overhead.py [--reps 300] [--json]``. Medians are reported;
the machine's load matters (on a shared 2-core machine the thread speed-up is bounded by it).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np

import diffop


def states(task: str, count: int, rng: np.random.Generator) -> np.ndarray:
    p = diffop.Problem.builtin(task)
    x = np.zeros((count, p.n))
    if task == "cartpole":
        x[:, 0] = rng.uniform(-1, 1, count)
        x[:, 1] = rng.uniform(-1, 1, count)
    else:  # quadrotor: position offset, unit quaternion
        x[:, 0:3] = rng.uniform(-2, 2, (count, 3))
        x[:, 6] = 1.0
    return x


def overhead(task: str, horizon: int, reps: int) -> dict:
    p = diffop.Problem.builtin(task, horizon=horizon)
    s = diffop.Solver(p)
    theta = p.oracle_theta
    x0s = states(task, 10, np.random.default_rng(0))
    seed = np.zeros((horizon, p.m))
    seed[0] = 1.0
    py, rs = [], []
    for x0 in x0s:
        # warm-up (compiles the derivative programs once per process)
        s.solve(x0, theta).vjp(seed, x0=False)
        for _ in range(reps // len(x0s)):
            t0 = time.perf_counter()
            s.solve(x0, theta).vjp(seed, x0=False)
            py.append(time.perf_counter() - t0)
        rs += s._native.bench_native(np.ascontiguousarray(x0), theta, seed.ravel(),
                                     reps // len(x0s))
    py_us, rs_us = statistics.median(py) * 1e6, statistics.median(rs) * 1e6
    return {"task": task, "horizon": horizon, "python_us": py_us, "rust_us": rs_us,
            "ratio": py_us / rs_us}


def throughput(batch: int, repeats: int) -> dict:
    p = diffop.Problem.builtin("cartpole")
    x0 = states("cartpole", batch, np.random.default_rng(1))
    seed = np.zeros((batch, p.horizon, 1))
    seed[:, 0] = 1.0
    out = {}
    for threads in (1, 2):
        s = diffop.Solver(p, threads=threads)
        s.solve_batch(x0, p.oracle_theta).vjp(seed, x0=False)
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            s.solve_batch(x0, p.oracle_theta).vjp(seed, x0=False)
            times.append(time.perf_counter() - t0)
        out[threads] = statistics.median(times)
    return {"batch": batch, "t1_ms": out[1] * 1e3, "t2_ms": out[2] * 1e3,
            "speedup": out[1] / out[2]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=300)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--repeats", type=int, default=7)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = [overhead("cartpole", 6, a.reps), overhead("quadrotor", 12, a.reps)]
    tp = throughput(a.batch, a.repeats)
    if a.json:
        print(json.dumps({"overhead": rows, "throughput": tp}, indent=2))
        return
    print("solve + VJP (cold, median µs)   Python    Rust    ratio")
    for r in rows:
        print(f"  {r['task']:<10} H={r['horizon']:<3}            {r['python_us']:7.1f} "
              f"{r['rust_us']:7.1f}   {r['ratio']:.2f}")
    print(f"batch B={tp['batch']} cart-pole solve+VJP: 1 thread {tp['t1_ms']:.1f} ms, "
          f"2 threads {tp['t2_ms']:.1f} ms, speed-up {tp['speedup']:.2f}")


if __name__ == "__main__":
    main()
