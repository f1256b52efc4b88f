//! The labels of a gRPC call: the name of its status code, and its method, bounded so
//! that no client can grow the family by making up paths.

// Recorded by the HTTP server alone: with metrics and without `http`, nothing calls it.
#![cfg_attr(not(feature = "http"), allow(dead_code))]

use std::collections::HashSet;

/// The names of gRPC's status codes, by number.
const CODES: [&str; 17] = [
    "OK",
    "CANCELLED",
    "UNKNOWN",
    "INVALID_ARGUMENT",
    "DEADLINE_EXCEEDED",
    "NOT_FOUND",
    "ALREADY_EXISTS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "FAILED_PRECONDITION",
    "ABORTED",
    "OUT_OF_RANGE",
    "UNIMPLEMENTED",
    "INTERNAL",
    "UNAVAILABLE",
    "DATA_LOSS",
    "UNAUTHENTICATED",
];

const UNKNOWN: u8 = 2;
const PERMISSION_DENIED: u8 = 7;
const UNIMPLEMENTED: u8 = 12;
const INTERNAL: u8 = 13;
const UNAVAILABLE: u8 = 14;
const UNAUTHENTICATED: u8 = 16;

/// The most methods one process labels by their path; the ones seen after are `other`
/// (the family's help and docs/metrics.md say how many).
pub(super) const MAX_METHODS: usize = 128;
/// A longer path is no method a service declares.
const MAX_PATH: usize = 256;
/// The label of every method not labelled by its path.
pub(super) const OTHER: &str = "other";
/// The label of a call that ended without a status.
const NONE: &str = "none";

/// A gRPC status code, always one of the 17 gRPC defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct Code(u8);

impl Code {
    /// The code of a `grpc-status` value: a number out of range, or no number, is
    /// `UNKNOWN`, as a client reads it.
    pub(super) fn parse(status: &[u8]) -> Code {
        let number = std::str::from_utf8(status)
            .ok()
            .and_then(|text| text.trim().parse::<u8>().ok())
            .filter(|&number| usize::from(number) < CODES.len());
        Code(number.unwrap_or(UNKNOWN))
    }

    /// The code a client reads from an HTTP status other than 200 that came without
    /// a `grpc-status`, as gRPC's HTTP to gRPC status mapping says.
    pub(super) fn from_http(status: u16) -> Code {
        Code(match status {
            400 => INTERNAL,
            401 => UNAUTHENTICATED,
            403 => PERMISSION_DENIED,
            404 => UNIMPLEMENTED,
            429 | 502 | 503 | 504 => UNAVAILABLE,
            _ => UNKNOWN,
        })
    }

    fn unimplemented(self) -> bool {
        self.0 == UNIMPLEMENTED
    }
}

/// The `code` label of a call that ended with `code`, or without one.
pub(super) fn code_label(code: Option<Code>) -> &'static str {
    code.map_or(NONE, |Code(number)| CODES[usize::from(number)])
}

/// The methods this process labels by their path.
#[derive(Debug, Default)]
pub(super) struct Methods {
    known: HashSet<String>,
}

impl Methods {
    /// The `method` label of a call to `path` that ended with `code`. A call answered
    /// `UNIMPLEMENTED` names no method the server has, so it is `other`, as is a path
    /// that is no gRPC method's or any new one once `MAX_METHODS` are known.
    pub(super) fn label(&mut self, path: &str, code: Option<Code>) -> String {
        if code.is_some_and(Code::unimplemented) || !is_method(path) {
            return OTHER.to_owned();
        }
        if self.known.contains(path) {
            return path.to_owned();
        }
        if self.known.len() < MAX_METHODS {
            self.known.insert(path.to_owned());
            return path.to_owned();
        }
        OTHER.to_owned()
    }
}

/// Whether `path` has the shape of a gRPC method's, `/package.Service/Method`: the
/// characters of protobuf names, nothing a label would have to escape.
fn is_method(path: &str) -> bool {
    path.len() <= MAX_PATH
        && path.starts_with('/')
        && path.matches('/').count() == 2
        && !path.ends_with('/')
        && path
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'/'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label(status: &[u8]) -> &'static str {
        code_label(Some(Code::parse(status)))
    }

    #[test]
    fn grpc_status_values_map_to_their_names_and_anything_else_to_unknown() {
        assert_eq!(label(b"0"), "OK");
        assert_eq!(label(b"1"), "CANCELLED");
        assert_eq!(label(b"12"), "UNIMPLEMENTED");
        assert_eq!(label(b"16"), "UNAUTHENTICATED");
        for odd in [
            &b"17"[..],
            b"255",
            b"256",
            b"99999999999999999999",
            b"-1",
            b"",
            b"OK",
            b"\xff",
        ] {
            assert_eq!(label(odd), "UNKNOWN", "{odd:?}");
        }
        assert_eq!(code_label(None), "none");
        assert_eq!(code_label(Some(Code::from_http(404))), "UNIMPLEMENTED");
        assert_eq!(code_label(Some(Code::from_http(503))), "UNAVAILABLE");
        assert_eq!(code_label(Some(Code::from_http(401))), "UNAUTHENTICATED");
        assert_eq!(code_label(Some(Code::from_http(500))), "UNKNOWN");
    }

    #[test]
    fn methods_are_bounded_and_unimplemented_ones_are_other() {
        let mut methods = Methods::default();
        let ok = Some(Code::parse(b"0"));
        let unimplemented = Some(Code::parse(b"12"));
        assert_eq!(
            methods.label("/greeter.Greeter/SayHello", ok),
            "/greeter.Greeter/SayHello"
        );
        assert_eq!(
            methods.label("/greeter.Greeter/SayHello", None),
            "/greeter.Greeter/SayHello"
        );
        assert_eq!(methods.label("/made.Up/Path", unimplemented), OTHER);
        for odd in [
            "/",
            "/a",
            "/a/b/c",
            "/a/",
            "/a/b c",
            "/a/\"b",
            "x/y",
            &format!("/a/{}", "b".repeat(300)),
        ] {
            assert_eq!(methods.label(odd, ok), OTHER, "{odd}");
        }
        // Unimplemented and odd paths took no place.
        for n in 1..MAX_METHODS {
            let path = format!("/made.Up/Path{n}");
            assert_eq!(methods.label(&path, ok), path);
        }
        assert_eq!(methods.label("/one.Too/Many", ok), OTHER);
        // Known methods keep their label once the bound is reached.
        assert_eq!(
            methods.label("/greeter.Greeter/SayHello", ok),
            "/greeter.Greeter/SayHello"
        );
        assert_eq!(methods.label("/made.Up/Path1", None), "/made.Up/Path1");
    }
}
