/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    /// Seconds between polls.
    #[opt(default = 30, mutable)]
    #[opt(mutable)]
    interval: u32,
}

fn main() {}
