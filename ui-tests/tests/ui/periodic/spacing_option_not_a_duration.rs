use std::time::Duration;

/// The poller's options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    /// Time between two polls.
    #[opt(default = "10s")]
    interval: Duration,
    /// Where to poll.
    #[opt(default = "http://127.0.0.1")]
    url: String,
    /// Whether to poll.
    #[opt(default = true)]
    polling: bool,
}

#[oslo::service]
struct Poller;

#[oslo::service]
impl Poller {
    #[periodic_task(spacing = PollerOpts::url)]
    async fn poll(&self) {}
}

fn main() {}
