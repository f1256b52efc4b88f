//! Spans written straight into protobuf, field by field with prost's encoders: an
//! attribute when the span is given it, the rest of the span when it ends (into the
//! queue), and the enclosing messages of an export around a batch of them. No message
//! struct is built for a span, so a traced request costs the bytes it adds, nothing
//! more. The bytes are those prost's derived messages (`proto`) write, which the tests
//! check.

use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

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
    encode_key(1, WireType::LengthDelimited, &mut body);
    encode_varint(resource_spans_len as u64, &mut body);
    message(1, resource, &mut body);
    encode_key(2, WireType::LengthDelimited, &mut body);
    encode_varint(scope_spans_len as u64, &mut body);
    message(1, scope, &mut body);
    body.extend_from_slice(spans);
    body
}

/// A span as field 2 of a `ScopeSpans`: its key, its length `len`, then the `len`
/// bytes `write` appends.
pub(super) fn span_field(len: usize, buf: &mut Vec<u8>, write: impl FnOnce(&mut Vec<u8>)) {
    encode_key(2, WireType::LengthDelimited, buf);
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
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(bytes.len() as u64, buf);
    buf.extend_from_slice(bytes);
}

fn message(tag: u32, message: &impl Message, buf: &mut Vec<u8>) {
    encode_key(tag, WireType::LengthDelimited, buf);
    encode_varint(message.encoded_len() as u64, buf);
    // A Vec grows as needed: encoding into it cannot fail.
    let _ = message.encode(buf);
}

/// The status of a failed span.
fn status(record: &Record) -> Option<proto::Status> {
    record.error.as_ref().map(|message| proto::Status {
        message: message.clone(),
        code: proto::STATUS_ERROR,
    })
}

/// The length of `record` written by [`write_span`].
pub(super) fn span_len(record: &Record) -> usize {
    let name = record.name();
    let mut len = field_len(record.trace_id.len()) + field_len(record.span_id.len());
    if let Some(parent) = &record.parent {
        len += field_len(parent.len());
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
    if let Some(status) = status(record) {
        len += field_len(status.encoded_len());
    }
    // The trace flags: a two-byte key (tag 16) and a fixed32.
    len + 6
}

/// One `Span`, its fields in the order of their tags, as prost writes them.
pub(super) fn write_span(record: &Record, buf: &mut Vec<u8>) {
    length_delimited(1, &record.trace_id, buf);
    length_delimited(2, &record.span_id, buf);
    if let Some(parent) = &record.parent {
        length_delimited(4, parent, buf);
    }
    let name = record.name();
    if !name.is_empty() {
        length_delimited(5, name.as_bytes(), buf);
    }
    if record.kind != 0 {
        encode_key(6, WireType::Varint, buf);
        encode_varint(record.kind as u64, buf);
    }
    for (tag, time) in [(7, record.start), (8, record.end)] {
        if time != 0 {
            encode_key(tag, WireType::SixtyFourBit, buf);
            buf.extend_from_slice(&time.to_le_bytes());
        }
    }
    // Written when they were added: each a field 9.
    buf.extend_from_slice(record.attributes());
    if let Some(status) = status(record) {
        message(15, &status, buf);
    }
    // W3C trace flags: sampled.
    encode_key(16, WireType::ThirtyTwoBit, buf);
    buf.extend_from_slice(&1u32.to_le_bytes());
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
    encode_key(9, WireType::LengthDelimited, buf);
    encode_varint(pair_len as u64, buf);
    if !key.is_empty() {
        length_delimited(1, key.as_bytes(), buf);
    }
    encode_key(2, WireType::LengthDelimited, buf);
    encode_varint(value_len as u64, buf);
    match value {
        Value::Text(text) => length_delimited(1, text.as_bytes(), buf),
        Value::Int(number) => {
            encode_key(3, WireType::Varint, buf);
            encode_varint(number as u64, buf);
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
            span_field(span_len(record), &mut spans, |buf| write_span(record, buf));
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
