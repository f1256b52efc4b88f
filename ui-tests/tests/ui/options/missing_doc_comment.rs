/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    #[opt(default = 30)]
    interval: u32,
}

fn main() {}
