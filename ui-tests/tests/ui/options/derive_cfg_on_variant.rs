/// How to run.
#[derive(oslo::config::OptionValue)]
enum Mode {
    /// Quick.
    Fast,
    /// Only where it can be.
    #[cfg(target_os = "linux")]
    Careful,
}

fn main() {}
