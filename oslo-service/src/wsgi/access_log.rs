//! The access log line: `wsgi_log_format`, a Python `%`-format over named fields
//! (`%(client_ip)s "%(request_line)s" status: %(status_code)s …`), parsed once when the
//! server starts so that a typo is a start-up error rather than a broken line per
//! request.

use std::fmt::Write as _;
use std::sync::Arc;

/// The fields a format may name, as eventlet's wsgi server offers them.
const FIELDS: [&str; 6] = [
    "client_ip",
    "date_time",
    "request_line",
    "status_code",
    "body_length",
    "wall_seconds",
];

/// The target of access log lines, for filters such as `oslo::wsgi::access=WARN`.
pub const ACCESS_LOG_TARGET: &str = "oslo::wsgi::access";

/// Where access log lines go, in the server's format.
#[derive(Clone, Debug)]
pub(super) struct AccessLog {
    format: Arc<AccessLogFormat>,
}

impl AccessLog {
    pub(super) fn new(format: AccessLogFormat) -> Self {
        AccessLog {
            format: Arc::new(format),
        }
    }

    pub(super) fn format(&self) -> &AccessLogFormat {
        &self.format
    }

    pub(super) fn enabled() -> bool {
        tracing::enabled!(target: ACCESS_LOG_TARGET, tracing::Level::INFO)
    }

    pub(super) fn write(&self, line: &str) {
        tracing::info!(target: ACCESS_LOG_TARGET, "{line}");
    }
}

/// What one request contributes to its line.
#[derive(Debug, Clone)]
pub(super) struct Record<'a> {
    pub(super) client_ip: &'a str,
    pub(super) request_line: &'a str,
    pub(super) status_code: u16,
    pub(super) body_length: u64,
    pub(super) wall_seconds: f64,
    /// Seconds since the Unix epoch when the request arrived.
    pub(super) unix_time: u64,
}

/// A parsed `wsgi_log_format`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct AccessLogFormat {
    pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq)]
enum Piece {
    Text(String),
    Field(Field),
}

#[derive(Debug, Clone, PartialEq)]
struct Field {
    /// Index into [`FIELDS`].
    name: usize,
    left_align: bool,
    zero_pad: bool,
    width: usize,
    precision: Option<usize>,
    conversion: Conversion,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Conversion {
    /// `s` (and `r`, which differs only for strings in Python: taken as `s`).
    Text,
    /// `d`, `i`, `u`.
    Integer,
    /// `f`, `F`.
    Float,
}

/// A value of one field, before formatting.
enum Value<'a> {
    Text(&'a str),
    Integer(u64),
    Float(f64),
}

impl AccessLogFormat {
    /// Parses a template; the error says what is wrong and where.
    pub(super) fn parse(template: &str) -> Result<Self, String> {
        let mut pieces = Vec::new();
        let mut text = String::new();
        let mut rest = template;
        while let Some(percent) = rest.find('%') {
            text.push_str(&rest[..percent]);
            rest = &rest[percent + 1..];
            if let Some(after) = rest.strip_prefix('%') {
                text.push('%');
                rest = after;
                continue;
            }
            let Some(after) = rest.strip_prefix('(') else {
                return Err(format!(
                    "'%' at offset {} is neither '%%' nor '%(field)…'",
                    template.len() - rest.len() - 1
                ));
            };
            let close = after
                .find(')')
                .ok_or_else(|| "a '%(' without its ')'".to_owned())?;
            let key = &after[..close];
            let name = FIELDS.iter().position(|f| *f == key).ok_or_else(|| {
                format!("unknown field '{key}'; known fields: {}", FIELDS.join(", "))
            })?;
            let (field, after) = parse_spec(name, &after[close + 1..])?;
            if !text.is_empty() {
                pieces.push(Piece::Text(std::mem::take(&mut text)));
            }
            pieces.push(Piece::Field(field));
            rest = after;
        }
        text.push_str(rest);
        if !text.is_empty() {
            pieces.push(Piece::Text(text));
        }
        Ok(AccessLogFormat { pieces })
    }

