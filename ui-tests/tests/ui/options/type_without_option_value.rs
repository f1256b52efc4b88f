/// Not an option type.
struct Endpoint;

/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    /// The endpoint.
    endpoint: Option<Endpoint>,
}

fn main() {}
