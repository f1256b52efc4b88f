//! Duration literals checked at compile time: `"10s"`, `"1m30s"`, `"250ms"`, `"1h"`, or
//! a number of seconds.

/// Nanoseconds in each unit a duration literal may use, longest names first so that
/// `ms` is not read as `m`.
const UNITS: &[(&str, u128)] = &[
    ("ms", 1_000_000),
    ("us", 1_000),
    ("ns", 1),
    ("d", 86_400_000_000_000),
    ("h", 3_600_000_000_000),
    ("m", 60_000_000_000),
    ("s", 1_000_000_000),
];

/// Reads a duration literal into nanoseconds; the message says what is wrong.
pub(crate) fn parse(text: &str) -> Result<u64, String> {
    let expected = "expected a duration such as \"10s\", \"1m30s\" or \"250ms\" (units: d, h, m, s, ms, us, ns)";
    let text = text.trim();
    if text.is_empty() {
        return Err(format!("empty duration; {expected}"));
    }
    if let Ok(seconds) = text.parse::<u64>() {
        return seconds_to_nanos(u128::from(seconds));
    }
    let mut total: u128 = 0;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("`{text}` is not a duration; {expected}"));
        }
        let number: u128 = rest[..digits]
            .parse()
            .map_err(|_| format!("`{text}` is too long a duration"))?;
        rest = &rest[digits..];
        let Some((unit, nanos)) = UNITS.iter().find(|(unit, _)| rest.starts_with(unit)) else {
            return Err(if rest.is_empty() {
                format!("`{text}` ends with a number without a unit; {expected}")
            } else {
                format!("`{text}` is not a duration; {expected}")
            });
        };
        rest = &rest[unit.len()..];
        total = number
            .checked_mul(*nanos)
            .and_then(|n| total.checked_add(n))
            .ok_or_else(|| format!("`{text}` is too long a duration"))?;
    }
    u64::try_from(total).map_err(|_| format!("`{text}` is too long a duration"))
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
    }

    #[test]
    fn refuses_what_is_not_a_duration() {
        for bad in ["", "s", "ten seconds", "10 s", "1.5s", "-1s", "10x", "1m30"] {
            assert!(parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(parse("1m30").unwrap_err().contains("without a unit"));
        assert!(parse("99999999999d").unwrap_err().contains("too long"));
    }
}
