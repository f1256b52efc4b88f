//! The public API, as a list a reviewer reads: every public item reachable from the
//! crate's root (modules, types, traits, functions, constants, re-exports, and the
//! public functions of their inherent impls) with its signature, each variant of an
//! enum and each public field of a struct with its type, and whether the type is
//! `#[non_exhaustive]`, written to `tests/public-api.txt`. A
//! change to the list fails this test until the file is rewritten with it
//! (`UPDATE_PUBLIC_API=1 cargo test -p oslo-service --test public_api`), so that a leak
//! of an internal shows in the diff under review. `#[doc(hidden)]` modules
//! (`__private`) and test code are left out.

use std::path::{Path, PathBuf};

use quote::ToTokens;
use syn::{Attribute, Item, Visibility};

/// Tokens as one reads them: `io::Result<TcpListener>`, not `io :: Result < TcpListener >`.
fn text(tokens: &impl ToTokens) -> String {
    let mut text = tokens.to_token_stream().to_string();
    for (spaced, tight) in [
        (" :: ", "::"),
        (":: ", "::"),
        (" ::", "::"),
        (" < ", "<"),
        ("< ", "<"),
        (" <", "<"),
        (" >", ">"),
        ("& ", "&"),
        (" ,", ","),
        ("( ", "("),
        (" )", ")"),
        ("[ ", "["),
        (" ]", "]"),
        ("! ", "!"),
        (" ;", ";"),
        ("' ", "'"),
        (" (", "("),
        (" : ", ": "),
        (",)", ")"),
        (",>", ">"),
    ] {
        while text.contains(spaced) {
            text = text.replace(spaced, tight);
        }
    }
    text
}

/// A function's signature after its `fn` (which the list's kind already says).
fn signature(sig: &syn::Signature) -> String {
    let text = text(sig);
    text.strip_prefix("fn ").map_or(text.clone(), str::to_owned)
}

fn non_exhaustive(attrs: &[Attribute]) -> bool {
    attrs
        .iter()
        .any(|attr| attr.path().is_ident("non_exhaustive"))
}

/// A struct's or a variant's fields as written, with only the public ones of a struct.
fn fields(fields: &syn::Fields, public_only: bool) -> String {
    let shown = |field: &syn::Field| !public_only || is_public(&field.vis);
    match fields {
        syn::Fields::Named(named) => {
            let list: Vec<String> = named
                .named
                .iter()
                .filter(|f| shown(f))
                .map(|f| format!("{}: {}", f.ident.as_ref().unwrap(), text(&f.ty)))
                .collect();
            match list.is_empty() {
                true => String::new(),
                false => format!(" {{ {} }}", list.join(", ")),
            }
        }
        syn::Fields::Unnamed(unnamed) => {
            let list: Vec<String> = unnamed
                .unnamed
                .iter()
                .map(|f| match shown(f) {
                    true => text(&f.ty),
                    false => "_".to_owned(),
                })
                .collect();
            format!("({})", list.join(", "))
        }
        syn::Fields::Unit => String::new(),
    }
}

fn is_public(vis: &Visibility) -> bool {
    matches!(vis, Visibility::Public(_))
}

fn is_hidden_or_test(attrs: &[Attribute]) -> bool {
    attrs.iter().any(|attr| {
        let path = attr.path();
        (path.is_ident("doc") || path.is_ident("cfg"))
            && attr.meta.require_list().is_ok_and(|list| {
                let tokens = list.tokens.to_string();
                tokens == "hidden" || tokens == "test"
            })
    })
}

/// The file of module `name` declared in `file` (`name.rs`, `name/mod.rs`, or a
/// `#[path]`).
fn module_file(file: &Path, name: &str, attrs: &[Attribute]) -> PathBuf {
    let dir = match file.file_name().and_then(|n| n.to_str()) {
        Some("lib.rs" | "mod.rs") => file.parent().unwrap().to_owned(),
        _ => file.with_extension(""),
    };
    for attr in attrs {
        if attr.path().is_ident("path") {
            if let syn::Meta::NameValue(nv) = attr.meta.clone() {
                if let syn::Expr::Lit(syn::ExprLit {
                    lit: syn::Lit::Str(path),
                    ..
                }) = nv.value
                {
                    return dir.join(path.value());
                }
            }
        }
    }
    let flat = dir.join(format!("{name}.rs"));
    if flat.exists() {
        flat
    } else {
        dir.join(name).join("mod.rs")
    }
}

