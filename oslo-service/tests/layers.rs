//! The layer rule of ARCHITECTURE.md, checked: every import of one top-level module of
//! the runtime crate from another points to its own layer or one below, no two modules
//! import each other (directly or around a circle), and the map names every module once.
//!
//! Imports are read from the source text: `crate::module…` paths (and `crate::{…}`
//! groups), `super::` paths that climb out of a module, and the root's re-exports
//! (`crate::Error` is `error`'s). Comments and `#[cfg(test)]` modules are left out:
//! tests may reach anywhere.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module name to layer rank (0 is the bottom) and layer name, from ARCHITECTURE.md's
/// table under "## Layers": `| layer | modules | … |`, top layer first.
fn layers(map: &str) -> BTreeMap<String, (usize, String)> {
    let table: Vec<&str> = map
        .lines()
        .skip_while(|line| line.trim() != "## Layers")
        .skip(1)
        .skip_while(|line| !line.starts_with('|'))
        .take_while(|line| line.starts_with('|'))
        .skip(2) // header and separator
        .collect();
    assert!(
        !table.is_empty(),
        "ARCHITECTURE.md has no table under '## Layers'"
    );
    let mut modules = BTreeMap::new();
    for (index, row) in table.iter().enumerate() {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let (layer, listed) = (cells[1], cells[2]);
        let rank = table.len() - 1 - index;
        for module in listed.split(',').map(|m| m.trim().trim_matches('`')) {
            let previous = modules.insert(module.to_owned(), (rank, layer.to_owned()));
            assert!(previous.is_none(), "ARCHITECTURE.md lists `{module}` twice");
        }
    }
    modules
}

/// Every `.rs` file under `dir`, but test files.
fn sources(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("read src entry").path();
        if path.is_dir() {
            sources(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs")
            && path.file_stem().is_some_and(|s| s != "tests")
        {
            found.push(path);
        }
    }
}

/// The module path of a file relative to `src`: `launcher/worker/mod.rs` is
/// `["launcher", "worker"]`, `lib.rs` is `[]`.
fn module_path(relative: &Path) -> Vec<String> {
    let mut parts: Vec<String> = relative
        .iter()
        .map(|part| part.to_string_lossy().into_owned())
        .collect();
    let file = parts.pop().unwrap_or_default();
    let stem = file.trim_end_matches(".rs");
    if stem != "mod" && stem != "lib" {
        parts.push(stem.to_owned());
    }
    parts
}

/// The code of a file without comments, string and character literals, and its
/// `#[cfg(test)]` module.
fn code(text: &str) -> String {
    let text = match text.find("#[cfg(test)]\nmod ") {
        Some(at) => &text[..at],
        None => text,
    };
    let mut out = String::new();
    let mut in_string = false;
    let mut in_comment = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                in_comment = false;
                out.push(c);
            }
            _ if in_comment => {}
            '\\' if in_string => {
                chars.next();
            }
            '"' => in_string = !in_string,
            _ if in_string => {}
            '/' if chars.peek() == Some(&'/') => in_comment = true,
            // A character literal ('"', '\'', 'x'); a lifetime has no closing quote.
            '\'' => {
                let mut ahead = chars.clone();
                match (ahead.next(), ahead.next()) {
                    (Some('\\'), _) => {
                        chars.next();
                        chars.next();
                        while chars.next().is_some_and(|c| c != '\'') {}
                    }
                    (Some(_), Some('\'')) => {
                        chars.next();
                        chars.next();
                    }
                    _ => out.push(c),
                }
            }
            _ => out.push(c),
        }
    }
    out
}

