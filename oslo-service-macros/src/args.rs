//! Attribute arguments shared by the macros: `#[oslo::service(crate = "path", name = "x")]`.
//!
//! Parsing only splits the arguments into `name = value` pairs, with any expression as
//! the value (so that a later `options = [A, B]` parses too). Each macro then checks
//! them against its own table of known names with [`read`] and reads the values
//! with the helpers below.

use proc_macro2::{Span, TokenStream};
use syn::ext::IdentExt as _;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Expr, Ident, Lit, LitStr, Path, Token};

use crate::diag::Errors;

/// One argument as written: `name`, or `name = value`.
pub(crate) struct Arg {
    /// The argument's name; may be a keyword (`crate`).
    pub(crate) name: Ident,
    /// `= value`, if written.
    pub(crate) value: Option<(Token![=], Expr)>,
}

impl Parse for Arg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        if !input.peek(Ident::peek_any) {
            return Err(input.error("expected an argument such as `crate = \"path\"`"));
        }
        let name = input.call(Ident::parse_any)?;
        let value = if input.peek(Token![=]) {
            Some((input.parse()?, input.parse()?))
        } else if input.is_empty() || input.peek(Token![,]) {
            None
        } else {
            return Err(input.error(format!("expected `=` after `{}`", name.unraw())));
        };
        Ok(Arg { name, value })
    }
}

/// Parses the arguments of an attribute: a comma-separated list of [`Arg`].
pub(crate) fn parse(tokens: TokenStream) -> syn::Result<Vec<Arg>> {
    let list = syn::parse::Parser::parse2(Punctuated::<Arg, Token![,]>::parse_terminated, tokens)?;
    Ok(list.into_iter().collect())
}

/// What a macro accepts: its name for messages, the arguments it knows, and the
/// arguments it refuses with a message of their own (an argument that belongs on another
/// item, for instance).
pub(crate) struct Known {
    /// The attribute as the user writes it, `#[oslo::service]`.
    pub(crate) attr: &'static str,
    /// The arguments accepted.
    pub(crate) names: &'static [&'static str],
    /// Arguments refused with a specific message, `(name, message)`.
    pub(crate) misplaced: &'static [(&'static str, &'static str)],
}

/// Hands each known argument, in the order written and the first time only, to `read`
/// with its name; reports the unknown, misplaced and repeated ones at their names.
pub(crate) fn read(
    args: &[Arg],
    known: &Known,
    errors: &mut Errors,
    mut read: impl FnMut(&str, &Arg, &mut Errors),
) {
    let mut seen: Vec<String> = Vec::new();
    for arg in args {
        let name = arg.name.unraw().to_string();
        if let Some((_, message)) = known.misplaced.iter().find(|(n, _)| *n == name) {
            errors.at(&arg.name, message);
        } else if !known.names.contains(&name.as_str()) {
            errors.at(
                &arg.name,
                format!(
                    "unknown argument `{name}` of {}; expected one of: {}",
                    known.attr,
                    known.names.join(", ")
                ),
            );
        } else if seen.contains(&name) {
            errors.at(
                &arg.name,
                format!("duplicate argument `{name}` of {}", known.attr),
            );
        } else {
            read(&name, arg, errors);
            seen.push(name);
        }
    }
}

/// The value of `name = "string"`, or an error at the value (or at the name when the
/// value is missing).
pub(crate) fn string<'a>(arg: &'a Arg, errors: &mut Errors) -> Option<&'a LitStr> {
    let name = arg.name.unraw();
    match &arg.value {
        Some((_, Expr::Lit(lit))) => match &lit.lit {
            Lit::Str(s) => return Some(s),
            other => errors.at(
                other,
                format!("`{name}` takes a string literal: `{name} = \"...\"`"),
            ),
        },
        Some((_, other)) => errors.at(
            other,
            format!("`{name}` takes a string literal: `{name} = \"...\"`"),
        ),
        None => errors.at(
            &arg.name,
            format!("`{name}` needs a value: `{name} = \"...\"`"),
        ),
    }
    None
}

