//! etcd's answers as its JSON gateway writes them, decoded into types, so that an answer
//! this client does not expect is an error, not a claim read as lost or a lease read as
//! gone.
//!
//! The gateway writes proto3 JSON: a field at its default value is left out (a `false`
//! `succeeded`, a lease of 0, an empty list, a `PUT` event's type, an empty string), and
//! 64-bit numbers are strings (`"revision":"5"`). So an absent field reads as its
//! default, which is what etcd means by leaving it out. What is unexpected, and decoded
//! as an error rather than as a default:
//!
//! - an answer that is not a JSON object;
//! - an answer without its `header`: etcd puts one on every answer read here (range,
//!   put, txn, lease grant, keep-alive and revoke, authenticate, each watch message;
//!   a transaction nested in another is the one exception, its header is not read);
//! - a field of another type than etcd's (a `succeeded` that is not a bool, `kvs` that
//!   is not a list);
//! - a 64-bit number that is not a decimal of at most 63 bits, or is negative
//!   (revisions, lease ids and TTLs are never);
//! - a key or value that is not base64;
//! - an event type other than `PUT` and `DELETE`, an event without its `kv`;
//! - a lease grant without a lease id (0, which etcd never grants, is left out too), an
//!   authentication without a token, a keep-alive without its `result`.
//!
//! Fields not read here are ignored, so a newer etcd that adds some is still read.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _, Visitor};

/// The longest decoding error kept: serde's messages may quote what they refused.
const MAX_REASON: usize = 200;

/// Decodes `answer` into `T`; the reason it cannot, bounded.
pub(super) fn decode<T: DeserializeOwned>(answer: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(answer).map_err(|err| bounded(err.to_string()))
}

/// Decodes one line of a watch's stream; the reason it cannot, bounded.
pub(super) fn decode_line(line: &[u8]) -> Result<WatchLine, String> {
    serde_json::from_slice(line).map_err(|err| bounded(err.to_string()))
}

fn bounded(mut reason: String) -> String {
    if reason.len() > MAX_REASON {
        let mut end = MAX_REASON;
        while !reason.is_char_boundary(end) {
            end -= 1;
        }
        reason.truncate(end);
        reason.push('…');
    }
    reason
}

/// The header of every answer: the revision it was read at.
#[derive(Debug, Deserialize)]
pub(super) struct Header {
    #[serde(default, deserialize_with = "int64")]
    pub(super) revision: i64,
}

/// One key as etcd holds it.
#[derive(Debug, Deserialize)]
pub(super) struct Kv {
    #[serde(default, deserialize_with = "base64")]
    pub(super) key: String,
    #[serde(default, deserialize_with = "base64")]
    pub(super) value: String,
    #[serde(default, deserialize_with = "int64")]
    pub(super) lease: i64,
    #[serde(default, deserialize_with = "int64")]
    pub(super) mod_revision: i64,
}

/// `kv/range`.
#[derive(Debug, Deserialize)]
pub(super) struct Range {
    pub(super) header: Header,
    #[serde(default)]
    pub(super) kvs: Vec<Kv>,
}

/// An answer read for its header only: `kv/put`, `lease/revoke`.
#[derive(Debug, Deserialize)]
pub(super) struct Acknowledged {
    #[expect(dead_code, reason = "read only to require it")]
    pub(super) header: Header,
}

/// `kv/txn`.
#[derive(Debug, Deserialize)]
pub(super) struct Txn {
    #[expect(dead_code, reason = "read only to require it")]
    pub(super) header: Header,
    #[serde(default)]
    pub(super) succeeded: bool,
    #[serde(default)]
    pub(super) responses: Vec<ResponseOp>,
}

impl Txn {
    /// The answer of the transaction nested as the first operation of the branch that
    /// ran, if it is there.
    pub(super) fn nested(&self) -> Option<&NestedTxn> {
        self.responses.first()?.response_txn.as_ref()
    }
}

/// One operation's answer in a transaction: only nested transactions are read.
#[derive(Debug, Deserialize)]
pub(super) struct ResponseOp {
    #[serde(default)]
    response_txn: Option<NestedTxn>,
}

/// A transaction nested in another.
#[derive(Debug, Deserialize)]
pub(super) struct NestedTxn {
    #[serde(default)]
    pub(super) succeeded: bool,
}

/// `lease/grant`.
#[derive(Debug, Deserialize)]
pub(super) struct LeaseGrant {
    #[expect(dead_code, reason = "read only to require it")]
    pub(super) header: Header,
    #[serde(rename = "ID", deserialize_with = "int64")]
    pub(super) id: i64,
    /// etcd's reason when it granted nothing.
    #[serde(default)]
    pub(super) error: String,
}

/// `lease/keepalive`: a stream of one answer.
#[derive(Debug, Deserialize)]
pub(super) struct KeepAliveStream {
    pub(super) result: KeepAlive,
}

/// A keep-alive's answer: a TTL of 0 (left out) when etcd no longer has the lease.
#[derive(Debug, Deserialize)]
pub(super) struct KeepAlive {
    #[expect(dead_code, reason = "read only to require it")]
    pub(super) header: Header,
    #[serde(rename = "TTL", default, deserialize_with = "int64")]
    pub(super) ttl: i64,
}

