//! Turning the text of a configuration value into a typed value.

use std::path::PathBuf;
use std::time::Duration;

/// A type an option's text can be read as. Implemented for strings, paths, booleans
/// (oslo.config's spellings), integers, floats, [`Port`], [`ByteSize`] (`"512M"`,
/// `"1G"` or bytes) and durations (`"30s"`, `"1m30s"`, `"250ms"` or a number of
/// seconds).
///
/// An enum of choices derives it: each variant is one value, its name in snake_case or
/// `#[opt(name = "...")]`, and its doc comment that value's description in the sample
/// config.
///
/// ```
/// use oslo::config::{GroupInfo, OptionGroup, OptionValue, Snapshot};
///
/// /// How the engine runs.
/// #[derive(oslo::config::OptionValue, Debug, PartialEq)]
/// enum Mode {
///     /// Skip the checks.
///     Fast,
///     /// Check everything twice.
///     #[opt(name = "careful")]
///     Safe,
///     LowMemory,
/// }
///
/// /// A group with a choice of the user's type.
/// #[oslo::options(group = "engine")]
/// struct EngineOpts {
///     /// How to run.
///     #[opt(default = "fast")]
///     mode: Mode,
/// }
///
/// assert_eq!(Mode::CHOICES, ["fast", "careful", "low_memory"]);
/// assert_eq!(Mode::CHOICE_HELP, ["Skip the checks.", "Check everything twice.", ""]);
/// let snapshot = Snapshot::from_ini("[engine]\nmode = careful\n", None)?;
/// assert_eq!(EngineOpts::from_snapshot(&snapshot)?.mode, Mode::Safe);
/// assert_eq!(
///     Mode::parse_option("slow"),
///     Err("expected one of 'fast', 'careful', 'low_memory'".to_owned())
/// );
/// let sample = oslo::config::generate_sample(&[GroupInfo::of::<EngineOpts>()], &[])?;
/// let described = "# fast - Skip the checks.\n# careful - Check everything twice.\n";
/// assert!(sample.contains(described));
/// assert!(sample.contains("# low_memory - <No description provided>\n"));
/// # Ok::<(), oslo::config::ConfigError>(())
/// ```
///
/// Or implement it for a type of your own to use it as the type of an
/// `#[oslo::options]` field:
///
/// ```
/// use oslo::config::OptionValue;
///
/// #[derive(Debug, PartialEq)]
/// enum Mode { Fast, Safe }
///
/// impl OptionValue for Mode {
///     const TYPE_NAME: &'static str = "string";
///     const CHOICES: &'static [&'static str] = &["fast", "safe"];
///     fn parse_option(text: &str) -> Result<Self, String> {
///         match text {
///             "fast" => Ok(Mode::Fast),
///             "safe" => Ok(Mode::Safe),
///             _ => Err("expected fast or safe".to_owned()),
///         }
///     }
/// }
///
/// /// A group with a choice of the user's type.
/// #[oslo::options(group = "engine")]
/// struct EngineOpts {
///     /// How to run.
///     #[opt(default = "safe")]
///     mode: Mode,
/// }
/// # use oslo::config::OptionGroup;
/// # let s = oslo::config::Snapshot::from_ini("[engine]\nmode = fast\n", None)?;
/// # assert_eq!(EngineOpts::from_snapshot(&s)?.mode, Mode::Fast);
/// # Ok::<(), oslo::config::ConfigError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a type an option can have",
    label = "not an option type",
    note = "options take String, bool, integers, f64, oslo::config::Port, Duration, PathBuf, Vec<T>, BTreeMap<String, String>, Option<T>, a type that implements oslo::config::OptionValue, or a type that derives serde::Deserialize with `#[opt(serde)]` on the field"
)]
pub trait OptionValue: Sized {
    /// The type as the sample config file names it: `string value`, `integer value`…
    /// (without ` value`).
    const TYPE_NAME: &'static str = "string";
    /// The only texts accepted, when not empty; listed in the sample config file.
    const CHOICES: &'static [&'static str] = &[];
    /// What each of [`CHOICES`](Self::CHOICES) means, at the same index, for the sample
    /// config file (`# fast - Skip the checks.`). Empty, shorter than `CHOICES`, or an
    /// empty text: no description for that choice (`<No description provided>`).
    const CHOICE_HELP: &'static [&'static str] = &[];
    /// Reads `text`, or says why it cannot.
    fn parse_option(text: &str) -> Result<Self, String>;
}