/// The first segment of every path that starts at the crate root, as written in `code`
/// by a file of module `path`: `crate::a::…`, each name of `crate::{a, b::c}`, and
/// `super::…` chains that climb to the root.
fn root_references(code: &str, path: &[String]) -> Vec<String> {
    let mut found = Vec::new();
    let bytes = code.as_bytes();
    let word_before =
        |at: usize| at > 0 && (bytes[at - 1].is_ascii_alphanumeric() || bytes[at - 1] == b'_');
    for (at, _) in code.match_indices("crate::") {
        if word_before(at) {
            continue;
        }
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            found.extend(group_heads(group));
        } else {
            found.push(identifier(rest));
        }
    }
    // `super::` in a file of depth n climbs one level per occurrence in a chain.
    let mut at = 0;
    while let Some(offset) = code[at..].find("super::") {
        let start = at + offset;
        at = start + "super::".len();
        if word_before(start) || code[..start].ends_with("::") {
            continue;
        }
        let mut climbs = 1;
        let mut rest = &code[at..];
        while let Some(more) = rest.strip_prefix("super::") {
            climbs += 1;
            rest = more;
        }
        // A `mod.rs`-less file's own module counts as one level.
        if climbs == path.len() {
            match rest.strip_prefix('{') {
                Some(group) => found.extend(group_heads(group)),
                None => found.push(identifier(rest)),
            }
        }
    }
    found.retain(|name| !name.is_empty() && name != "self");
    found
}

fn identifier(text: &str) -> String {
    text.chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The first name of each path in a `{…}` group (nested groups skipped over).
fn group_heads(group: &str) -> Vec<String> {
    let mut heads = Vec::new();
    let mut depth = 0;
    let mut expecting = true;
    for (index, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => expecting = true,
            c if expecting && depth == 0 && (c.is_ascii_alphabetic() || c == '_') => {
                heads.push(identifier(&group[index..]));
                expecting = false;
            }
            _ => {}
        }
    }
    heads
}

/// The root's re-exports: name to the module it comes from (`Error` → `error`).
fn reexports(lib: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for statement in code(lib).split(';') {
        let Some(path) = statement.trim().strip_prefix("pub use ") else {
            continue;
        };
        let module = identifier(path);
        let names = match path.find('{') {
            Some(open) => group_heads(&path[open + 1..]),
            None => vec![identifier(path.rsplit("::").next().unwrap_or(path))],
        };
        for name in names {
            map.insert(name, module.clone());
        }
    }
    map
}

