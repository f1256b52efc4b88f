/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    /// Seconds between polls.
    #[opt(default = 30, maximum = 60)]
    interval: u32,
}

fn main() {}
