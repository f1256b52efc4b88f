//! The links of README.md, ARCHITECTURE.md and the guides under docs/: every relative
//! link names a file of the repository (and, with `#anchor`, a heading of it, as GitHub
//! spells anchors), every web link is well formed, and every repository path written
//! as code (`examples/api.rs`) exists.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The documents checked: README.md, ARCHITECTURE.md, docs/*.md.
fn documents() -> Vec<PathBuf> {
    let root = Path::new(ROOT);
    let mut found = vec![root.join("README.md"), root.join("ARCHITECTURE.md")];
    let mut guides: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "md"))
        .collect();
    guides.sort();
    assert!(!guides.is_empty(), "no guide under docs/");
    found.extend(guides);
    found
}

/// The text outside fenced code blocks, line by line (with line numbers).
fn prose(text: &str) -> Vec<(usize, &str)> {
    let mut fenced = false;
    let mut lines = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push((index + 1, line));
        }
    }
    lines
}

/// The spans of inline code of a line, and the line without them.
fn split_code(line: &str) -> (Vec<&str>, String) {
    let mut code = Vec::new();
    let mut rest = String::new();
    let mut parts = line.split('`');
    if let Some(first) = parts.next() {
        rest.push_str(first);
    }
    let mut inside = true;
    for part in parts {
        if inside {
            code.push(part);
        } else {
            rest.push_str(part);
        }
        inside = !inside;
    }
    (code, rest)
}

/// The targets of `[text](target)` and of `[label]: target` in a line of prose.
fn links(line: &str) -> Vec<String> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let after = &rest[at + 2..];
        let end = after.find(')').unwrap_or(after.len());
        targets.push(after[..end].trim().to_owned());
        rest = &after[end..];
    }
    let trimmed = line.trim_start();
    if trimmed.starts_with('[') {
        if let Some((_, target)) = trimmed.split_once("]: ") {
            targets.push(target.trim().to_owned());
        }
    }
    targets
}

/// The anchors GitHub gives the headings of a Markdown text.
fn anchors(text: &str) -> BTreeSet<String> {
    prose(text)
        .into_iter()
        .filter_map(|(_, line)| {
            let heading = line.strip_prefix('#')?;
            let heading = heading.trim_start_matches('#').trim();
            Some(
                heading
                    .to_lowercase()
                    .chars()
                    .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
                    .map(|c| if c == ' ' { '-' } else { c })
                    .collect(),
            )
        })
        .collect()
}

/// Repository paths written as code: `examples/api.rs`, `docs/http.md`, `benches/`.
fn repository_paths<'a>(code: &[&'a str]) -> Vec<&'a str> {
    const TOP: &[&str] = &[
        "examples/",
        "tests/",
        "benches/",
        "docs/",
        "oslo-service/",
        "oslo-service-macros/",
        "ui-tests/",
    ];
    code.iter()
        .copied()
        .filter(|span| !span.contains(' ') && !span.contains('<') && !span.contains('*'))
        .filter(|span| TOP.iter().any(|top| span.starts_with(top)))
        .collect()
}

/// Whether `path` is one of what `.gitignore` lists (`benches/.venv`, `target/`): made
/// when the tests or the benchmarks first run, so a fresh clone has none of them yet.
fn made_at_run_time(path: &str) -> bool {
    let ignored = std::fs::read_to_string(Path::new(ROOT).join(".gitignore")).unwrap();
    ignored
        .lines()
        .map(|entry| entry.trim().trim_start_matches('/').trim_end_matches('*'))
        .filter(|entry| !entry.is_empty() && !entry.starts_with('#'))
        .any(|entry| path.starts_with(entry))
}

#[test]
fn every_link_and_path_of_the_docs_leads_somewhere() {
    let root = Path::new(ROOT);
    let mut broken = Vec::new();
    let mut checked = 0;
    for document in documents() {
        let text = std::fs::read_to_string(&document).unwrap();
        let name = document.strip_prefix(root).unwrap().display().to_string();
        let dir = document.parent().unwrap();
        for (number, line) in prose(&text) {
            let (code, outside) = split_code(line);
            for target in links(&outside) {
                checked += 1;
                if target.starts_with("http://") || target.starts_with("https://") {
                    let host = target.split("://").nth(1).unwrap_or_default();
                    if host.is_empty() || host.starts_with('/') || target.contains(' ') {
                        broken.push(format!("{name}:{number}: malformed URL {target}"));
                    }
                    continue;
                }
                let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let path = if file.is_empty() {
                    document.clone()
                } else {
                    dir.join(file)
                };
                if !path.exists() {
                    broken.push(format!("{name}:{number}: no file {target}"));
                    continue;
                }
                if !anchor.is_empty() {
                    let linked = std::fs::read_to_string(&path).unwrap_or_default();
                    if !anchors(&linked).contains(anchor) {
                        broken.push(format!("{name}:{number}: no heading #{anchor} in {file}"));
                    }
                }
            }
            for path in repository_paths(&code) {
                checked += 1;
                if !root.join(path).exists() && !made_at_run_time(path) {
                    broken.push(format!("{name}:{number}: no such path {path}"));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
    assert!(
        checked > 20,
        "only {checked} links found: is the parser right?"
    );
}

#[test]
fn the_link_check_finds_what_is_broken() {
    assert_eq!(
        links("see [a](docs/a.md#x) and [b](b.md)."),
        ["docs/a.md#x", "b.md"]
    );
    assert_eq!(links("[oslo.service]: https://x.org/"), ["https://x.org/"]);
    let headings = anchors("# Top\n## The program's own `cli`\n```\n# not a heading\n```\n");
    assert!(headings.contains("the-programs-own-cli"), "{headings:?}");
    assert!(!headings.contains("not-a-heading"), "{headings:?}");
    let (code, rest) = split_code("run `examples/api.rs` then [x](y)");
    assert_eq!(repository_paths(&code), ["examples/api.rs"]);
    assert_eq!(links(&rest), ["y"]);
}

#[test]
fn the_readme_is_a_front_door() {
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let lines = readme.lines().count();
    assert!(
        lines < 250,
        "README.md has {lines} lines: the reference belongs in docs/"
    );
    // The two commands, on the first screen.
    let first_screen: String = readme.lines().take(70).collect::<Vec<_>>().join("\n");
    assert!(
        first_screen.contains("cargo run --bin hello"),
        "{first_screen}"
    );
    assert!(
        first_screen.contains("cargo test --workspace"),
        "{first_screen}"
    );
}
