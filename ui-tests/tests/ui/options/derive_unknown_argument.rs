/// How to run.
#[derive(oslo::config::OptionValue)]
enum Mode {
    /// Skip the checks.
    #[opt(rename = "quick")]
    Fast,
    /// Check everything.
    Safe,
}

fn main() {}
