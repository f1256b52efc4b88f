//! The periodic-task scheduler's cost: per task run, and per tick as the number of tasks
//! that are not due grows. Run with `cargo bench -p oslo-service --bench periodic`.

use std::time::Duration;

use oslo::periodic::{PeriodicTask, PeriodicTaskSpec, PeriodicTasks, Spacing};
use oslo::{Config, Context};

struct Service;

fn noop(spec: PeriodicTaskSpec) -> PeriodicTask<Service> {
    PeriodicTask::new(spec, |_: &Service, _cx| Box::pin(async { Ok(()) }))
}

/// One task due at every tick, among `idle` tasks that are due in an hour.
fn scheduler(idle: usize) -> PeriodicTasks<Service> {
    let mut tasks = PeriodicTasks::new("Service");
    for index in 0..idle {
        let spec = PeriodicTaskSpec::new(format!("idle{index}"))
            .spacing(Spacing::Every(Duration::from_secs(3600)));
        tasks.add_periodic_task(noop(spec));
    }
    let due = PeriodicTaskSpec::new("due")
        .spacing(Spacing::Every(Duration::from_nanos(1)))
        .run_immediately(true);
    tasks.add_periodic_task(noop(due));
    tasks
}

#[divan::bench(args = [0, 100, 10_000])]
fn tick_with_one_due_task(bencher: divan::Bencher, idle_tasks: usize) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let cx = Context::new("bench", Config::default());
    let mut tasks = scheduler(idle_tasks);
    bencher.bench_local(|| {
        runtime
            .block_on(tasks.run_periodic_tasks(&Service, &cx, false))
            .unwrap();
    });
}

fn main() {
    divan::main();
}
