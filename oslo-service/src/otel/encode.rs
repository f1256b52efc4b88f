//! Spans written straight into protobuf, field by field with prost's encoders: an
//! attribute when the span is given it, the rest of the span when it ends (into the
//! queue), and the enclosing messages of an export around a batch of them. No message
//! struct is built for a span, so a traced request costs the bytes it adds, nothing
//! more. The bytes are those prost's derived messages (`proto`) write, which the tests
//! check.

use prost::Message;
use prost::encoding::{WireType, encode_varint, encoded_len_varint};

use super::{Record, proto};

/// The body of an export: one `ResourceSpans` of `resource`, with one `ScopeSpans` of
/// `scope` and `spans`, spans written by [`span_field`] end to end.
pub(super) fn export_request(
    resource: &proto::Resource,
    scope: &proto::InstrumentationScope,
    spans: &[u8],
) -> Vec<u8> {
    let scope_spans_len = field_len(scope.encoded_len()) + spans.len();
    let resource_spans_len = field_len(resource.encoded_len()) + field_len(scope_spans_len);
    let mut body = Vec::with_capacity(field_len(resource_spans_len));
    field_key(1, WireType::LengthDelimited, &mut body);
    encode_varint(resource_spans_len as u64, &mut body);
    message(1, resource, &mut body);
    field_key(2, WireType::LengthDelimited, &mut body);
    encode_varint(scope_spans_len as u64, &mut body);
    message(1, scope, &mut body);
    body.extend_from_slice(spans);
    body
}

/// A span as field 2 of a `ScopeSpans`: its key, its length `len`, then the `len`
/// bytes `write` appends.
pub(super) fn span_field(len: usize, buf: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    field_key(2, WireType::LengthDelimited, buf);
    encode_varint(len as u64, buf);
    let start = buf.len();
    write(buf);
    debug_assert_eq!(buf.len() - start, len, "a span's length was miscounted");
}

/// The length of a length-delimited field (of a tag below 16) whose content is `len`
/// bytes long.
fn field_len(len: usize) -> usize {
    1 + encoded_len_varint(len as u64) + len
}

