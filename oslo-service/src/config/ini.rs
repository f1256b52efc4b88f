//! The oslo.config flavour of INI: `[section]` headers, `key = value` or `key: value`,
//! `#` and `;` comment lines, indented continuation lines, blank lines ending a value,
//! and repeated keys kept in order (multi-valued options accumulate them).

/// One `key = value` assignment, with the line it starts on (1-based).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Assignment {
    /// The section (group) the assignment belongs to.
    pub section: String,
    /// The key as written.
    pub key: String,
    /// The value: continuation lines joined with `\n`, one pair of matching outer quotes
    /// removed.
    pub value: String,
    /// The line the key is on.
    pub line: usize,
}

/// A line that does not follow the INI rules.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct IniError {
    /// The offending line (1-based).
    pub line: usize,
    /// What is wrong with it.
    pub message: String,
}

/// Parses `text`; never panics, whatever the input.
pub fn parse(text: &str) -> Result<Vec<Assignment>, IniError> {
    let mut assignments = Vec::new();
    parse_each(text, |section, key, value, line| {
        assignments.push(Assignment {
            section: section.to_owned(),
            key,
            value,
            line,
        })
    })?;
    Ok(assignments)
}

/// Parses `text`, handing each assignment to `sink` as it completes: its section, key,
/// value and line. What [`parse`] does, without a list of assignments in between.
pub(crate) fn parse_each(
    text: &str,
    sink: impl FnMut(&str, String, String, usize),
) -> Result<(), IniError> {
    let mut parser = Parser {
        section: None,
        pending: None,
        sink,
    };
    for (index, raw) in text.lines().enumerate() {
        parser.line(index + 1, raw)?;
    }
    parser.flush();
    Ok(())
}

struct Parser<F> {
    section: Option<String>,
    pending: Option<Pending>,
    sink: F,
}

struct Pending {
    key: String,
    /// The value so far: continuation lines are appended after a `\n`.
    value: String,
    line: usize,
}

impl<F: FnMut(&str, String, String, usize)> Parser<F> {
    fn line(&mut self, number: usize, raw: &str) -> Result<(), IniError> {
        let line = raw.trim_end();
        if line.is_empty() {
            self.flush();
            return Ok(());
        }
        if line.starts_with([' ', '\t']) {
            return match &mut self.pending {
                Some(pending) => {
                    pending.value.push('\n');
                    pending.value.push_str(line.trim_start());
                    Ok(())
                }
                None => Err(error(number, "unexpected continuation line")),
            };
        }
        self.flush();
        if let Some(header) = line.strip_prefix('[') {
            let name = header
                .strip_suffix(']')
                .ok_or_else(|| error(number, "invalid section (must end with ])"))?;
            if name.is_empty() {
                return Err(error(number, "empty section name"));
            }
            // As written, spaces included: `[ x ]` is the group " x ", as for oslo.config.
            self.section = Some(name.to_owned());
            return Ok(());
        }
        if line.starts_with(['#', ';']) {
            return Ok(());
        }
        let separator = line
            .find([':', '='])
            .ok_or_else(|| error(number, "expected 'key = value'"))?;
        let key = line[..separator].trim();
        if key.is_empty() {
            return Err(error(number, "key cannot be empty"));
        }
        if self.section.is_none() {
            return Err(error(number, "section must be started before assignment"));
        }
        self.pending = Some(Pending {
            key: key.to_owned(),
            value: unquote(line[separator + 1..].trim()).to_owned(),
            line: number,
        });
        Ok(())
    }

    fn flush(&mut self) {
        let (Some(pending), Some(section)) = (self.pending.take(), &self.section) else {
            return;
        };
        (self.sink)(section, pending.key, pending.value, pending.line);
    }
}

/// The first line of a value without the quotes around it, as oslo.config reads it: when
/// it starts with a quote and ends with the same character, both go (a lone quote is an
/// empty value). Continuation lines keep theirs.
fn unquote(value: &str) -> &str {
    match (value.chars().next(), value.chars().next_back()) {
        (Some(first @ ('"' | '\'')), Some(last)) if first == last => value
            .get(1..value.len().saturating_sub(1))
            .unwrap_or_default(),
        _ => value,
    }
}

