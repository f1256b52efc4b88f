/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts(u32);

fn main() {}
