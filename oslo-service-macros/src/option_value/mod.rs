//! `#[derive(OptionValue)]`: an enum whose variants have no fields becomes an option
//! type. Each variant is one value (its name in snake_case, or `#[opt(name = "...")]`),
//! and its doc comment that value's help in the sample config.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::diag::{Errors, Failed};

/// Runs the derive: parse, validate, expand. On errors, an impl that reads nothing is
/// emitted beside them, so that they are the only ones.
pub(crate) fn derive(item: TokenStream) -> Result<TokenStream, Failed> {
    let mut errors = Errors::new();
    let input = match parse::item(item) {
        Ok(input) => input,
        Err(error) => {
            errors.push(error);
            return errors.finish(TokenStream::new());
        }
    };
    let checked = validate::validate(&input, &mut errors);
    if errors.is_empty() {
        errors.finish(expand::expand(&checked))
    } else {
        errors.finish(expand::placeholder(&checked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::messages;
    use quote::quote;

    fn run(item: TokenStream) -> Result<String, Vec<String>> {
        derive(item)
            .map(|tokens| tokens.to_string())
            .map_err(|failed| messages(failed.errors()))
    }

    #[test]
    fn implements_option_value_from_the_variants() {
        let out = run(quote! {
            enum Mode<'a> where Self: 'a {
                /// Quick,
                /// and loose.
                FastPath,
                #[opt(name = "careful")]
                Safe,
            }
        })
        .unwrap();
        assert!(
            out.contains(
                "impl < 'a > :: oslo :: config :: OptionValue for Mode < 'a > where Self : 'a"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "const CHOICES : & 'static [& 'static str] = & [\"fast_path\" , \"careful\"] ;"
            ),
            "{out}"
        );
        assert!(
            out.contains(
                "const CHOICE_HELP : & 'static [& 'static str] = & [\"Quick, and loose.\" , \"\"] ;"
            ),
            "{out}"
        );
        assert!(out.contains("match text . trim ()"), "{out}");
        assert!(
            out.contains("\"fast_path\" => :: core :: result :: Result :: Ok (Self :: FastPath)"),
            "{out}"
        );
        assert!(
            out.contains("from (\"expected one of 'fast_path', 'careful'\")"),
            "{out}"
        );
    }

    #[test]
    fn names_the_runtime_given() {
        let out = run(quote! {
            #[opt(crate = "my_oslo")]
            enum Mode { Fast }
        })
        .unwrap();
        assert!(
            out.contains("impl my_oslo :: config :: OptionValue for Mode"),
            "{out}"
        );
    }

    #[test]
    fn errors_come_with_an_impl_that_reads_nothing() {
        let failed = derive(quote!(
            enum E {
                A(u32),
            }
        ))
        .err()
        .unwrap();
        let out = failed.into_compile_error().to_string();
        assert!(
            out.contains(":: oslo :: config :: OptionValue for E"),
            "{out}"
        );
        assert!(out.contains("unreachable"), "{out}");
        assert!(out.contains("compile_error"), "{out}");
    }
}
