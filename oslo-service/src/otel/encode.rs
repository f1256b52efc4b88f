//! A batch of finished spans written straight into the body of an OTLP export, field by
//! field with prost's encoders: no message struct is built for a span, so a traced
//! request costs its own allocation and the bytes it adds to the body, nothing more.
//! The bytes are those prost's derived messages (`proto`) write, which the tests check.

use prost::Message;
use prost::encoding::{WireType, encode_key, encode_varint, encoded_len_varint};

use super::{Attr, Finished, proto};

/// The body of an export: one `ResourceSpans` of `resource`, with one `ScopeSpans` of
/// `scope` and every span of `batch`. `spans` is scratch space the caller keeps from
/// one export to the next: the spans are written there, then copied once into a body
/// of the exact length, whose enclosing messages' lengths are known by then.
pub(super) fn export_request(
    resource: &proto::Resource,
    scope: &proto::InstrumentationScope,
    batch: &[Finished],
    spans: &mut Vec<u8>,
) -> Vec<u8> {
    spans.clear();
    let mut scratch = Vec::with_capacity(256);
    for span in batch {
        scratch.clear();
        write_span(span, &mut scratch);
        length_delimited(2, &scratch, spans);
    }
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

/// One `Span`, its fields in the order of their tags, as prost writes them.
fn write_span(span: &Finished, buf: &mut Vec<u8>) {
    length_delimited(1, &span.trace_id, buf);
    length_delimited(2, &span.span_id, buf);
    if let Some(parent) = &span.parent {
        length_delimited(4, parent, buf);
    }
    if !span.name().is_empty() {
        length_delimited(5, span.name().as_bytes(), buf);
    }
    if span.kind != 0 {
        encode_key(6, WireType::Varint, buf);
        encode_varint(span.kind as u64, buf);
    }
    for (tag, time) in [(7, span.start), (8, span.end)] {
        if time != 0 {
            encode_key(tag, WireType::SixtyFourBit, buf);
            buf.extend_from_slice(&time.to_le_bytes());
        }
    }
    for (key, value) in &span.attributes {
        let value = match value {
            Attr::Text(at) => Value::Text(span.text_at(at)),
            Attr::Int(number) => Value::Int(*number),
        };
        write_attribute(key, value, buf);
    }
    if let Some(message) = &span.error {
        let status = proto::Status {
            message: message.clone(),
            code: proto::STATUS_ERROR,
        };
        self::message(15, &status, buf);
    }
    // W3C trace flags: sampled.
    encode_key(16, WireType::ThirtyTwoBit, buf);
    buf.extend_from_slice(&1u32.to_le_bytes());
}

/// An attribute's value, as written.
#[derive(Clone, Copy)]
enum Value<'a> {
    Text(&'a str),
    Int(i64),
}

/// A `KeyValue` (tag 9 of `Span`) whose `AnyValue` is a string (tag 1) or an int64 (3).
fn write_attribute(key: &str, value: Value<'_>, buf: &mut Vec<u8>) {
    let value_len = match value {
        Value::Text("") => 2,
        Value::Text(text) => field_len(text.len()),
        Value::Int(number) => 1 + encoded_len_varint(number as u64),
    };
    let key_len = if key.is_empty() {
        0
    } else {
        1 + encoded_len_varint(key.len() as u64) + key.len()
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

    fn finished(parent: Option<[u8; 8]>, error: Option<&str>) -> Finished {
        let mut span = Finished::named(proto::KIND_SERVER, |name| {
            name.push_str("GET /v1/whoami");
        });
        span.trace_id = [7; 16];
        span.span_id = [9; 8];
        span.parent = parent;
        span.start = 1_796_000_000_000_000_000;
        span.end = 1_796_000_000_000_250_000;
        span.push_text("http.request.method", "GET");
        span.push_text("url.path", "");
        span.push_number("http.response.status_code", 200);
        span.push_text("client.address", "192.0.2.7");
        span.push_number("oslo.negative", -5);
        span.error = error.map(str::to_owned);
        span
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
        let batch = vec![
            finished(None, None),
            finished(Some([3; 8]), Some("500 Internal Server Error")),
        ];
        let mut spans = vec![0xee; 3];
        let ours = export_request(&resource, &scope, &batch, &mut spans);
        let theirs = proto::ExportTraceServiceRequest {
            resource_spans: vec![proto::ResourceSpans {
                resource: Some(resource.clone()),
                scope_spans: vec![proto::ScopeSpans {
                    scope: Some(scope.clone()),
                    spans: batch.into_iter().map(Finished::into_proto).collect(),
                }],
            }],
        }
        .encode_to_vec();
        assert_eq!(ours, theirs);
    }
}