/// `auth/authenticate`.
#[derive(Debug, Deserialize)]
pub(super) struct Authenticated {
    #[expect(dead_code, reason = "read only to require it")]
    pub(super) header: Header,
    pub(super) token: String,
}

/// One line of a watch's stream: a watch answer, or the gateway's error.
#[derive(Debug, Deserialize)]
pub(super) struct WatchLine {
    #[serde(default)]
    pub(super) result: Option<Watch>,
    #[serde(default)]
    pub(super) error: Option<ErrorField>,
}

/// A watch answer.
#[derive(Debug, Deserialize)]
pub(super) struct Watch {
    pub(super) header: Header,
    #[serde(default)]
    pub(super) created: bool,
    #[serde(default)]
    pub(super) canceled: bool,
    #[serde(default)]
    pub(super) cancel_reason: String,
    #[serde(default, deserialize_with = "int64")]
    pub(super) compact_revision: i64,
    #[serde(default)]
    pub(super) events: Vec<Event>,
}

/// A change in a watch answer.
#[derive(Debug, Deserialize)]
pub(super) struct Event {
    #[serde(rename = "type", default)]
    pub(super) kind: EventKind,
    pub(super) kv: Kv,
}

/// What an event did; `PUT`, etcd's default, is left out.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "UPPERCASE")]
pub(super) enum EventKind {
    #[default]
    Put,
    Delete,
}

/// The body of a refusal: the gateway's `message`, or an `error` (a string, or an
/// object with its `message`, as a stream's error is written).
#[derive(Debug, Default, Deserialize)]
pub(super) struct Failure {
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    error: Option<ErrorField>,
}

impl Failure {
    /// What etcd said, if it said anything.
    pub(super) fn message(&self) -> Option<&str> {
        self.message
            .as_deref()
            .or_else(|| self.error.as_ref().and_then(ErrorField::message))
    }
}

/// A refusal's `error` field.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub(super) enum ErrorField {
    Text(String),
    Detail {
        #[serde(default)]
        message: Option<String>,
    },
}

impl ErrorField {
    pub(super) fn message(&self) -> Option<&str> {
        match self {
            ErrorField::Text(text) => Some(text),
            ErrorField::Detail { message } => message.as_deref(),
        }
    }
}

/// A 64-bit number as the gateway writes it (a decimal string; a plain number is taken
/// too): at most `i64::MAX`, never negative.
fn int64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<i64, D::Error> {
    struct Int64;
    impl Visitor<'_> for Int64 {
        type Value = i64;
        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("a non-negative 64-bit number, as a decimal string")
        }
        fn visit_u64<E: serde::de::Error>(self, value: u64) -> Result<i64, E> {
            i64::try_from(value).map_err(|_| E::custom("a number beyond 63 bits"))
        }
        fn visit_i64<E: serde::de::Error>(self, value: i64) -> Result<i64, E> {
            u64::try_from(value)
                .map_err(|_| E::custom("a negative number"))
                .and_then(|value| self.visit_u64(value))
        }
        fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<i64, E> {
            if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
                return Err(E::custom("a number that is not a non-negative decimal"));
            }
            let value: u64 = text
                .parse()
                .map_err(|_| E::custom("a number beyond 64 bits"))?;
            self.visit_u64(value)
        }
    }
    deserializer.deserialize_any(Int64)
}

