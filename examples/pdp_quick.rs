//! PDP (Offline) timing and progress: `cargo run --release --example pdp_quick [ITERS] [warm]`.
use diffop::learn::pdp::{Pdp, PdpSettings};
use diffop::model::tasks::NonlinearTask;
use std::time::Instant;
fn main() {
    let iters: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(200);
    let warm = std::env::args().nth(2).is_some();
    for task in [
        NonlinearTask::Cartpole,
        NonlinearTask::Arm,
        NonlinearTask::Quadrotor,
    ] {
        let t = Instant::now();
        let settings = PdpSettings {
            warm_start: warm,
            ..PdpSettings::for_task(task)
        };
        let mut pdp = Pdp::new(task, settings).unwrap();
        println!(
            "{:?}: demo costs {:?} ({:?})",
            task,
            pdp.demos().iter().map(|d| d.cost).collect::<Vec<_>>(),
            t.elapsed()
        );
        let t = Instant::now();
        for k in 0..iters {
            let l = pdp.step().unwrap();
            if k % (iters / 4).max(1) == 0 {
                println!("  it {k} loss {l:.4}");
            }
        }
        println!(
            "  {iters} its in {:?}; eval {:.2}",
            t.elapsed(),
            pdp.evaluate().unwrap()
        );
    }
}
