//! Checks of `#[derive(OptionValue)]`: an enum with at least one variant, none with
//! fields, and each read from its own text.

use proc_macro2::TokenStream;
use quote::ToTokens as _;
use syn::ext::IdentExt as _;
use syn::{Fields, Ident, LitStr, Path};

use super::parse::{Input, Shape, Variant};
use crate::args::{self, Known};
use crate::diag::Errors;
use crate::doc::help_text;

const ENUM_ARGS: Known = Known {
    attr: "#[opt] on an enum that derives OptionValue",
    names: &["crate"],
    misplaced: &[(
        "name",
        "`name` goes on a variant: `#[opt(name = \"...\")]` is the text that reads as that variant",
    )],
};

const VARIANT_ARGS: Known = Known {
    attr: "#[opt] on a variant",
    names: &["name"],
    misplaced: &[(
        "crate",
        "`crate` goes on the enum itself: `#[opt(crate = \"...\")]` above `enum`",
    )],
};

/// An enum that can be an option's type.
pub(crate) struct Checked<'a> {
    /// The enum.
    pub(crate) input: &'a Input,
    /// Where the runtime is.
    pub(crate) runtime: Path,
    /// Its variants, in order.
    pub(crate) choices: Vec<Choice<'a>>,
}

/// One variant and the text that reads as it.
pub(crate) struct Choice<'a> {
    /// The variant.
    pub(crate) ident: &'a Ident,
    /// Its text: `#[opt(name = "...")]`, or its name in snake_case.
    pub(crate) value: String,
    /// Its doc comment as help text; empty without one.
    pub(crate) help: String,
}

/// Checks the enum; every mistake goes to `errors`, and what can be trusted is returned.
pub(crate) fn validate<'a>(input: &'a Input, errors: &mut Errors) -> Checked<'a> {
    for error in &input.attr_errors {
        errors.push(error.clone());
    }
    let mut runtime = None;
    args::read(
        &input.args,
        &ENUM_ARGS,
        errors,
        |name, arg, errors| match name {
            "crate" => runtime = args::crate_path(arg, errors),
            other => unreachable!("argument `{other}` is in ENUM_ARGS but not read"),
        },
    );
    let mut choices: Vec<Choice> = Vec::new();
    match &input.shape {
        Shape::Other { head, what } => errors.at(
            head,
            format!(
                "#[derive(OptionValue)] goes on an enum whose variants have no fields, one per value the option takes, not on {what}"
            ),
        ),
        Shape::Enum { head, variants } if variants.is_empty() => errors.at(
            head,
            "#[derive(OptionValue)] needs at least one variant: an option of an empty enum could take no value",
        ),
        Shape::Enum { variants, .. } => {
            for variant in variants {
                let Some((choice, at)) = choice(variant, errors) else {
                    continue;
                };
                if let Some(first) = choices.iter().find(|c| c.value == choice.value) {
                    errors.at(
                        at,
                        format!(
                        "variant `{}` reads as `{}`, as `{}` before it does; give one of them another text with #[opt(name = \"...\")]",
                        choice.ident.unraw(),
                        choice.value,
                            first.ident.unraw()
                        ),
                    );
                }
                choices.push(choice);
            }
        }
    }
    Checked {
        input,
        runtime: args::runtime_path(runtime),
        choices,
    }
}

/// The variant's text and help, and where its text comes from (the `name` literal, or
/// the variant's name) for an error about it; `None` when it cannot be one.
fn choice<'a>(variant: &'a Variant, errors: &mut Errors) -> Option<(Choice<'a>, TokenStream)> {
    for error in &variant.attr_errors {
        errors.push(error.clone());
    }
    if let Some(cfg) = &variant.cfg {
        errors.at(
            cfg,
            "#[derive(OptionValue)] does not take `#[cfg]` on a variant: the values an option takes are the same in every build; leave the variant in and refuse it where the option is read",
        );
    }
    let mut named: Option<LitStr> = None;
    let mut bad_name = false;
    args::read(
        &variant.args,
        &VARIANT_ARGS,
        errors,
        |name, arg, errors| match name {
            "name" => match args::string(arg, errors) {
                Some(lit) if lit.value().is_empty() => {
                    errors.at(
                        lit,
                        "`name` takes the text that reads as this variant: not empty",
                    );
                    bad_name = true;
                }
                Some(lit) if lit.value().trim() != lit.value() || lit.value().contains(',') => {
                    errors.at(
                    lit,
                    "`name` takes a text without leading or trailing spaces or commas: values are read trimmed, and lists split at commas",
                );
                    bad_name = true;
                }
                Some(lit) => named = Some(lit.clone()),
                None => bad_name = true,
            },
            other => unreachable!("argument `{other}` is in VARIANT_ARGS but not read"),
        },
    );
    if !matches!(variant.fields, Fields::Unit) {
        errors.between(
            &variant.ident,
            &variant.fields,
            format!(
                "#[derive(OptionValue)] takes variants without fields, one per value; `{}` has fields",
                variant.ident.unraw()
            ),
        );
        return None;
    }
    if bad_name {
        return None;
    }
    let value = named.as_ref().map_or_else(
        || snake_case(&variant.ident.unraw().to_string()),
        LitStr::value,
    );
    let at = match &named {
        Some(lit) => lit.to_token_stream(),
        None => variant.ident.to_token_stream(),
    };
    Some((
        Choice {
            ident: &variant.ident,
            value,
            help: help_text(&variant.docs),
        },
        at,
    ))
}