/// What the walk found: the public items by path, and the public methods of every
/// inherent impl of the crate (by the name of their type), wherever the impl is.
#[derive(Default)]
struct Found {
    items: Vec<String>,
    methods: Vec<(String, String, String)>,
}

fn walk(file: &Path, items: &[Item], prefix: &str, public: bool, found: &mut Found) {
    for item in items {
        let out = &mut found.items;
        // `path kind` then what the item says of itself: its signature, variants, fields.
        let mut push = |kind: &str, name: String| {
            if public {
                let (name, detail) = name.split_once(": ").unwrap_or((&name, ""));
                out.push(
                    format!("{prefix}::{name} {kind} {detail}")
                        .trim_end()
                        .to_owned(),
                );
            }
        };
        match item {
            Item::Mod(module) if !is_hidden_or_test(&module.attrs) => {
                let name = module.ident.to_string();
                let inner_public = public && is_public(&module.vis);
                if inner_public {
                    push("mod", name.clone());
                }
                let path = format!("{prefix}::{name}");
                match &module.content {
                    Some((_, inner)) => walk(file, inner, &path, inner_public, found),
                    None => {
                        let child = module_file(file, &name, &module.attrs);
                        let text = std::fs::read_to_string(&child)
                            .unwrap_or_else(|err| panic!("{}: {err}", child.display()));
                        let parsed = syn::parse_file(&text).expect("parse");
                        walk(&child, &parsed.items, &path, inner_public, found);
                    }
                }
            }
            Item::Fn(f) if is_public(&f.vis) && !is_hidden_or_test(&f.attrs) => {
                push("fn", format!("{}: {}", f.sig.ident, signature(&f.sig)))
            }
            Item::Struct(s) if is_public(&s.vis) && !is_hidden_or_test(&s.attrs) => {
                let kind = match non_exhaustive(&s.attrs) {
                    true => "struct, non_exhaustive",
                    false => "struct",
                };
                push(
                    kind,
                    format!(
                        "{}{}: {}",
                        s.ident,
                        text(&s.generics),
                        fields(&s.fields, true)
                    ),
                )
            }
            Item::Enum(e) if is_public(&e.vis) && !is_hidden_or_test(&e.attrs) => {
                let kind = match non_exhaustive(&e.attrs) {
                    true => "enum, non_exhaustive",
                    false => "enum",
                };
                let variants: Vec<String> = e
                    .variants
                    .iter()
                    .map(|v| format!("{}{}", v.ident, fields(&v.fields, false)))
                    .collect();
                push(
                    kind,
                    format!("{}{}: {}", e.ident, text(&e.generics), variants.join(" | ")),
                )
            }
            Item::Trait(t) if is_public(&t.vis) && !is_hidden_or_test(&t.attrs) => {
                let items: Vec<String> = t
                    .items
                    .iter()
                    .filter_map(|item| match item {
                        syn::TraitItem::Fn(f) => Some(text(&f.sig)),
                        syn::TraitItem::Type(ty) => Some(format!("type {}", ty.ident)),
                        syn::TraitItem::Const(c) => Some(format!("const {}", c.ident)),
                        _ => None,
                    })
                    .collect();
                push(
                    "trait",
                    format!("{}{}: {}", t.ident, text(&t.generics), items.join("; ")),
                )
            }
            Item::Const(c) if is_public(&c.vis) && !is_hidden_or_test(&c.attrs) => {
                push("const", format!("{}: {}", c.ident, text(&c.ty)))
            }
            Item::Static(s) if is_public(&s.vis) && !is_hidden_or_test(&s.attrs) => {
                push("static", format!("{}: {}", s.ident, text(&s.ty)))
            }
            Item::Type(t) if is_public(&t.vis) && !is_hidden_or_test(&t.attrs) => {
                push("type", format!("{}: {}", t.ident, text(&t.ty)))
            }
            Item::Use(u) if is_public(&u.vis) && !is_hidden_or_test(&u.attrs) => {
                let text = quote_use(&u.tree);
                push("use", text)
            }
            Item::Impl(imp) if imp.trait_.is_none() && !is_hidden_or_test(&imp.attrs) => {
                let ty = match &*imp.self_ty {
                    syn::Type::Path(path) => path
                        .path
                        .segments
                        .last()
                        .map(|s| s.ident.to_string())
                        .unwrap_or_default(),
                    _ => continue,
                };
                for inner in &imp.items {
                    if let syn::ImplItem::Fn(f) = inner {
                        if is_public(&f.vis) && !is_hidden_or_test(&f.attrs) {
                            found.methods.push((
                                ty.clone(),
                                f.sig.ident.to_string(),
                                signature(&f.sig),
                            ));
                        }
                    }
                }
            }
            _ => {}
        }
    }
}

