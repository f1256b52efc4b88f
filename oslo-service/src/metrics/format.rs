//! Which text a scraper gets, out of its `Accept` header: OpenMetrics when it asks for
//! it, as Prometheus does, and otherwise the Prometheus text format 0.0.4, which every
//! scraper reads (curl, scripts, older agents, the parsers of the client libraries).

use http::HeaderValue;

/// An exposition's text format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// OpenMetrics 1.0.0.
    OpenMetrics,
    /// The Prometheus text format 0.0.4.
    Text,
}

/// OpenMetrics' versions a scraper may ask for and read as 1.0.0: none named, 1.0.0,
/// or 0.0.1, the draft that became it (Go's client answers these three).
const OPENMETRICS_VERSIONS: [&str; 3] = ["", "1.0.0", "0.0.1"];

impl Format {
    /// The format for a request with these `Accept` headers. OpenMetrics when an entry
    /// names `application/openmetrics-text` (of a version it reads) with a weight above
    /// 0 and at least that of any entry the text format answers (`text/plain`,
    /// `text/*`, `*/*`); the text format otherwise, and when nothing is asked.
    pub(crate) fn negotiate<'a>(accept: impl IntoIterator<Item = &'a HeaderValue>) -> Format {
        let mut openmetrics: f32 = 0.0;
        let mut text: f32 = 0.0;
        for value in accept {
            // A header that is not text asks for nothing we can read.
            let Ok(value) = value.to_str() else {
                continue;
            };
            for entry in value.split(',') {
                let Some(asked) = Asked::parse(entry) else {
                    continue;
                };
                if asked
                    .media_type
                    .eq_ignore_ascii_case("application/openmetrics-text")
                {
                    if OPENMETRICS_VERSIONS.contains(&asked.version) {
                        openmetrics = openmetrics.max(asked.weight);
                    }
                } else if ["text/plain", "text/*", "*/*"]
                    .iter()
                    .any(|t| asked.media_type.eq_ignore_ascii_case(t))
                {
                    text = text.max(asked.weight);
                }
            }
        }
        if openmetrics > 0.0 && openmetrics >= text {
            Format::OpenMetrics
        } else {
            Format::Text
        }
    }

    /// The `Content-Type` of an exposition in this format.
    pub(crate) fn content_type(self) -> &'static str {
        match self {
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
        }
    }
}

/// One entry of an `Accept` header: `type/subtype;version=…;q=…`.
#[derive(Debug)]
struct Asked<'a> {
    media_type: &'a str,
    version: &'a str,
    /// Its `q`, within 0 and 1; 1 when not given.
    weight: f32,
}

impl<'a> Asked<'a> {
    /// `None` for an empty entry or a weight that is not a number.
    fn parse(entry: &'a str) -> Option<Asked<'a>> {
        let mut parts = entry.split(';');
        let media_type = parts.next()?.trim();
        if media_type.is_empty() {
            return None;
        }
        let mut asked = Asked {
            media_type,
            version: "",
            weight: 1.0,
        };
        for parameter in parts {
            let Some((name, value)) = parameter.split_once('=') else {
                continue;
            };
            let value = value.trim().trim_matches('"');
            match name.trim() {
                n if n.eq_ignore_ascii_case("q") => {
                    let weight: f32 = value.parse().ok()?;
                    // A number from outside: NaN and the out of range are bounded here.
                    asked.weight = if weight.is_nan() {
                        0.0
                    } else {
                        weight.clamp(0.0, 1.0)
                    };
                }
                n if n.eq_ignore_ascii_case("version") => asked.version = value,
                _ => {}
            }
        }
        Some(asked)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn negotiated(accept: &[&str]) -> Format {
        let values: Vec<HeaderValue> = accept
            .iter()
            .map(|v| HeaderValue::from_str(v).unwrap())
            .collect();
        Format::negotiate(&values)
    }

    #[test]
    fn openmetrics_only_when_asked_for() {
        let cases: &[(&[&str], Format)] = &[
            // Nothing asked: curl, scripts.
            (&[], Format::Text),
            (&[""], Format::Text),
            (&["*/*"], Format::Text),
            (&["text/plain"], Format::Text),
            (&["text/plain; version=0.0.4"], Format::Text),
            (
                &["text/plain;version=1.0.0;escaping=underscores"],
                Format::Text,
            ),
            (&["application/json"], Format::Text),
            // What Prometheus sends.
            (
                &["application/openmetrics-text;version=1.0.0,text/plain;q=0.5"],
                Format::OpenMetrics,
            ),
            (
                &[
                    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8,\
                     application/openmetrics-text;version=0.0.1;q=0.75,\
                     text/plain;version=1.0.0;escaping=allow-utf-8;q=0.5,\
                     */*;q=0.1",
                ],
                Format::OpenMetrics,
            ),
            (
                &[
                    "application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1",
                ],
                Format::OpenMetrics,
            ),
            (&["application/openmetrics-text"], Format::OpenMetrics),
            (
                &["Application/OpenMetrics-Text; Version=\"1.0.0\""],
                Format::OpenMetrics,
            ),
            // Over several headers.
            (
                &["text/plain;q=0.5", "application/openmetrics-text"],
                Format::OpenMetrics,
            ),
            // A version we do not write.
            (
                &["application/openmetrics-text;version=2.0.0"],
                Format::Text,
            ),
            // Weights: refused, preferred less, out of range, not a number.
            (&["application/openmetrics-text;q=0"], Format::Text),
            (
                &["application/openmetrics-text;q=0.4,text/plain"],
                Format::Text,
            ),
            (
                &["text/plain;q=0.4,application/openmetrics-text;q=0.5"],
                Format::OpenMetrics,
            ),
            (
                &["application/openmetrics-text;q=7,text/plain"],
                Format::OpenMetrics,
            ),
            (&["application/openmetrics-text;q=-1"], Format::Text),
            (&["application/openmetrics-text;q=NaN"], Format::Text),
            (&["application/openmetrics-text;q=high"], Format::Text),
            // Equal weights: the one named outright.
            (
                &["text/plain,application/openmetrics-text"],
                Format::OpenMetrics,
            ),
            (&[",,;;,=;q"], Format::Text),
        ];
        for (accept, format) in cases {
            assert_eq!(negotiated(accept), *format, "{accept:?}");
        }
    }

    #[test]
    fn a_header_that_is_not_text_asks_for_nothing() {
        let value = HeaderValue::from_bytes(b"application/openmetrics-text\xff").unwrap();
        assert_eq!(Format::negotiate([&value]), Format::Text);
    }
}
