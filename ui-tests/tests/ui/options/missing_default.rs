/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    /// Seconds between polls.
    interval: u32,
}

fn main() {}
