/// How to run.
#[derive(oslo::config::OptionValue)]
enum Mode {
    /// Skip the checks.
    FastPath,
    /// Skip them too.
    #[opt(name = "fast_path")]
    Quick,
}

fn main() {}
