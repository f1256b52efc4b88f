//! An enum of choices with `#[derive(OptionValue)]`, read from a file, listed with each
//! variant's doc comment in the sample config.

use oslo::config::{GroupInfo, OptionGroup, OptionValue, Snapshot};

/// How the engine runs.
#[derive(oslo::config::OptionValue, Clone, Copy, Debug, PartialEq)]
pub enum Mode {
    /// Skip the checks.
    Fast,
    /// Check everything
    /// twice.
    #[opt(name = "careful")]
    Safe,
    LowMemory,
}

/// The engine's options.
#[oslo::options(group = "engine", namespace = "engine")]
pub struct EngineOpts {
    /// How to run.
    #[opt(default = "fast")]
    pub mode: Mode,
}

fn main() {
    assert_eq!(Mode::CHOICES, ["fast", "careful", "low_memory"]);
    assert_eq!(Mode::CHOICE_HELP, ["Skip the checks.", "Check everything twice.", ""]);
    let snapshot = Snapshot::from_ini("[engine]\nmode = careful\n", None).unwrap();
    assert_eq!(EngineOpts::from_snapshot(&snapshot).unwrap().mode, Mode::Safe);
    let sample = oslo::config::generate_sample(&[GroupInfo::of::<EngineOpts>()], &[]).unwrap();
    assert!(
        sample.contains(
            "# Possible values:\n# fast - Skip the checks.\n# careful - Check everything twice.\n# low_memory - <No description provided>\n"
        ),
        "{sample}"
    );
}
