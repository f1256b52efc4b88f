//! W3C Trace Context's `traceparent` header, read from a request, and the sampling
//! decision made from it.

/// A valid parent: its trace, its span and whether it was sampled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Parent {
    pub(crate) trace_id: [u8; 16],
    pub(crate) span_id: [u8; 8],
    pub(crate) sampled: bool,
}

/// Reads `00-<32 hex>-<16 hex>-<2 hex>`; anything else, or an id of zeros, is no
/// parent (the request starts a trace of its own). A version other than 00 is read as
/// 00 when its first four fields are well formed, as the specification asks; version
/// ff is invalid.
#[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP server's alone
pub(crate) fn parse(header: &[u8]) -> Option<Parent> {
    let header = header.trim_ascii();
    if header.len() < 55 {
        return None;
    }
    let version = hex_byte(&header[0..2])?;
    if version == 0xff || (version == 0 && header.len() != 55) {
        return None;
    }
    // A later version may add fields, after a dash.
    if header.len() > 55 && header[55] != b'-' {
        return None;
    }
    if header[2] != b'-' || header[35] != b'-' || header[52] != b'-' {
        return None;
    }
    let mut trace_id = [0u8; 16];
    for (i, byte) in trace_id.iter_mut().enumerate() {
        *byte = hex_byte(&header[3 + 2 * i..5 + 2 * i])?;
    }
    let mut span_id = [0u8; 8];
    for (i, byte) in span_id.iter_mut().enumerate() {
        *byte = hex_byte(&header[36 + 2 * i..38 + 2 * i])?;
    }
    let flags = hex_byte(&header[53..55])?;
    if trace_id == [0; 16] || span_id == [0; 8] {
        return None;
    }
    Some(Parent {
        trace_id,
        span_id,
        sampled: flags & 1 == 1,
    })
}

/// Two lowercase hex digits (the specification allows no uppercase).
#[cfg_attr(not(feature = "http"), allow(dead_code))] // the HTTP server's alone
fn hex_byte(two: &[u8]) -> Option<u8> {
    let digit = |c: u8| match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        _ => None,
    };
    Some(digit(two[0])? << 4 | digit(two[1])?)
}

/// Whether to trace: as the parent says when there is one, else `ratio` of the roots.
pub(crate) fn sampled(parent: Option<&Parent>, ratio: f64, draw: impl FnOnce() -> f64) -> bool {
    match parent {
        Some(parent) => parent.sampled,
        None if ratio >= 1.0 => true,
        None if ratio <= 0.0 => false,
        None => draw() < ratio,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

    #[test]
    fn a_valid_header_gives_its_ids_and_flag() {
        let parent = parse(GOOD.as_bytes()).unwrap();
        assert_eq!(parent.trace_id[..4], [0x4b, 0xf9, 0x2f, 0x35]);
        assert_eq!(
            parent.span_id,
            [0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7]
        );
        assert!(parent.sampled);
        let unsampled = GOOD.replace("-01", "-00");
        assert!(!parse(unsampled.as_bytes()).unwrap().sampled);
        // Other flags do not make it sampled; surrounding spaces are allowed.
        let other = format!(" {} ", GOOD.replace("-01", "-02"));
        assert!(!parse(other.as_bytes()).unwrap().sampled);
    }

    #[test]
    fn bad_headers_are_no_parent() {
        for bad in [
            "",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",
            "00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",
            "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "0g-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
        ] {
            assert_eq!(parse(bad.as_bytes()), None, "{bad}");
        }
    }

    #[test]
    fn a_later_version_is_read_as_00() {
        let later = GOOD.replacen("00", "01", 1) + "-what-comes-next";
        assert!(parse(later.as_bytes()).is_some());
        let glued = GOOD.replacen("00", "01", 1) + "x";
        assert_eq!(parse(glued.as_bytes()), None);
    }

    #[test]
    fn the_parent_decides_else_the_ratio() {
        let yes = parse(GOOD.as_bytes()).unwrap();
        let no = Parent {
            sampled: false,
            ..yes
        };
        let never = || panic!("no draw with a parent or a ratio of 0 or 1");
        assert!(sampled(Some(&yes), 0.0, never));
        assert!(!sampled(Some(&no), 1.0, never));
        assert!(sampled(None, 1.0, never));
        assert!(!sampled(None, 0.0, never));
        assert!(sampled(None, 0.25, || 0.2));
        assert!(!sampled(None, 0.25, || 0.25));
        assert!(!sampled(None, 0.25, || 0.9));
    }
}
