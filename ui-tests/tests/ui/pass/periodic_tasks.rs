// Every accepted form of #[periodic_task], listed by the generated registry in order.

use oslo::periodic::{PeriodicTaskRegistry, Spacing};
use oslo::prelude::*;
use std::time::Duration;

#[oslo::service(periodic_interval_max = "30s", periodic_fuzzy_delay = "5s")]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task]
    async fn bare(&self) {}

    #[periodic_task(spacing = "1m30s", run_immediately = true)]
    async fn with_context(&self, _cx: &Context) -> oslo::Result<()> {
        Ok(())
    }

    #[oslo::periodic_task(spacing = 0.5, name = "renamed", external_process_ok)]
    async fn unit_with_context(&self, _cx: &oslo::Context) -> () {}

    #[periodic_task(spacing = -1, enabled = false)]
    async fn disabled(&self) -> oslo::Result<()> {
        Ok(())
    }

    fn helper(&self) {}
}

fn main() {
    Poller.helper();
    let tasks = Poller::periodic_tasks();
    let names: Vec<_> = tasks.iter().map(|t| t.spec().name()).collect();
    assert_eq!(names, ["bare", "with_context", "renamed", "disabled"]);
    assert_eq!(tasks[0].spec().spacing_value(), Spacing::Default);
    assert_eq!(tasks[1].spec().spacing_value(), Spacing::Every(Duration::from_secs(90)));
    assert_eq!(tasks[2].spec().spacing_value(), Spacing::Every(Duration::from_millis(500)));
    assert!(tasks[2].spec().is_external_process_ok());
    assert_eq!(tasks[3].spec().spacing_value(), Spacing::Negative);
}
