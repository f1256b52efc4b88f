use std::time::Duration;

/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    /// Time between polls.
    #[opt(default = "30 seconds")]
    interval: Duration,
}

fn main() {}
