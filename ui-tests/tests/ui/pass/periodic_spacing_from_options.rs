// A periodic task's spacing and switch from declared options, and the start of a service
// whose tasks read options of a group the program did not register.

use std::time::Duration;

use oslo::config::GroupInfo;
use oslo::periodic::PeriodicTaskRegistry;
use oslo::prelude::*;
use oslo::testing::Harness;

mod opts {
    /// The poller's options.
    #[oslo::options(group = "poller")]
    pub struct PollerOpts {
        /// Time between two polls.
        #[opt(default = "10s", mutable)]
        pub interval: Duration,
        /// Whether to poll.
        #[opt(default = true, mutable)]
        pub r#polling: bool,
    }
    use std::time::Duration;
}

#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(spacing = opts::PollerOpts::interval, enabled = crate::opts::PollerOpts::r#polling)]
    async fn poll(&self) {}

    async fn start(&self, _cx: &Context) -> oslo::Result<()> {
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let tasks = Poller::periodic_tasks();
    let spec = tasks[0].spec();
    assert_eq!(spec.spacing_source().unwrap().to_string(), "[poller] interval");
    assert_eq!(spec.enabled_source().unwrap().to_string(), "[poller] polling");

    let groups = [GroupInfo::of::<opts::PollerOpts>()];
    let mut poller = Harness::new(Poller, "[poller]\ninterval = 3s\n", &groups).unwrap();
    poller.start().await.unwrap();
    assert!(poller.stop(Duration::from_secs(5)).await);

    let mut unregistered = Harness::new(Poller, "", &[]).unwrap();
    assert!(unregistered.start().await.is_err());
}