/// `FastPath` as `fast_path`, `HTTPServer` as `http_server`: a new word at each capital
/// after a lower-case letter or digit, and at the last capital of a run followed by a
/// lower-case letter.
pub(crate) fn snake_case(name: &str) -> String {
    let chars: Vec<char> = name.chars().collect();
    let mut out = String::with_capacity(name.len() + 4);
    for (index, &c) in chars.iter().enumerate() {
        if c.is_uppercase() && index > 0 && !out.ends_with('_') {
            let before = chars[index - 1];
            let after = chars.get(index + 1).copied();
            let starts_word = before.is_lowercase()
                || before.is_ascii_digit()
                || (before.is_uppercase() && after.is_some_and(char::is_lowercase));
            if starts_word {
                out.push('_');
            }
        }
        out.extend(c.to_lowercase());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::messages;
    use quote::quote;

    fn check(tokens: proc_macro2::TokenStream) -> (Vec<(String, String)>, Vec<String>) {
        let input = super::super::parse::item(tokens).unwrap();
        let mut errors = Errors::new();
        let checked = validate(&input, &mut errors);
        let choices = checked
            .choices
            .iter()
            .map(|c| (c.value.clone(), c.help.clone()))
            .collect();
        let messages = errors
            .into_error()
            .map(|e| messages(&e))
            .unwrap_or_default();
        (choices, messages)
    }

    #[test]
    fn names_in_snake_case() {
        for (name, snake) in [
            ("Fast", "fast"),
            ("FastPath", "fast_path"),
            ("HTTPServer", "http_server"),
            ("Ipv4Only", "ipv4_only"),
            ("V2", "v2"),
            ("Already_Snake", "already_snake"),
            ("ABC", "abc"),
        ] {
            assert_eq!(snake_case(name), snake, "{name}");
        }
    }

    #[test]
    fn reads_values_and_help() {
        let (choices, errors) = check(quote! {
            enum Mode {
                /// Quick,
                /// and loose.
                ///
                /// Second paragraph.
                FastPath,
                #[opt(name = "careful")]
                Safe,
                r#Type = 3,
            }
        });
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(
            choices,
            [
                (
                    "fast_path".to_owned(),
                    "Quick, and loose.\nSecond paragraph.".to_owned()
                ),
                ("careful".to_owned(), String::new()),
                ("type".to_owned(), String::new()),
            ]
        );
    }

    #[test]
    fn refuses_what_cannot_be_a_choice() {
        let errors = |tokens| check(tokens).1;
        assert_eq!(
            errors(quote!(
                enum E {
                    A,
                    #[cfg(unix)]
                    B,
                }
            )),
            [
                "#[derive(OptionValue)] does not take `#[cfg]` on a variant: the values an option takes are the same in every build; leave the variant in and refuse it where the option is read"
            ]
        );
        assert_eq!(
            errors(quote!(
                struct S;
            )),
            [
                "#[derive(OptionValue)] goes on an enum whose variants have no fields, one per value the option takes, not on a struct"
            ]
        );
        assert_eq!(
            errors(quote!(
                enum E {}
            )),
            [
                "#[derive(OptionValue)] needs at least one variant: an option of an empty enum could take no value"
            ]
        );
        assert_eq!(
            errors(quote!(
                enum E {
                    A,
                    B(u32),
                    C { x: u32 },
                }
            )),
            [
                "#[derive(OptionValue)] takes variants without fields, one per value; `B` has fields",
                "#[derive(OptionValue)] takes variants without fields, one per value; `C` has fields",
            ]
        );
        assert_eq!(
            errors(quote!(
                enum E {
                    FastPath,
                    #[opt(name = "fast_path")]
                    Quick,
                }
            )),
            [
                "variant `Quick` reads as `fast_path`, as `FastPath` before it does; give one of them another text with #[opt(name = \"...\")]"
            ]
        );
        assert_eq!(
            errors(quote!(
                #[opt(crate = "x", name = "y")]
                enum E {
                    #[opt(rename = "a", crate = "x")]
                    A,
                    #[opt(name = b)]
                    B,
                    #[opt(name = "")]
                    C,
                    #[opt(name = " d,")]
                    D,
                }
            )),
            [
                "`name` goes on a variant: `#[opt(name = \"...\")]` is the text that reads as that variant",
                "unknown argument `rename` of #[opt] on a variant; expected one of: name",
                "`crate` goes on the enum itself: `#[opt(crate = \"...\")]` above `enum`",
                "`name` takes a string literal: `name = \"...\"`",
                "`name` takes the text that reads as this variant: not empty",
                "`name` takes a text without leading or trailing spaces or commas: values are read trimmed, and lists split at commas",
            ]
        );
    }
}
