/// How to run.
#[derive(oslo::config::OptionValue)]
enum Mode {
    /// Skip the checks.
    Fast,
    /// Check this many times.
    Safe(u32),
}

fn main() {}
