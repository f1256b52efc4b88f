/// Not an enum.
#[derive(oslo::config::OptionValue)]
struct Mode {
    fast: bool,
}

/// Options.
#[oslo::options(group = "engine")]
struct EngineOpts {
    /// How to run.
    mode: Option<Mode>,
}

fn main() {}
