//! Duration literals checked at compile time: `"10s"`, `"1m30s"`, `"250ms"`, `"1h"` (the
//! units of the humantime crate, which the runtime reads config values with too), or a
//! number of seconds.

/// Reads a duration literal into nanoseconds; the message says what is wrong.
pub(crate) fn parse(text: &str) -> Result<u64, String> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return seconds_to_nanos(u128::from(seconds));
    }
    let duration = humantime::parse_duration(text).map_err(|err| not_a_duration(text, &err))?;
    u64::try_from(duration.as_nanos()).map_err(|_| format!("`{text}` is too long a duration"))
}

/// Why `text` is no duration, with what one looks like. Of humantime's own words, only
/// those that name the fault are kept: "expected number at 0" says neither.
fn not_a_duration(text: &str, err: &humantime::DurationError) -> String {
    const LOOKS: &str =
        "expected a duration such as \"10s\", \"1m30s\", \"250ms\" or a number of seconds";
    match err {
        humantime::DurationError::Empty => format!("an empty string is not a duration; {LOOKS}"),
        humantime::DurationError::UnknownUnit { .. } | humantime::DurationError::NumberOverflow => {
            format!("`{text}` is not a duration ({err}); {LOOKS}")
        }
        _ => format!("`{text}` is not a duration; {LOOKS}"),
    }
}

/// Whole seconds in nanoseconds, refusing what does not fit a `u64`.
pub(crate) fn seconds_to_nanos(seconds: u128) -> Result<u64, String> {
    seconds
        .checked_mul(1_000_000_000)
        .and_then(|n| u64::try_from(n).ok())
        .ok_or_else(|| format!("{seconds} seconds is too long a duration"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    #[test]
    fn reads_units_and_combinations() {
        assert_eq!(parse("10s"), Ok(10 * S));
        assert_eq!(parse("1m30s"), Ok(90 * S));
        assert_eq!(parse("250ms"), Ok(S / 4));
        assert_eq!(parse("1h"), Ok(3600 * S));
        assert_eq!(parse("2d"), Ok(2 * 86_400 * S));
        assert_eq!(parse("15"), Ok(15 * S));
        assert_eq!(parse("1s500ms"), Ok(3 * S / 2));
        assert_eq!(parse("0s"), Ok(0));
        assert_eq!(parse("1.5s"), Ok(3 * S / 2));
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "s", "ten seconds", "-1s", "10x", "1m30"] {
            let message = parse(bad).unwrap_err();
            assert!(message.contains("is not a duration"), "{bad:?}: {message}");
            assert!(!message.contains(" at "), "{bad:?}: {message}");
        }
        assert_eq!(
            parse("soon").unwrap_err(),
            "`soon` is not a duration; expected a duration such as \"10s\", \"1m30s\", \"250ms\" or a number of seconds"
        );
        assert!(parse("99999999999d").unwrap_err().contains("too long"));
    }
}