fn length_delimited(tag: u32, bytes: &[u8], buf: &mut Vec<u8>) {
    field_key(tag, WireType::LengthDelimited, buf);
    varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

fn message(tag: u32, message: &impl Message, buf: &mut Vec<u8>) {
    field_key(tag, WireType::LengthDelimited, buf);
    encode_varint(message.encoded_len() as u64, buf);
    // A Vec grows as needed: encoding into it cannot fail.
    let _ = message.encode(buf);
}

/// The length of `record` written by [`write_span`].
pub(super) fn span_len(record: &Record) -> usize {
    let name = record.name_bytes();
    // The trace id and span id, each a key, a one-byte length and the id.
    let mut len = 2 + record.trace_id.len() + 2 + record.span_id.len();
    if let Some(parent) = &record.parent {
        len += 2 + parent.len();
    }
    if !name.is_empty() {
        len += field_len(name.len());
    }
    if record.kind != 0 {
        len += 1 + encoded_len_varint(record.kind as u64);
    }
    len += [record.start, record.end]
        .iter()
        .filter(|&&time| time != 0)
        .count()
        * 9;
    len += record.attributes().len();
    if let Some(message) = &record.error {
        len += field_len(status_len(message));
    }
    // The trace flags: a two-byte key (tag 16) and a fixed32.
    len + 6
}

/// The length of a `Status` of code error with `message`.
fn status_len(message: &str) -> usize {
    let message_len = if message.is_empty() {
        0
    } else {
        field_len(message.len())
    };
    message_len + 2
}

/// One `Span`, its fields in the order of their tags, as prost writes them. The
/// buffer is grown once, to `len` more bytes ([`span_len`]).
pub(super) fn write_span(record: &Record, len: usize, buf: &mut Vec<u8>) {
    buf.reserve(len);
    id(1, &record.trace_id, buf);
    id(2, &record.span_id, buf);
    if let Some(parent) = &record.parent {
        id(4, parent, buf);
    }
    let name = record.name_bytes();
    if !name.is_empty() {
        length_delimited(5, name, buf);
    }
    if record.kind != 0 {
        field_key(6, WireType::Varint, buf);
        varint(record.kind as u64, buf);
    }
    for (tag, time) in [(7, record.start), (8, record.end)] {
        if time != 0 {
            // Field 7 or 8, fixed64: a one-byte key.
            buf.push((tag << 3 | 1) as u8);
            buf.extend_from_slice(&time.to_le_bytes());
        }
    }
    // Written when they were added: each a field 9.
    buf.extend_from_slice(record.attributes());
    if let Some(message) = &record.error {
        field_key(15, WireType::LengthDelimited, buf);
        varint(status_len(message) as u64, buf);
        if !message.is_empty() {
            length_delimited(2, message.as_bytes(), buf);
        }
        field_key(3, WireType::Varint, buf);
        varint(proto::STATUS_ERROR as u64, buf);
    }
    // W3C trace flags (tag 16, fixed32, a two-byte key): sampled.
    buf.extend_from_slice(&[0x85, 0x01, 1, 0, 0, 0]);
}

/// A trace or span id (of a tag below 16, shorter than 128 bytes).
fn id(tag: u8, id: &[u8], buf: &mut Vec<u8>) {
    buf.extend_from_slice(&[tag << 3 | 2, id.len() as u8]);
    buf.extend_from_slice(id);
}

/// A field's key: its tag and wire type, one byte for a tag below 16.
#[inline]
fn field_key(tag: u32, wire_type: WireType, buf: &mut Vec<u8>) {
    varint(u64::from(tag << 3 | wire_type as u32), buf);
}

/// A varint, at once when it is one byte long (most lengths here are).
#[inline]
fn varint(value: u64, buf: &mut Vec<u8>) {
    if value < 0x80 {
        buf.push(value as u8);
    } else {
        encode_varint(value, buf);
    }
}

/// An attribute's value, as written.
#[derive(Clone, Copy)]
pub(super) enum Value<'a> {
    Text(&'a str),
    Int(i64),
}

/// A `KeyValue` (tag 9 of `Span`) whose `AnyValue` is a string (tag 1) or an int64 (3).
pub(super) fn write_attribute(key: &str, value: Value<'_>, buf: &mut Vec<u8>) {
    let value_len = match value {
        Value::Text("") => 2,
        Value::Text(text) => field_len(text.len()),
        Value::Int(number) => 1 + encoded_len_varint(number as u64),
    };
    let key_len = if key.is_empty() {
        0
    } else {
        field_len(key.len())
    };
    let pair_len = key_len + 1 + encoded_len_varint(value_len as u64) + value_len;
    buf.reserve(field_len(pair_len));
    field_key(9, WireType::LengthDelimited, buf);
    varint(pair_len as u64, buf);
    if !key.is_empty() {
        length_delimited(1, key.as_bytes(), buf);
    }
    field_key(2, WireType::LengthDelimited, buf);
    varint(value_len as u64, buf);
    match value {
        Value::Text(text) => length_delimited(1, text.as_bytes(), buf),
        Value::Int(number) => {
            field_key(3, WireType::Varint, buf);
            varint(number as u64, buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(parent: Option<[u8; 8]>, error: Option<&str>) -> Record {
        let mut record = Record::named(proto::KIND_SERVER, |name| {
            name.extend_from_slice(b"GET /v1/whoami");
        });
        record.trace_id = [7; 16];
        record.span_id = [9; 8];
        record.parent = parent;
        record.start = 1_796_000_000_000_000_000;
        record.end = 1_796_000_000_000_250_000;
        record.push("http.request.method", Value::Text("GET"));
        record.push("url.path", Value::Text(""));
        record.push("http.response.status_code", Value::Int(200));
        record.push("client.address", Value::Text("192.0.2.7"));
        record.push("oslo.negative", Value::Int(-5));
        record.push("", Value::Text("a value without a key"));
        record.error = error.map(str::to_owned);
        record
    }

    #[test]
    fn a_batch_is_written_as_prosts_messages_write_it() {
        let resource = proto::Resource {
            attributes: vec![proto::KeyValue::new(
                "service.name",
                proto::Value::String("api".into()),
            )],
        };
        let scope = proto::InstrumentationScope {
            name: "oslo-service".into(),
            version: "0.1.0".into(),
        };
        // A long path: lengths of two bytes and more.
        let mut long = record(Some([4; 8]), None);
        long.push("url.path", Value::Text(&"/v1/servers".repeat(300)));
        let batch = [
            record(None, None),
            record(Some([3; 8]), Some("500 Internal Server Error")),
            long,
        ];
        let mut spans = Vec::new();
        for record in &batch {
            let len = span_len(record);
            span_field(len, &mut spans, |buf| write_span(record, len, buf));
        }
        let ours = export_request(&resource, &scope, &spans);
        let theirs = proto::ExportTraceServiceRequest {
            resource_spans: vec![proto::ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![proto::ScopeSpans {
                    scope: Some(scope.clone()),
                    spans: batch.iter().map(Record::to_proto).collect(),
                }],
            }],
        }
        .encode_to_vec();
        assert_eq!(ours, theirs);
    }
}
