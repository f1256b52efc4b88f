/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    /// Ports.
    #[opt(multi)]
    ports: Vec<u16>,
}

fn main() {}
