//! The INI reader against oslo.config's own parser: thousands of generated files, valid
//! and broken, each read by both; the groups, options, values and refusals (by line)
//! must be the same.
//!
//! oslo.config comes from PyPI into `benches/.venv`, at the version pinned in
//! `benches/requirements.txt`, as the benchmarks' does: `.ci/run` installs it, and this
//! test does it itself when it is missing (`benches/python-env.sh`).
//! `OSLO_CONFIG_PYTHON` names another Python that has it.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// Pieces that files are made of, tricky ones included.
const LINES: &[&str] = &[
    "[DEFAULT]",
    "[group]",
    "[ spaced ]",
    "[MiXeD]",
    "[]",
    "[unterminated",
    "[ ]",
    "key = value",
    "key=value",
    "key: value",
    "key : v : w",
    "url = http://host:80/?a=b",
    "other = 'single'",
    "other = \"double\"",
    "other = '",
    "other = \"",
    "other = 'a' 'b'",
    "other = \"mixed'",
    "empty =",
    "empty:",
    "= no key",
    ": no key",
    "no separator",
    "  continued",
    "\tcontinued with a tab",
    "  \"quoted continuation\"",
    "",
    "   ",
    "# comment",
    "; comment",
    "  # indented comment",
    "dash-key = 1",
    "UPPER = 2",
    "unicode = héllo wörld",
    "trailing = spaces   ",
    "multi = one",
    "multi = two",
    "key = = double",
];

/// A seeded sequence of files, each a few lines from [`LINES`].
fn files(count: usize, seed: u64) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..count)
        .map(|_| {
            let lines = rng.usize(1..12);
            let mut text = String::new();
            // Most files start a section, so that more than their first line is read.
            if rng.u8(..4) != 0 {
                text.push_str(LINES[rng.usize(..7)]);
                text.push('\n');
            }
            for _ in 0..lines {
                text.push_str(LINES[rng.usize(..LINES.len())]);
                text.push('\n');
            }
            text
        })
        .collect()
}

/// What one parser made of one file.
#[derive(Debug, PartialEq)]
enum Outcome {
    Sections(BTreeMap<String, BTreeMap<String, Vec<String>>>),
    ErrorLine(usize),
}

/// What ours made of `text`, in oslo.config's terms where the two only differ in how
/// they say it (docs/configuration.md, "The INI reader and oslo.config's"): an assignment before any
/// section is refused at its own line, where oslo.config notices it when it flushes the
/// assignment, at the next line that is not a continuation (or the last line); that
/// line is the one compared.
fn ours(text: &str) -> Outcome {
    match oslo::__private::parse_ini(text) {
        Err(err) if err.message == "section must be started before assignment" => {
            let lines: Vec<&str> = text.lines().collect();
            let flushed = (err.line..lines.len())
                .find(|&index| {
                    let line = lines[index].trim_end();
                    line.is_empty() || !line.starts_with([' ', '\t'])
                })
                .map_or(lines.len(), |index| index + 1);
            Outcome::ErrorLine(flushed)
        }
        Ok(assignments) => {
            let mut sections: BTreeMap<String, BTreeMap<String, Vec<String>>> = BTreeMap::new();
            for a in assignments {
                sections
                    .entry(a.section)
                    .or_default()
                    .entry(a.key)
                    .or_default()
                    .push(a.value);
            }
            Outcome::Sections(sections)
        }
        Err(err) => Outcome::ErrorLine(err.line),
    }
}

/// A Python with oslo.config: `benches/.venv`, brought in step with the pinned
/// `benches/requirements.txt` by `benches/python-env.sh` (at once when it is).
fn python() -> PathBuf {
    if let Some(python) = std::env::var_os("OSLO_CONFIG_PYTHON") {
        return PathBuf::from(python);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let status = Command::new("bash")
        .arg("-c")
        .arg("source benches/python-env.sh")
        .current_dir(&root)
        .status()
        .expect("run benches/python-env.sh");
    assert!(
        status.success(),
        "cannot install benches/requirements.txt into benches/.venv"
    );
    let venv = root.join("benches/.venv/bin/python");
    let has_oslo_config = Command::new(&venv)
        .args(["-c", "import oslo_config"])
        .status()
        .is_ok_and(|status| status.success());
    assert!(has_oslo_config, "benches/.venv has no oslo.config");
    venv
}

fn theirs(python: &Path, texts: &[String]) -> Vec<Outcome> {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ini_oracle.py");
    let mut child = Command::new(python)
        .arg(script)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the oslo.config oracle");
    let input = serde_json::to_string(texts).unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success(), "the oracle failed");
    parse_outcomes(&String::from_utf8(output.stdout).unwrap())
}

#[test]
fn the_ini_reader_reads_every_file_as_oslo_config_does() {
    let texts = files(3000, 0x05_10);
    let expected = theirs(&python(), &texts);
    assert_eq!(expected.len(), texts.len());
    let mut differences = Vec::new();
    for (text, expected) in texts.iter().zip(&expected) {
        let found = ours(text);
        if &found != expected {
            differences.push(format!(
                "{text:?}\n  oslo.config: {expected:?}\n  ours:        {found:?}"
            ));
        }
    }
    let broken = expected
        .iter()
        .filter(|o| matches!(o, Outcome::ErrorLine(_)))
        .count();
    assert!(
        broken > 100 && broken < texts.len() - 100,
        "{broken} broken files: a poor sample"
    );
    assert!(
        differences.is_empty(),
        "{} of {} files read differently:\n{}",
        differences.len(),
        texts.len(),
        differences
            .iter()
            .take(10)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

/// The oracle's answer: a list of `{"error_line": N}` and `{"sections": {...}}`.
fn parse_outcomes(json: &str) -> Vec<Outcome> {
    #[derive(serde::Deserialize)]
    struct Answer {
        error_line: Option<usize>,
        sections: Option<BTreeMap<String, BTreeMap<String, Vec<String>>>>,
    }
    let answers: Vec<Answer> = serde_json::from_str(json).expect("the oracle's JSON");
    answers
        .into_iter()
        .map(|answer| match (answer.error_line, answer.sections) {
            (Some(line), _) => Outcome::ErrorLine(line),
            // A section without options sets nothing: ours has no word for it.
            (None, Some(mut sections)) => {
                sections.retain(|_, options| !options.is_empty());
                Outcome::Sections(sections)
            }
            (None, None) => panic!("an answer with neither sections nor error"),
        })
        .collect()
}
