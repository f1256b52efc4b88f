//! `#[oslo::retry(...)]`: runs the body of an `async fn` returning a `Result` again while
//! its error is one the user's predicate calls retryable, as oslo.service's
//! `RetryDecorator`, through `oslo::looping::retry`.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use quote::ToTokens as _;

use crate::attribute::run_attribute;
use crate::diag::Failed;

/// Runs the attribute: parse, validate, expand. On errors the function is emitted
/// unchanged, so that the errors are the only ones.
pub(crate) fn attribute(args: TokenStream, item: TokenStream) -> Result<TokenStream, Failed> {
    run_attribute(
        args,
        item,
        parse::item,
        |args, function, errors| match validate::validate(args, function, errors) {
            Some(checked) if errors.is_empty() => expand::expand(&checked),
            _ => function.item.to_token_stream(),
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::messages;
    use quote::quote;

    fn run(args: TokenStream, item: TokenStream) -> Result<String, Vec<String>> {
        attribute(args, item)
            .map(|tokens| tokens.to_string())
            .map_err(|failed| messages(failed.errors()))
    }

    #[test]
    fn wraps_the_body_in_a_retry() {
        let out = run(
            quote!(
                max_retry_count = 3,
                inc_sleep_time = "1s",
                max_sleep_time = 10,
                when = is_busy
            ),
            quote!(
                async fn fetch(&self, key: &str, n: u32) -> Result<u32, E> {
                    self.get(key, n).await
                }
            ),
        )
        .unwrap();
        assert!(
            out.contains("async fn fetch (& self , key : & str , n : u32) -> Result < u32 , E >"),
            "{out}"
        );
        assert!(out.contains(". max_retry_count (3u32)"), "{out}");
        assert!(out.contains("from_nanos (1000000000u64)"), "{out}");
        assert!(out.contains("from_nanos (10000000000u64)"), "{out}");
        assert!(
            out.contains(":: oslo :: looping :: retry (& policy , is_busy"),
            "{out}"
        );
        assert!(out.contains("let n = & n ;"), "{out}");
    }

    #[test]
    fn forever_and_defaults() {
        let out = run(
            quote!(max_retry_count = -1, when = |_| true),
            quote!(
                async fn f() -> Result<(), E> {
                    Ok(())
                }
            ),
        )
        .unwrap();
        assert!(out.contains("retry_forever ()"), "{out}");
        assert!(!out.contains("inc_sleep_time"), "{out}");
    }

    #[test]
    fn refuses_what_cannot_be_retried() {
        let errors = |args, item| run(args, item).unwrap_err();
        assert_eq!(
            errors(
                quote!(max_retry_count = 2),
                quote!(
                    async fn f() -> Result<(), E> {
                        Ok(())
                    }
                )
            ),
            [
                "#[oslo::retry] needs `when = path::to::predicate`: a fn(&E) -> bool that says which errors are retried"
            ]
        );
        assert!(
            errors(
                quote!(when = p),
                quote!(
                    fn f() -> Result<(), E> {
                        Ok(())
                    }
                )
            )[0]
            .starts_with("#[oslo::retry] goes on an async fn")
        );
        assert!(
            errors(
                quote!(when = p),
                quote!(
                    async fn f() {}
                )
            )[0]
            .starts_with("#[oslo::retry] needs a fn that returns a `Result`")
        );
        assert!(
            errors(
                quote!(when = p),
                quote!(
                    async fn f(self) -> Result<(), E> {
                        Ok(())
                    }
                )
            )[0]
            .starts_with("#[oslo::retry] takes `&self`")
        );
        assert_eq!(
            errors(
                quote!(when = p, max_retry_count = -2),
                quote!(
                    async fn f() -> Result<(), E> {
                        Ok(())
                    }
                )
            ),
            ["`max_retry_count` takes a whole number of retries, or -1 to retry forever"]
        );
        assert!(
            errors(
                quote!(when = p, tries = 2),
                quote!(
                    async fn f() -> Result<(), E> {
                        Ok(())
                    }
                )
            )[0]
            .starts_with("unknown argument `tries` of #[oslo::retry]")
        );
        assert!(
            errors(
                quote!(when = p),
                quote!(
                    struct S;
                )
            )[0]
            .starts_with("#[oslo::retry] goes on an async fn")
        );
    }
}
