/// Options.
#[oslo::options(group = "poller")]
enum PollerOpts {
    Fast,
}

fn main() {}