/// A TCP or UDP port number, from 0 to 65535: oslo.config's `PortOpt`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port(pub u16);

impl Port {
    /// The port number.
    pub const fn get(self) -> u16 {
        self.0
    }
}

impl std::fmt::Display for Port {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl OptionValue for Port {
    const TYPE_NAME: &'static str = "port";
    fn parse_option(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map(Port)
            .map_err(|_| "expected a port number from 0 to 65535".to_owned())
    }
}

impl OptionValue for String {
    fn parse_option(text: &str) -> Result<Self, String> {
        Ok(text.to_owned())
    }
}

impl OptionValue for PathBuf {
    fn parse_option(text: &str) -> Result<Self, String> {
        Ok(PathBuf::from(text))
    }
}

impl OptionValue for bool {
    const TYPE_NAME: &'static str = "boolean";
    fn parse_option(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Ok(true),
            "false" | "0" | "off" | "no" => Ok(false),
            _ => Err("expected a boolean (true/false, yes/no, on/off, 1/0)".to_owned()),
        }
    }
}

macro_rules! from_str_values {
    ($kind:literal: $($ty:ty => $what:literal),* $(,)?) => {$(
        impl OptionValue for $ty {
            const TYPE_NAME: &'static str = $kind;
            fn parse_option(text: &str) -> Result<Self, String> {
                text.trim()
                    .parse()
                    .map_err(|err| format!(concat!("expected ", $what, ": {}"), err))
            }
        }
    )*};
}

from_str_values!("integer":
    i8 => "an integer", i16 => "an integer", i32 => "an integer", i64 => "an integer",
    isize => "an integer", u8 => "an integer from 0 to 255",
    u16 => "an integer from 0 to 65535", u32 => "a non-negative integer",
    u64 => "a non-negative integer", usize => "a non-negative integer",
);

impl OptionValue for f64 {
    const TYPE_NAME: &'static str = "floating point";
    fn parse_option(text: &str) -> Result<Self, String> {
        match text.trim().parse::<f64>() {
            Ok(number) if number.is_finite() => Ok(number),
            Ok(_) => Err("expected a finite number".to_owned()),
            Err(err) => Err(format!("expected a number: {err}")),
        }
    }
}