    /// The line for one request.
    pub(super) fn render(&self, record: &Record<'_>) -> String {
        let mut line = String::with_capacity(96);
        for piece in &self.pieces {
            match piece {
                Piece::Text(text) => line.push_str(text),
                Piece::Field(field) => field.render(record, &mut line),
            }
        }
        line
    }
}

/// The widest width or precision a field may ask for.
const MAX_WIDTH: usize = 128;

/// `[flags][width][.precision]conversion` after `%(name)`.
fn parse_spec(name: usize, spec: &str) -> Result<(Field, &str), String> {
    let mut field = Field {
        name,
        left_align: false,
        zero_pad: false,
        width: 0,
        precision: None,
        conversion: Conversion::Text,
    };
    let mut chars = spec.char_indices().peekable();
    while let Some(&(_, flag)) = chars.peek() {
        match flag {
            '-' => field.left_align = true,
            '0' => field.zero_pad = true,
            ' ' | '+' | '#' => {}
            _ => break,
        }
        chars.next();
    }
    let number = |chars: &mut std::iter::Peekable<std::str::CharIndices<'_>>| {
        let mut value = None::<usize>;
        while let Some(&(_, digit)) = chars.peek() {
            let Some(digit) = digit.to_digit(10) else {
                break;
            };
            value = Some(
                value
                    .unwrap_or(0)
                    .saturating_mul(10)
                    .saturating_add(digit as usize),
            );
            chars.next();
        }
        value
    };
    field.width = number(&mut chars).unwrap_or(0);
    if chars.peek().is_some_and(|&(_, c)| c == '.') {
        chars.next();
        field.precision = Some(number(&mut chars).unwrap_or(0));
    }
    let field_name = FIELDS[name];
    // Each access line pads to these: bounded, so a template cannot make one line huge.
    if field.width > MAX_WIDTH || field.precision.is_some_and(|p| p > MAX_WIDTH) {
        return Err(format!(
            "the field '{field_name}' has a width or precision over {MAX_WIDTH}"
        ));
    }
    let Some((at, conversion)) = chars.next() else {
        return Err(format!(
            "the field '{field_name}' has no conversion (such as 's')"
        ));
    };
    field.conversion = match conversion {
        's' | 'r' => Conversion::Text,
        'd' | 'i' | 'u' => Conversion::Integer,
        'f' | 'F' => Conversion::Float,
        other => {
            return Err(format!(
                "the field '{field_name}' has the conversion '{other}'; use s, d or f"
            ));
        }
    };
    Ok((field, &spec[at + conversion.len_utf8()..]))
}

impl Field {
    fn value<'a>(&self, record: &'a Record<'a>) -> Value<'a> {
        match FIELDS[self.name] {
            "client_ip" => Value::Text(record.client_ip),
            "request_line" => Value::Text(record.request_line),
            "status_code" => Value::Integer(u64::from(record.status_code)),
            "body_length" => Value::Integer(record.body_length),
            "wall_seconds" => Value::Float(record.wall_seconds),
            _ => Value::Integer(record.unix_time),
        }
    }