#[test]
fn imports_point_down_the_layers_and_never_around_a_circle() {
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let src = manifest.join("src");
    let map = std::fs::read_to_string(manifest.join("../ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md at the workspace root");
    let layers = layers(&map);
    let lib = std::fs::read_to_string(src.join("lib.rs")).expect("lib.rs");
    let reexported = reexports(&lib);

    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut seen_modules = BTreeSet::new();
    let mut problems = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let path = module_path(relative);
        let Some(module) = path.first() else {
            continue; // lib.rs: declarations and re-exports only
        };
        seen_modules.insert(module.clone());
        let text = std::fs::read_to_string(file).expect("read source");
        for name in root_references(&code(&text), &path) {
            let target = if layers.contains_key(&name) {
                name
            } else if let Some(module) = reexported.get(&name) {
                module.clone()
            } else {
                continue; // a macro or an item of another crate
            };
            if &target != module {
                edges.entry(module.clone()).or_default().insert(target);
            }
        }
    }

    for module in &seen_modules {
        if !layers.contains_key(module) {
            problems.push(format!(
                "module `{module}` is missing from ARCHITECTURE.md's layers"
            ));
        }
    }
    for module in layers.keys() {
        if !seen_modules.contains(module) {
            problems.push(format!(
                "ARCHITECTURE.md lists `{module}`, which src/ does not have"
            ));
        }
    }
    for (from, targets) in &edges {
        for to in targets {
            if let (Some((from_rank, from_layer)), Some((to_rank, to_layer))) =
                (layers.get(from), layers.get(to))
            {
                if to_rank > from_rank {
                    problems.push(format!(
                        "`{from}` ({from_layer}) imports `{to}` from a layer above it ({to_layer})"
                    ));
                }
            }
        }
    }
    for cycle in cycles(&edges) {
        problems.push(format!("import cycle: {}", cycle.join(" -> ")));
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every cycle of the graph, each once, as the modules around it.
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> BTreeSet<Vec<String>> {
    fn walk(
        node: &str,
        stack: &mut Vec<String>,
        edges: &BTreeMap<String, BTreeSet<String>>,
        found: &mut BTreeSet<Vec<String>>,
    ) {
        for next in edges.get(node).into_iter().flatten() {
            if let Some(at) = stack.iter().position(|m| m == next) {
                let mut cycle = stack[at..].to_vec();
                let start = (0..cycle.len()).min_by_key(|&i| &cycle[i]).unwrap_or(0);
                cycle.rotate_left(start);
                let first = cycle[0].clone();
                cycle.push(first);
                found.insert(cycle);
            } else if stack.len() < 16 {
                stack.push(next.clone());
                walk(next, stack, edges, found);
                stack.pop();
            }
        }
    }
    let mut found = BTreeSet::new();
    for node in edges.keys() {
        walk(node, &mut vec![node.clone()], edges, &mut found);
    }
    found
}

/// `super::name` and `crate::package::name` paths of a file directly inside `package`:
/// the sibling modules it imports.
fn sibling_references(code: &str, package: &str, direct: bool) -> Vec<String> {
    let mut found = Vec::new();
    let mut prefixes = vec![format!("crate::{package}::")];
    if direct {
        prefixes.push(String::from("super::"));
    }
    for prefix in &prefixes {
        for (at, _) in code.match_indices(prefix.as_str()) {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            match rest.strip_prefix('{') {
                Some(group) => found.extend(group_heads(group)),
                None => found.push(identifier(rest)),
            }
        }
    }
    found
}

#[test]
fn no_package_has_a_cycle_among_its_modules() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in &files {
        let path = module_path(file.strip_prefix(&src).expect("under src"));
        let [package, module, ..] = path.as_slice() else {
            continue;
        };
        let dir = src.join(package);
        let text = std::fs::read_to_string(file).expect("read source");
        // Only a file directly in the package (`pkg/x.rs`, `pkg/x/mod.rs`) names its
        // siblings with `super::`.
        let direct = path.len() == 2;
        for name in sibling_references(&code(&text), package, direct) {
            let sibling = dir.join(format!("{name}.rs")).exists() || dir.join(&name).is_dir();
            if sibling && &name != module {
                edges
                    .entry(format!("{package}::{module}"))
                    .or_default()
                    .insert(format!("{package}::{name}"));
            }
        }
    }
    let cycles = cycles(&edges);
    assert!(
        cycles.is_empty(),
        "{}",
        cycles
            .iter()
            .map(|cycle| format!("import cycle: {}", cycle.join(" -> ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn the_checker_sees_every_way_of_naming_another_module() {
    let code = code(
        "use crate::config::Config;\nuse crate::{error::Error, looping::{A, B}};\n\
         // crate::launcher in a comment\nlet s = \"crate::entry\";\nlet q = '\"';\n\
         fn f<'a>() -> crate::Error {}\n\
         use super::super::signals::x;\n",
    );
    let found = root_references(&code, &["periodic".to_owned(), "driver".to_owned()]);
    assert_eq!(found, ["config", "error", "looping", "Error", "signals"]);
    assert_eq!(
        reexports("pub use error::{BoxError, Error};\npub use launcher::launch;\n")
            .get("Error")
            .map(String::as_str),
        Some("error")
    );
    let mut edges = BTreeMap::new();
    edges.insert("a".to_owned(), BTreeSet::from(["b".to_owned()]));
    edges.insert("b".to_owned(), BTreeSet::from(["a".to_owned()]));
    assert_eq!(cycles(&edges).len(), 1);
}
