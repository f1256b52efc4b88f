use std::collections::HashMap;

/// Options.
#[oslo::options(group = "poller")]
struct PollerOpts {
    /// Labels.
    labels: HashMap<String, String>,
    /// Pairs.
    pairs: Option<(u32, u32)>,
}

fn main() {}