/// A size in bytes: a number of bytes, or one with a binary suffix (`K`, `M`, `G`, `T`,
/// each 1024 times the one before, as systemd and granian read them; `512M`, `1G`,
/// `1.5G`; a trailing `B` or `iB` is allowed). At most [`ByteSize::MAX`], so that what
/// is computed from one never overflows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// The largest size an option takes: 1 PiB.
    pub const MAX: ByteSize = ByteSize(1 << 50);

    /// The number of bytes.
    pub const fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for ByteSize {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl OptionValue for ByteSize {
    const TYPE_NAME: &'static str = "size";
    fn parse_option(text: &str) -> Result<Self, String> {
        const LOOKS: &str = "expected a size such as 512M, 1G or a number of bytes";
        let text = text.trim();
        let lower = text.to_ascii_lowercase();
        let number = lower
            .strip_suffix("ib")
            .or_else(|| lower.strip_suffix('b'))
            .unwrap_or(&lower);
        let (number, shift) = match number.char_indices().last() {
            Some((at, 'k')) => (&number[..at], 10),
            Some((at, 'm')) => (&number[..at], 20),
            Some((at, 'g')) => (&number[..at], 30),
            Some((at, 't')) => (&number[..at], 40),
            _ => (number, 0),
        };
        let number = number.trim();
        let bytes = if let Ok(whole) = number.parse::<u64>() {
            (whole <= ByteSize::MAX.0 >> shift).then(|| whole << shift)
        } else {
            match number.parse::<f64>() {
                // Only with a suffix: a byte is not split.
                Ok(n) if shift > 0 && n.is_finite() && n >= 0.0 => {
                    let bytes = n * (1u64 << shift) as f64;
                    (bytes <= ByteSize::MAX.0 as f64).then_some(bytes as u64)
                }
                _ => return Err(format!("`{text}` is not a size; {LOOKS}")),
            }
        };
        bytes
            .map(ByteSize)
            .ok_or_else(|| "expected a size of at most 1P (1125899906842624 bytes)".to_owned())
    }
}

/// The longest duration an option takes: a century (of 365.25 days, as humantime counts
/// `100y`). Any instant a service computes
/// from a duration option (a deadline, a lease's end) stays far from the clock's limits.
pub(crate) const MAX_DURATION: Duration = Duration::from_secs(3_155_760_000);

impl OptionValue for Duration {
    const TYPE_NAME: &'static str = "duration";
    fn parse_option(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let duration = match text.parse::<f64>() {
            Ok(seconds) => Duration::try_from_secs_f64(seconds)
                .map_err(|_| "expected a non-negative number of seconds".to_owned())?,
            Err(_) => humantime::parse_duration(text).map_err(|err| not_a_duration(text, &err))?,
        };
        if duration > MAX_DURATION {
            return Err("expected a duration of at most 100 years".to_owned());
        }
        Ok(duration)
    }
}

/// Why `text` is no duration, with what one looks like. Of humantime's own words, only
/// those that name the fault are kept: "expected number at 0" says neither.
fn not_a_duration(text: &str, err: &humantime::DurationError) -> String {
    const LOOKS: &str = "expected a duration such as 10s, 1m30s, 250ms or a number of seconds";
    match err {
        humantime::DurationError::Empty => format!("an empty value is not a duration; {LOOKS}"),
        humantime::DurationError::UnknownUnit { .. } | humantime::DurationError::NumberOverflow => {
            format!("`{text}` is not a duration ({err}); {LOOKS}")
        }
        _ => format!("`{text}` is not a duration; {LOOKS}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn booleans_take_oslo_spellings() {
        for yes in ["true", "True", "1", "on", "YES"] {
            assert_eq!(bool::parse_option(yes), Ok(true));
        }
        for no in ["false", "0", "off", "No"] {
            assert_eq!(bool::parse_option(no), Ok(false));
        }
        assert!(bool::parse_option("maybe").is_err());
    }

    #[test]
    fn no_number_or_duration_past_what_arithmetic_on_it_survives() {
        for text in ["nan", "NaN", "inf", "-inf", "1e309"] {
            assert!(f64::parse_option(text).is_err(), "{text}");
        }
        for text in [
            "18446744073709551615",
            "1e309",
            "nan",
            "-1",
            "101y",
            "5000000000s",
        ] {
            assert!(Duration::parse_option(text).is_err(), "{text}");
        }
        assert_eq!(Duration::parse_option("100y"), Ok(MAX_DURATION));
    }

    #[test]
    fn sizes_in_bytes_or_with_a_binary_suffix_and_bounded() {
        for (text, bytes) in [
            ("0", 0),
            (" 4096 ", 4096),
            ("512M", 512 << 20),
            ("512MiB", 512 << 20),
            ("1g", 1 << 30),
            ("1.5G", 3 << 29),
            ("64 KB", 64 << 10),
            ("1024T", 1 << 50),
        ] {
            assert_eq!(ByteSize::parse_option(text), Ok(ByteSize(bytes)), "{text}");
        }
        for text in [
            "", "M", "-1", "-1G", "1.5", "1X", "nanG", "infG", "1025T", "1e300G",
        ] {
            assert!(ByteSize::parse_option(text).is_err(), "{text}");
        }
        assert!(ByteSize::parse_option("18446744073709551615").is_err());
    }

    #[test]
    fn numbers_and_durations() {
        assert_eq!(u64::parse_option(" 60 "), Ok(60));
        assert!(u64::parse_option("-1").is_err());
        assert_eq!(
            Duration::parse_option("1.5"),
            Ok(Duration::from_millis(1500))
        );
        assert!(Duration::parse_option("-2").is_err());
        assert_eq!(
            Duration::parse_option("soon"),
            Err(
                "`soon` is not a duration; expected a duration such as 10s, 1m30s, 250ms or a number of seconds"
                    .to_owned()
            )
        );
        assert!(Duration::parse_option("soon").is_err());
        assert_eq!(Duration::parse_option("1m30s"), Ok(Duration::from_secs(90)));
        assert_eq!(
            Duration::parse_option("250ms"),
            Ok(Duration::from_millis(250))
        );
        for bad in ["", "s", "1m30", "10 x", "99999999999999999999999d"] {
            assert!(Duration::parse_option(bad).is_err(), "{bad:?}");
        }
        assert_eq!(Port::parse_option("8080"), Ok(Port(8080)));
        assert!(Port::parse_option("70000").is_err());
    }
}
