//! `#[oslo::service]`: on a struct it implements `__private::ServiceStruct` (the service
//! name); on the struct's inherent impl block it implements `ServiceBase` from the
//! `start`, `stop` and `reset` hooks.

mod expand;
mod parse;
mod tasks;
mod validate;

use proc_macro2::TokenStream;

use crate::attribute::run_attribute;
use crate::diag::Failed;

/// Runs the attribute: parse, validate, expand. On errors, the item and the parts of the
/// expansion that do not depend on the mistakes are still emitted.
pub(crate) fn attribute(args: TokenStream, item: TokenStream) -> Result<TokenStream, Failed> {
    run_attribute(args, item, parse::item, |args, input, errors| {
        expand::expand(&validate::validate(args, input, errors))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::messages;
    use quote::quote;

    fn errors(args: TokenStream, item: TokenStream) -> Vec<String> {
        match attribute(args, item) {
            Ok(_) => Vec::new(),
            Err(failed) => messages(failed.errors()),
        }
    }

    fn expansion(args: TokenStream, item: TokenStream) -> String {
        match attribute(args, item) {
            Ok(tokens) => tokens.to_string(),
            Err(failed) => panic!("unexpected errors: {:?}", messages(failed.errors())),
        }
    }

    #[test]
    fn struct_gets_its_name() {
        let out = expansion(
            quote!(),
            quote!(
                struct Poller<T: Send>
                where
                    T: Sync,
                {
                    t: T,
                }
            ),
        );
        assert!(out.contains(
            "impl < T : Send > :: oslo :: __private :: ServiceStruct for Poller < T > where T : Sync"
        ));
        assert!(out.contains("const NAME : & 'static str = \"Poller\" ;"));
        let out = expansion(
            quote!(name = "poller", crate = "my_oslo"),
            quote!(
                struct Poller;
            ),
        );
        assert!(out.contains("my_oslo :: __private :: ServiceStruct for Poller"));
        assert!(out.contains("\"poller\""));
    }

    #[test]
    fn generated_impls_follow_the_items_cfg() {
        let out = expansion(
            quote!(),
            quote!(
                #[cfg(unix)]
                #[derive(Debug)]
                struct S;
            ),
        );
        assert!(out.contains("# [cfg (unix)] # [automatically_derived] impl"));
        let out = expansion(
            quote!(),
            quote!(
                #[cfg(unix)]
                #[allow(unused)]
                impl S {}
            ),
        );
        assert!(out.contains("# [cfg (unix)] # [automatically_derived] impl"));
    }

    #[test]
    fn impl_gets_the_hooks_it_has() {
        let out = expansion(
            quote!(crate = "::renamed"),
            quote! {
                impl<T> Poller<T> {
                    async fn start(&self, cx: &Context) -> oslo::Result<()> { Ok(()) }
                    async fn reset(&self, _: &Context) -> oslo::Result<()> { Ok(()) }
                    fn helper(&self) {}
                }
            },
        );
        assert!(out.contains("impl < T > :: renamed :: ServiceBase for Poller < T >"));
        assert!(out.contains("fn start < '__oslo >"));
        assert!(out.contains("fn reset < '__oslo >"));
        assert!(!out.contains("fn stop"));
        assert!(!out.contains("Self :: helper"));
    }

    #[test]
    fn wrong_items_are_refused() {
        let expected = "#[oslo::service] goes on a struct and on its impl block";
        for item in [
            quote!(
                enum E {
                    A,
                }
            ),
            quote!(
                fn f() {}
            ),
            quote!(
                trait T {}
            ),
            quote!(union U { a: u8 }),
            quote!(
                mod m {}
            ),
        ] {
            let found = errors(quote!(), item);
            assert_eq!(found.len(), 1);
            assert!(found[0].starts_with(expected), "{found:?}");
        }
        assert_eq!(
            errors(quote!(), quote!(impl Clone for S {})),
            [
                "#[oslo::service] goes on an inherent impl block (`impl MyService { .. }`), not on a trait impl"
            ]
        );
    }

    #[test]
    fn arguments_are_checked_per_item() {
        assert_eq!(
            errors(quote!(name = "x", foo), quote!(impl S {})),
            [
                "`name` goes on the struct's #[oslo::service], not on its impl block",
                "unknown argument `foo` of #[oslo::service]; expected one of: crate",
            ]
        );
        assert_eq!(
            errors(
                quote!(name = "a", name = "b"),
                quote!(
                    struct S;
                )
            ),
            ["duplicate argument `name` of #[oslo::service]"]
        );
        assert_eq!(
            errors(
                quote!(name = ""),
                quote!(
                    struct S;
                )
            ),
            ["`name` must not be empty"]
        );
    }

    #[test]
    fn failed_expansion_keeps_the_item() {
        let failed = attribute(
            quote!(bogus = 1),
            quote!(
                struct Kept;
            ),
        )
        .err()
        .unwrap();
        let out = failed.into_compile_error().to_string();
        assert!(out.contains("struct Kept ;"));
        assert!(out.contains("ServiceStruct for Kept"));
        assert!(out.contains("compile_error"));
    }
}