/// A use tree as written, `a::{b, c as d}`.
fn quote_use(tree: &syn::UseTree) -> String {
    match tree {
        syn::UseTree::Path(path) => format!("{}::{}", path.ident, quote_use(&path.tree)),
        syn::UseTree::Name(name) => name.ident.to_string(),
        syn::UseTree::Rename(rename) => format!("{} as {}", rename.ident, rename.rename),
        syn::UseTree::Glob(_) => "*".to_owned(),
        syn::UseTree::Group(group) => {
            let mut parts: Vec<String> = group.items.iter().map(quote_use).collect();
            parts.sort();
            format!("{{{}}}", parts.join(", "))
        }
    }
}

#[test]
fn the_public_api_is_the_reviewed_list() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let lib = root.join("src/lib.rs");
    let parsed = syn::parse_file(&std::fs::read_to_string(&lib).unwrap()).unwrap();
    let mut found = Found::default();
    walk(&lib, &parsed.items, "oslo", true, &mut found);
    // The types a user can name: those declared or re-exported in the public tree.
    let named: std::collections::BTreeSet<String> = found
        .items
        .iter()
        .map(|line| match line.strip_suffix(" use") {
            // A use tree may hold spaces (`a::{B, C}`); other items' paths hold none.
            Some(tree) => tree,
            None => line.split_once(' ').map_or(line.as_str(), |(path, _)| path),
        })
        .flat_map(|path| {
            let last = path.rsplit("::").next().unwrap_or_default();
            last.trim_matches(|c| c == '{' || c == '}')
                .split(", ")
                .map(|name| name.rsplit(" as ").next().unwrap_or(name).to_owned())
                .collect::<Vec<_>>()
        })
        .collect();
    let mut items = found.items;
    for (ty, method, signature) in found.methods {
        if named.contains(&ty) {
            items.push(format!("impl {ty}::{method} fn {signature}"));
        }
    }
    items.sort();
    items.dedup();
    let listed = items.join("\n") + "\n";
    let snapshot = root.join("tests/public-api.txt");
    if std::env::var_os("UPDATE_PUBLIC_API").is_some() {
        std::fs::write(&snapshot, &listed).unwrap();
        return;
    }
    let reviewed = std::fs::read_to_string(&snapshot).unwrap_or_default();
    if reviewed != listed {
        let old: std::collections::BTreeSet<&str> = reviewed.lines().collect();
        let new: std::collections::BTreeSet<&str> = listed.lines().collect();
        let added: Vec<&&str> = new.difference(&old).collect();
        let removed: Vec<&&str> = old.difference(&new).collect();
        panic!(
            "the public API changed; review it, then rewrite tests/public-api.txt with \
             UPDATE_PUBLIC_API=1 cargo test -p oslo-service --test public_api\n\
             added: {added:#?}\nremoved: {removed:#?}"
        );
    }
    // The internals the house's second pass took out stay out.
    for internal in [
        "SignalLoop::install_supervisor",
        "SignalLoop::install_worker",
        "SignalLoop::forget_deferred",
        "signals::capture_early",
        "signals::stop_requested_early",
        "LauncherState",
        "parse_ini",
        "forget_notify_socket_env",
        "Invocation",
        "CommandLine",
    ] {
        assert!(
            !listed.contains(internal),
            "{internal} is public again:\n{listed}"
        );
    }
}