/// The path of `crate = "path"`, or an error at the literal.
pub(crate) fn crate_path(arg: &Arg, errors: &mut Errors) -> Option<Path> {
    let lit = string(arg, errors)?;
    match lit.parse::<Path>() {
        Ok(path) => Some(path),
        Err(_) => {
            errors.at(
                lit,
                format!(
                    "`crate` takes the path of the oslo-service crate, such as \"::oslo\" or \"my_oslo\"; `{}` is not a path",
                    lit.value()
                ),
            );
            None
        }
    }
}

/// `"60s"` or a whole number of seconds, read at compile time.
pub(crate) fn duration(arg: &Arg, errors: &mut Errors) -> Option<u64> {
    let name = arg.name.unraw();
    let expected = format!("`{name}` takes a duration such as \"60s\" or a number of seconds");
    let Some((_, value)) = &arg.value else {
        errors.at(&arg.name, expected);
        return None;
    };
    let read = match value {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Str(text),
            ..
        }) => crate::duration::parse(&text.value()),
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => int
            .base10_parse::<u64>()
            .map_err(|err| err.to_string())
            .and_then(|seconds| crate::duration::seconds_to_nanos(u128::from(seconds))),
        _ => Err(expected),
    };
    read.map_err(|message| errors.at(value, message)).ok()
}

/// The runtime's path: the `crate = "…"` override, or `::oslo`.
pub(crate) fn runtime_path(over: Option<Path>) -> Path {
    over.unwrap_or_else(|| {
        let mut path = Path::from(Ident::new("oslo", Span::call_site()));
        path.leading_colon = Some(Token![::](Span::call_site()));
        path
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::messages;
    use quote::quote;

    const KNOWN: Known = Known {
        attr: "#[test]",
        names: &["crate", "name"],
        misplaced: &[("spot", "`spot` goes elsewhere")],
    };

    fn check(tokens: TokenStream) -> (Vec<String>, Vec<String>) {
        let args = parse(tokens).unwrap();
        let mut errors = Errors::new();
        let mut kept = Vec::new();
        read(&args, &KNOWN, &mut errors, |name, _, _| {
            kept.push(name.to_owned())
        });
        let messages = errors
            .into_error()
            .map(|e| messages(&e))
            .unwrap_or_default();
        (kept, messages)
    }

    #[test]
    fn parses_keywords_values_and_flags() {
        let args = parse(quote!(crate = "x", options = [A, B], flag,)).unwrap();
        let names: Vec<_> = args.iter().map(|a| a.name.to_string()).collect();
        assert_eq!(names, ["crate", "options", "flag"]);
        assert!(matches!(args[1].value, Some((_, Expr::Array(_)))));
        assert!(args[2].value.is_none());
        assert!(parse(quote!()).unwrap().is_empty());
    }

    #[test]
    fn rejects_broken_syntax() {
        let error = parse(quote!(name "x")).err().unwrap();
        assert_eq!(error.to_string(), "expected `=` after `name`");
        assert!(parse(quote!(crate = "x" name = "y")).is_err());
        assert!(parse(quote!("x")).is_err());
    }

    #[test]
    fn reports_unknown_misplaced_and_repeated() {
        let (kept, messages) = check(quote!(
            name = "a",
            foo = 1,
            spot = 2,
            name = "b",
            crate = "c"
        ));
        assert_eq!(kept, ["name", "crate"]);
        assert_eq!(
            messages,
            [
                "unknown argument `foo` of #[test]; expected one of: crate, name",
                "`spot` goes elsewhere",
                "duplicate argument `name` of #[test]",
            ]
        );
    }

    #[test]
    fn reads_crate_paths() {
        let mut errors = Errors::new();
        let args = parse(quote!(
            crate = "::my::oslo",
            crate = "not a path",
            crate = 3,
            crate
        ))
        .unwrap();
        let paths: Vec<_> = args
            .iter()
            .map(|a| crate_path(a, &mut errors).is_some())
            .collect();
        assert_eq!(paths, [true, false, false, false]);
        assert_eq!(
            messages(&errors.into_error().unwrap()),
            [
                "`crate` takes the path of the oslo-service crate, such as \"::oslo\" or \"my_oslo\"; `not a path` is not a path",
                "`crate` takes a string literal: `crate = \"...\"`",
                "`crate` needs a value: `crate = \"...\"`",
            ]
        );
    }
}
