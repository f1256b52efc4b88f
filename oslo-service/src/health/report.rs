//! A probe's answer in the health check response format for HTTP APIs
//! (`application/health+json`): an overall status and, for each component, its
//! status, time and output.

use std::time::SystemTime;

/// A component's (or the whole report's) status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Status {
    Pass,
    Fail,
}

impl Status {
    fn as_str(self) -> &'static str {
        match self {
            Status::Pass => "pass",
            Status::Fail => "fail",
        }
    }
}

/// One component's answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    status: Status,
    time: SystemTime,
    output: String,
}

impl Entry {
    #[cfg(test)]
    pub(crate) fn status_for_tests(&self) -> Status {
        self.status
    }

    #[cfg(test)]
    pub(crate) fn output_for_tests(&self) -> &str {
        &self.output
    }

    pub(crate) fn new(status: Status, time: SystemTime, output: String) -> Entry {
        Entry {
            status,
            time,
            output,
        }
    }
}

/// A probe's report: it fails when any of its components fails.
#[derive(Debug, Default)]
pub(crate) struct Report {
    checks: Vec<(String, Entry)>,
}

impl Report {
    pub(crate) fn add(&mut self, name: &str, entry: Entry) {
        self.checks.push((name.to_owned(), entry));
    }

    pub(crate) fn status(&self) -> Status {
        self.checks
            .iter()
            .map(|(_, entry)| entry.status)
            .max()
            .unwrap_or(Status::Pass)
    }

    /// The report as `application/health+json`.
    pub(crate) fn to_json(&self) -> String {
        let mut json = format!("{{\"status\":\"{}\",\"checks\":{{", self.status().as_str());
        for (index, (name, entry)) in self.checks.iter().enumerate() {
            if index > 0 {
                json.push(',');
            }
            json.push_str(&format!(
                "{}:[{{\"status\":\"{}\",\"time\":\"{}\",\"output\":{}}}]",
                quoted(name),
                entry.status.as_str(),
                humantime::format_rfc3339_seconds(entry.time),
                quoted(&entry.output),
            ));
        }
        json.push_str("}}");
        json
    }
}

/// `text` as a JSON string.
fn quoted(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\r' => quoted.push_str("\\r"),
            '\t' => quoted.push_str("\\t"),
            c if u32::from(c) < 0x20 => quoted.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}