fn error(line: usize, message: &str) -> IniError {
    IniError {
        line,
        message: message.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(section: &str, key: &str, value: &str, line: usize) -> Assignment {
        Assignment {
            section: section.into(),
            key: key.into(),
            value: value.into(),
            line,
        }
    }

    #[test]
    fn sections_keys_comments_and_separators() {
        let text =
            "# head\n[DEFAULT]\ndebug = true\n; note\nname: 'svc'\n\n[ssl]\nca_file=\"/x\"\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![
                one("DEFAULT", "debug", "true", 3),
                one("DEFAULT", "name", "svc", 5),
                one("ssl", "ca_file", "/x", 8),
            ]
        );
    }

    #[test]
    fn continuation_lines_join_until_a_blank_line() {
        let text = "[a]\nk = first\n  second\n\tthird\n\nj = 1\n";
        assert_eq!(
            parse(text).unwrap(),
            vec![
                one("a", "k", "first\nsecond\nthird", 2),
                one("a", "j", "1", 6)
            ]
        );
    }

    #[test]
    fn repeated_keys_are_all_kept_in_order() {
        let found = parse("[a]\nk = 1\nk = 2\n").unwrap();
        let values: Vec<_> = found.iter().map(|a| a.value.as_str()).collect();
        assert_eq!(values, ["1", "2"]);
    }

    #[test]
    fn value_may_contain_separators_and_be_empty() {
        assert_eq!(
            parse("[a]\nurl = http://h:1/?a=b\nempty =\n").unwrap(),
            vec![
                one("a", "url", "http://h:1/?a=b", 2),
                one("a", "empty", "", 3)
            ]
        );
    }

    /// What oslo.config's own parser makes of the inputs where parsers part ways (read
    /// off `oslo_config.iniparser` 10.7).
    #[test]
    fn quotes_spaces_and_continuations_as_oslo_config_reads_them() {
        let value = |text: &str| {
            let found = parse(text).unwrap();
            assert_eq!(found.len(), 1, "{text:?}");
            (found[0].section.clone(), found[0].value.clone())
        };
        let cases: [(&str, (&str, &str)); 9] = [
            ("[s]\nk = \"quoted\"\n", ("s", "quoted")),
            ("[s]\nk = \"a\n  b\"\n", ("s", "\"a\nb\"")),
            ("[s]\nk = '\n", ("s", "")),
            ("[s]\nk = \"\n", ("s", "")),
            ("[ spaced ]\nk = v\n", (" spaced ", "v")),
            ("[s]\nk =\n  first\n  second\n", ("s", "\nfirst\nsecond")),
            ("[s]\nk : v : w\n", ("s", "v : w")),
            ("[s]\nk = 'a' 'b'\n", ("s", "a' 'b")),
            ("[s]\nk = \"a\"\n  \"b\"\n", ("s", "a\n\"b\"")),
        ];
        for (text, (section, expected)) in cases {
            assert_eq!(
                value(text),
                (section.to_owned(), expected.to_owned()),
                "{text:?}"
            );
        }
    }

    #[test]
    fn bad_lines_name_their_line_and_fault() {
        let cases = [
            ("k = v\n", 1, "section must be started before assignment"),
            ("[a]\n  cont\n", 2, "unexpected continuation line"),
            ("[a\n", 1, "invalid section (must end with ])"),
            ("[]\n", 1, "empty section name"),
            ("[a]\n= v\n", 2, "key cannot be empty"),
            ("[a]\nnovalue\n", 2, "expected 'key = value'"),
        ];
        for (text, line, message) in cases {
            let err = parse(text).unwrap_err();
            assert_eq!(
                (err.line, err.message.as_str()),
                (line, message),
                "{text:?}"
            );
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // A cheap deterministic sweep over awkward inputs; a fuzz target belongs to the
        // configuration issue.
        let pieces = [
            "[", "]", "=", ":", " ", "\t", "\n", "#", ";", "'", "\"", "é", "a",
        ];
        let mut seed = 0x9e37_79b9_u32;
        for _ in 0..5000 {
            let mut text = String::new();
            for _ in 0..(seed % 24) {
                seed ^= seed << 13;
                seed ^= seed >> 17;
                seed ^= seed << 5;
                text.push_str(pieces[(seed as usize) % pieces.len()]);
            }
            let _ = parse(&text);
        }
    }
}
