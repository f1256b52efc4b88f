use std::time::Duration;

/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    /// Time between polls.
    #[opt(default = "30 parsecs")]
    interval: Duration,
}

fn main() {}
