//! Voltage plant benchmarks: one AC power flow (sweep and Newton–Raphson, flat start) and the full
//! Table-2 evaluation of the safe gradient flow (500 scenarios × 100 steps).

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use diffop::envs::voltage::network::{injections, Network};
use diffop::envs::voltage::powerflow::{newton_raphson, sweep, FLAT_START};
use diffop::envs::voltage::{evaluate, EvalSettings, GradientFlow, Scenario};

fn power_flow(c: &mut Criterion) {
    let net = Network::ieee13();
    let y = net.admittance();
    let s = injections(&Scenario::draw(0).sgen_p, &[0.2, 0.3, 0.25]);
    c.bench_function("power_flow/sweep_flat_start", |b| {
        b.iter(|| {
            let mut v = FLAT_START;
            sweep(&net, black_box(&s), &mut v, 1e-12, 500).map(|i| (i.iterations, v[9]))
        })
    });
    c.bench_function("power_flow/newton_flat_start", |b| {
        b.iter(|| {
            let mut v = FLAT_START;
            newton_raphson(&y, black_box(&s), &mut v, 1e-12, 30).map(|i| (i.iterations, v[9]))
        })
    });
}

fn table2_eval(c: &mut Criterion) {
    let settings = EvalSettings::default();
    let mut g = c.benchmark_group("eval");
    g.sample_size(10);
    g.bench_function("gradient_flow_500x100", |b| {
        b.iter(|| evaluate(black_box(&settings), GradientFlow::default).map(|m| m.transient))
    });
    g.finish();
}

criterion_group!(benches, power_flow, table2_eval);
criterion_main!(benches);
