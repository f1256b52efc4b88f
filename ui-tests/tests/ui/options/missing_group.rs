/// Options.
#[oslo::options]
struct PollerOpts {
    /// Seconds between polls.
    #[opt(default = 30)]
    interval: u32,
}

fn main() {}
