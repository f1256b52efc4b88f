//! Turning the text of a configuration value into a typed value.

use std::path::PathBuf;
use std::time::Duration;

/// A type an option's text can be read as. Implemented for strings, paths, booleans
/// (oslo.config's spellings), integers, floats and durations (a number of seconds).
pub trait OptionValue: Sized {
    /// Reads `text`, or says why it cannot.
    fn parse_option(text: &str) -> Result<Self, String>;
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
    fn parse_option(text: &str) -> Result<Self, String> {
        match text.to_ascii_lowercase().as_str() {
            "true" | "1" | "on" | "yes" => Ok(true),
            "false" | "0" | "off" | "no" => Ok(false),
            _ => Err("expected a boolean (true/false, yes/no, on/off, 1/0)".to_owned()),
        }
    }
}

macro_rules! from_str_values {
    ($($ty:ty => $what:literal),* $(,)?) => {$(
        impl OptionValue for $ty {
            fn parse_option(text: &str) -> Result<Self, String> {
                text.trim()
                    .parse()
                    .map_err(|err| format!(concat!("expected ", $what, ": {}"), err))
            }
        }
    )*};
}

from_str_values!(
    i32 => "an integer", i64 => "an integer", u16 => "an integer from 0 to 65535",
    u32 => "a non-negative integer", u64 => "a non-negative integer",
    usize => "a non-negative integer", f64 => "a number",
);

impl OptionValue for Duration {
    fn parse_option(text: &str) -> Result<Self, String> {
        let seconds: f64 = text
            .trim()
            .parse()
            .map_err(|_| "expected a number of seconds".to_owned())?;
        Duration::try_from_secs_f64(seconds)
            .map_err(|_| "expected a non-negative number of seconds".to_owned())
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
    fn numbers_and_durations() {
        assert_eq!(u64::parse_option(" 60 "), Ok(60));
        assert!(u64::parse_option("-1").is_err());
        assert_eq!(
            Duration::parse_option("1.5"),
            Ok(Duration::from_millis(1500))
        );
        assert!(Duration::parse_option("-2").is_err());
        assert!(Duration::parse_option("soon").is_err());
    }
}
