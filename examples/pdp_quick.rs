use diffop::learn::pdp::{Pdp, PdpSettings};
use diffop::model::tasks::NonlinearTask;
use std::time::Instant;
fn main() {
    for task in [NonlinearTask::Cartpole, NonlinearTask::Arm] {
        let t = Instant::now();
        let mut pdp = Pdp::new(task, PdpSettings::for_task(task)).unwrap();
        println!(
            "{:?}: demo costs {:?} ({:?})",
            task,
            pdp.demos().iter().map(|d| d.cost).collect::<Vec<_>>(),
            t.elapsed()
        );
        let t = Instant::now();
        for k in 0..200 {
            let l = pdp.step().unwrap();
            if k % 50 == 0 {
                println!("  it {k} loss {l:.4}");
            }
        }
        println!(
            "  200 its in {:?}; eval {:.2}",
            t.elapsed(),
            pdp.evaluate().unwrap()
        );
    }
}
