//! Doc comments read as help: each `///` line as written, and the text the sample
//! config shows for it.

use syn::{Attribute, Expr, ExprLit, Lit, Meta};

/// The text of each `#[doc = "..."]` (`///` line).
pub(crate) fn doc_lines(attrs: &[Attribute]) -> Vec<String> {
    attrs
        .iter()
        .filter(|attr| attr.path().is_ident("doc"))
        .filter_map(|attr| match &attr.meta {
            Meta::NameValue(nv) => match &nv.value {
                Expr::Lit(ExprLit {
                    lit: Lit::Str(s), ..
                }) => Some(s.value()),
                _ => None,
            },
            _ => None,
        })
        .collect()
}

/// The help text of a doc comment: lines trimmed, lines of a paragraph joined with a
/// space, paragraphs with `\n`.
pub(crate) fn help_text(docs: &[String]) -> String {
    let mut paragraphs: Vec<String> = Vec::new();
    let mut current = String::new();
    // An empty `///` line gives an empty doc attribute: a paragraph break.
    for line in docs.iter().flat_map(|doc| {
        let lines: Vec<&str> = doc.lines().collect();
        if lines.is_empty() { vec![""] } else { lines }
    }) {
        let line = line.trim();
        if line.is_empty() {
            if !current.is_empty() {
                paragraphs.push(std::mem::take(&mut current));
            }
            continue;
        }
        if !current.is_empty() {
            current.push(' ');
        }
        current.push_str(line);
    }
    if !current.is_empty() {
        paragraphs.push(current);
    }
    paragraphs.join("\n")
}