/// A key or value: base64 of its bytes, read as UTF-8 (a byte that is not is replaced).
fn base64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
    let bytes = BASE64
        .decode(text.as_bytes())
        .map_err(|_| D::Error::custom("a key or value that is not base64"))?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read<T: DeserializeOwned>(text: &str) -> Result<T, String> {
        decode(serde_json::from_str(text).unwrap())
    }

    #[test]
    fn a_txn_answer_with_its_defaults_left_out_reads_as_not_succeeded() {
        // What etcd writes for a compare that failed: `succeeded` and `responses` absent.
        let txn: Txn =
            read(r#"{"header":{"cluster_id":"1","revision":"9","raft_term":"2"}}"#).unwrap();
        assert!(!txn.succeeded);
        assert!(txn.nested().is_none());
        let txn: Txn = read(
            r#"{"header":{"revision":"9"},"responses":[{"response_txn":{"header":{},"succeeded":true}}]}"#,
        )
        .unwrap();
        assert!(!txn.succeeded);
        assert!(txn.nested().unwrap().succeeded);
        let txn: Txn =
            read(r#"{"header":{"revision":"10"},"succeeded":true,"responses":[{"response_put":{"header":{}}}]}"#)
                .unwrap();
        assert!(txn.succeeded);
        assert!(txn.nested().is_none());
    }

    #[test]
    fn a_malformed_txn_answer_is_an_error_not_a_failed_compare() {
        for malformed in [
            "{}",
            r#"{"succeeded":true}"#,
            r#""ok""#,
            "[]",
            "null",
            r#"{"header":{},"succeeded":"true"}"#,
            r#"{"header":{"revision":"-1"},"succeeded":true}"#,
            r#"{"header":{},"responses":{}}"#,
        ] {
            assert!(read::<Txn>(malformed).is_err(), "{malformed}");
        }
        let err = read::<Txn>(r#"{"succeeded":true}"#).unwrap_err();
        assert!(err.contains("missing field `header`"), "{err}");
    }

    #[test]
    fn numbers_are_decimal_strings_bounded_to_63_bits() {
        let header = |revision: &str| read::<Header>(&format!(r#"{{"revision":{revision}}}"#));
        assert_eq!(header(r#""5""#).unwrap().revision, 5);
        assert_eq!(header("5").unwrap().revision, 5);
        assert_eq!(
            header(r#""9223372036854775807""#).unwrap().revision,
            i64::MAX
        );
        assert_eq!(read::<Header>("{}").unwrap().revision, 0);
        for refused in [
            r#""9223372036854775808""#,
            r#""99999999999999999999999""#,
            r#""-1""#,
            "-1",
            r#""+1""#,
            r#""1e3""#,
            r#""""#,
            "1.5",
            "true",
            "null",
        ] {
            assert!(header(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn a_range_answer_reads_its_keys() {
        let range: Range = read(
            r#"{"header":{"revision":"3"},"kvs":[{"key":"Zm9v","value":"YmFy","lease":"7","mod_revision":"2"}],"count":"1"}"#,
        )
        .unwrap();
        assert_eq!(range.header.revision, 3);
        let kv = &range.kvs[0];
        assert_eq!(
            (&*kv.key, &*kv.value, kv.lease, kv.mod_revision),
            ("foo", "bar", 7, 2)
        );
        // No keys: `kvs` and `count` left out.
        assert!(
            read::<Range>(r#"{"header":{"revision":"3"}}"#)
                .unwrap()
                .kvs
                .is_empty()
        );
        assert!(read::<Range>(r#"{"header":{},"kvs":[{"key":"not base64!"}]}"#).is_err());
        assert!(read::<Range>(r#"{"kvs":[]}"#).is_err());
    }

    #[test]
    fn leases_and_tokens_are_required_where_etcd_always_gives_them() {
        let grant: LeaseGrant =
            read(r#"{"header":{"revision":"1"},"ID":"7587862072907133189","TTL":"10"}"#).unwrap();
        assert_eq!(grant.id, 7_587_862_072_907_133_189);
        assert!(read::<LeaseGrant>(r#"{"header":{},"TTL":"10"}"#).is_err());
        // A lease etcd no longer has: TTL 0, left out.
        let kept: KeepAliveStream = read(r#"{"result":{"header":{},"ID":"1"}}"#).unwrap();
        assert_eq!(kept.result.ttl, 0);
        let kept: KeepAliveStream = read(r#"{"result":{"header":{},"TTL":"9"}}"#).unwrap();
        assert_eq!(kept.result.ttl, 9);
        assert!(read::<KeepAliveStream>(r#"{"header":{},"TTL":"9"}"#).is_err());
        assert!(read::<Authenticated>(r#"{"header":{}}"#).is_err());
        let auth: Authenticated = read(r#"{"header":{},"token":"abc.1"}"#).unwrap();
        assert_eq!(auth.token, "abc.1");
    }

    #[test]
    fn watch_events_default_to_put_and_refuse_other_kinds() {
        let line = decode_line(
            br#"{"result":{"header":{"revision":"4"},"events":[{"type":"DELETE","kv":{"key":"YQ=="}},{"kv":{"key":"Yg==","value":"dg=="}}]}}"#,
        )
        .unwrap();
        let events = line.result.unwrap().events;
        assert_eq!(events[0].kind, EventKind::Delete);
        assert_eq!(events[1].kind, EventKind::Put);
        assert!(
            decode_line(br#"{"result":{"header":{},"events":[{"type":"MOVE","kv":{}}]}}"#).is_err()
        );
        assert!(decode_line(br#"{"result":{"header":{},"events":[{"type":"PUT"}]}}"#).is_err());
        assert!(decode_line(br#"{"result":{"events":[]}}"#).is_err());
        assert!(decode_line(b"not json").is_err());
    }

    #[test]
    fn refusals_say_what_etcd_said() {
        let failure = |text: &str| read::<Failure>(text).unwrap();
        assert_eq!(
            failure(r#"{"error":"etcdserver: key not found","code":5}"#).message(),
            Some("etcdserver: key not found")
        );
        assert_eq!(
            failure(r#"{"code":5,"message":"lease not found","details":[]}"#).message(),
            Some("lease not found")
        );
        assert_eq!(
            failure(r#"{"error":{"grpc_code":14,"message":"transport is closing"}}"#).message(),
            Some("transport is closing")
        );
        assert_eq!(failure("{}").message(), None);
    }

    #[test]
    fn decoding_errors_are_bounded() {
        let long = "x".repeat(10_000);
        let err = read::<Range>(&format!(r#"{{"header":{{}},"kvs":"{long}"}}"#)).unwrap_err();
        assert!(err.len() <= MAX_REASON + '…'.len_utf8(), "{}", err.len());
    }
}