    fn render(&self, record: &Record<'_>, line: &mut String) {
        let is_date = FIELDS[self.name] == "date_time";
        let mut formatted = String::new();
        match (self.conversion, self.value(record)) {
            (Conversion::Text, Value::Integer(secs)) if is_date => {
                formatted = date_time(secs);
            }
            (Conversion::Text, Value::Text(text)) => formatted.push_str(text),
            (Conversion::Text, Value::Integer(n)) => {
                let _ = write!(formatted, "{n}");
            }
            // Python's str() of a float.
            (Conversion::Text, Value::Float(x)) => {
                let _ = write!(formatted, "{x:?}");
            }
            (Conversion::Integer, Value::Integer(n)) => {
                let _ = write!(formatted, "{n}");
            }
            (Conversion::Integer, Value::Float(x)) => {
                let _ = write!(formatted, "{}", x.trunc());
            }
            (Conversion::Float, Value::Integer(n)) => {
                let _ = write!(formatted, "{:.*}", self.precision.unwrap_or(6), n as f64);
            }
            (Conversion::Float, Value::Float(x)) => {
                let _ = write!(formatted, "{x:.*}", self.precision.unwrap_or(6));
            }
            // A number conversion of a text field: Python would raise; write the text.
            (_, Value::Text(text)) => formatted.push_str(text),
        }
        if let (Conversion::Text, Some(precision)) = (self.conversion, self.precision) {
            if let Some((cut, _)) = formatted.char_indices().nth(precision) {
                formatted.truncate(cut);
            }
        }
        let len = formatted.chars().count();
        let pad = self.width.saturating_sub(len);
        if self.left_align {
            line.push_str(&formatted);
            line.extend(std::iter::repeat_n(' ', pad));
        } else if self.zero_pad && self.conversion != Conversion::Text {
            line.extend(std::iter::repeat_n('0', pad));
            line.push_str(&formatted);
        } else {
            line.extend(std::iter::repeat_n(' ', pad));
            line.push_str(&formatted);
        }
    }
}

/// `26/Nov/2026 19:18:39`, eventlet's `date_time`, in UTC.
fn date_time(unix_time: u64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let days = unix_time / 86_400;
    let secs = unix_time % 86_400;
    let (year, month, day) = civil_from_days(days);
    format!(
        "{day:02}/{}/{year} {:02}:{:02}:{:02}",
        MONTHS[(month - 1) as usize],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01.
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let day_of_era = z % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> Record<'static> {
        Record {
            client_ip: "127.0.0.1",
            request_line: "GET /v2/servers HTTP/1.1",
            status_code: 200,
            body_length: 1234,
            wall_seconds: 0.001_234_56,
            unix_time: 1_795_720_719,
        }
    }

    #[test]
    fn oslo_default_format_renders_as_eventlet_does() {
        let format = AccessLogFormat::parse(
            "%(client_ip)s \"%(request_line)s\" status: %(status_code)s  len: %(body_length)s time: %(wall_seconds).7f",
        )
        .unwrap();
        assert_eq!(
            format.render(&record()),
            "127.0.0.1 \"GET /v2/servers HTTP/1.1\" status: 200  len: 1234 time: 0.0012346"
        );
    }

    #[test]
    fn widths_flags_percent_and_dates() {
        let format = AccessLogFormat::parse(
            "[%(date_time)s] %(status_code)5d|%(client_ip)-10s|%(body_length)08d 100%%",
        )
        .unwrap();
        assert_eq!(
            format.render(&record()),
            "[26/Nov/2026 19:18:39]   200|127.0.0.1 |00001234 100%"
        );
        assert_eq!(date_time(0), "01/Jan/1970 00:00:00");
        assert_eq!(date_time(951_782_400), "29/Feb/2000 00:00:00");
    }

    #[test]
    fn widths_and_precisions_are_bounded() {
        assert!(AccessLogFormat::parse("%(client_ip)128s %(wall_seconds).128f").is_ok());
        for template in [
            "%(client_ip)129s",
            "%(wall_seconds).129f",
            "%(client_ip)99999999999999999999999s",
        ] {
            let error = AccessLogFormat::parse(template).unwrap_err();
            assert!(error.contains("over 128"), "{template}: {error}");
        }
    }

    #[test]
    fn bad_templates_say_what_is_wrong() {
        let error = AccessLogFormat::parse("%(client)s").unwrap_err();
        assert!(error.contains("unknown field 'client'"), "{error}");
        assert!(error.contains("client_ip"), "{error}");
        assert!(
            AccessLogFormat::parse("%(status_code)")
                .unwrap_err()
                .contains("no conversion")
        );
        assert!(
            AccessLogFormat::parse("%(status_code)x")
                .unwrap_err()
                .contains("'x'")
        );
        assert!(
            AccessLogFormat::parse("%(status_code")
                .unwrap_err()
                .contains("')'")
        );
        assert!(
            AccessLogFormat::parse("50% done")
                .unwrap_err()
                .contains("offset 2")
        );
    }
}
