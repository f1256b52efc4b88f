//! `#[oslo::main]`: turns `async fn main(conf: oslo::Config) -> oslo::Result<()>` into
//! the process entry point, which hands it to `__private::run_main`.

mod expand;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::attribute::run_attribute;
use crate::diag::Failed;

/// Runs the attribute: parse, validate, expand. On errors, the function is still emitted
/// (inside a `fn main` that does not run it), so that the errors are the only ones.
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

    fn expansion(args: TokenStream, item: TokenStream) -> String {
        match attribute(args, item) {
            Ok(tokens) => tokens.to_string(),
            Err(failed) => panic!("unexpected errors: {:?}", messages(failed.errors())),
        }
    }

    fn errors(args: TokenStream, item: TokenStream) -> Vec<String> {
        match attribute(args, item) {
            Ok(_) => Vec::new(),
            Err(failed) => messages(failed.errors()),
        }
    }

    #[test]
    fn wraps_the_function() {
        let out = expansion(
            quote!(),
            quote! {
                /// Runs.
                #[allow(unused)]
                pub async fn main(conf: oslo::Config) -> oslo::Result<()> { Ok(()) }
            },
        );
        assert!(out.starts_with(
            "# [doc = r\" Runs.\"] pub fn main () -> :: std :: process :: ExitCode {"
        ));
        assert!(out.contains("# [allow (unused)] async fn __oslo_main (conf : oslo :: Config)"));
        assert!(out.contains(":: oslo :: __private :: run_main"));
        assert!(out.contains("CARGO_BIN_NAME"));
        assert!(out.contains(
            "runtime : :: oslo :: __private :: RuntimeSpec { flavor : :: core :: option :: Option :: None , worker_threads : :: core :: option :: Option :: None , }"
        ));
    }

    #[test]
    fn passes_the_runtime_asked_for() {
        let out = expansion(
            quote!(flavor = "multi_thread", worker_threads = 3),
            quote!(
                async fn main(conf: oslo::Config) -> oslo::Result<()> {
                    Ok(())
                }
            ),
        );
        assert!(out.contains("flavor : :: core :: option :: Option :: Some (:: oslo :: __private :: RuntimeFlavor :: MultiThread)"), "{out}");
        assert!(
            out.contains("worker_threads : :: core :: option :: Option :: Some (3)"),
            "{out}"
        );
    }

    #[test]
    fn honours_the_crate_override_and_the_name() {
        let out = expansion(
            quote!(crate = "renamed"),
            quote!(
                async fn serve(conf: Config) -> Result<()> {
                    Ok(())
                }
            ),
        );
        assert!(out.starts_with("fn serve () -> :: std :: process :: ExitCode {"));
        assert!(out.contains("renamed :: __private :: MainSpec"));
    }

    #[test]
    fn registers_the_option_groups() {
        let out = expansion(
            quote!(options = [PollerOpts, api::ApiOpts]),
            quote!(
                async fn main(conf: Config) -> Result<()> {
                    Ok(())
                }
            ),
        );
        assert!(
            out.contains("options : const { & [:: oslo :: config :: GroupInfo :: of :: < PollerOpts > () , :: oslo :: config :: GroupInfo :: of :: < api :: ApiOpts > ()] }"),
            "{out}"
        );
        assert_eq!(
            errors(
                quote!(options = [1]),
                quote!(
                    async fn main(c: C) -> R {
                        Ok(())
                    }
                )
            ),
            [
                "`options` takes an array of the types declared with #[oslo::options]: `options = [PollerOpts, ApiOpts]`"
            ]
        );
    }

    #[test]
    fn refuses_what_is_not_a_fn() {
        assert_eq!(
            errors(
                quote!(),
                quote!(
                    struct S;
                )
            ),
            ["#[oslo::main] goes on `async fn main(conf: oslo::Config) -> oslo::Result<()>`"]
        );
    }

    #[test]
    fn failed_expansion_keeps_the_function_out_of_the_way() {
        let failed = attribute(
            quote!(),
            quote!(
                fn main(conf: Config) -> Result<()> {
                    Ok(())
                }
            ),
        )
        .err()
        .unwrap();
        let out = failed.into_compile_error().to_string();
        assert!(out.starts_with("fn main () -> :: std :: process :: ExitCode {"));
        assert!(out.contains("fn __oslo_main (conf : Config)"));
        assert!(!out.contains("run_main"));
        assert!(out.contains("compile_error"));

        let failed = attribute(
            quote!(),
            quote!(
                async fn main(&self, c: C) -> R {
                    Ok(())
                }
            ),
        )
        .err()
        .unwrap();
        let out = failed.into_compile_error().to_string();
        assert!(out.contains("async fn __oslo_main (c : C)"), "{out}");
    }

    #[test]
    fn main_follows_the_functions_cfg() {
        let out = expansion(
            quote!(),
            quote!(
                #[cfg(unix)]
                async fn main(c: C) -> R {
                    Ok(())
                }
            ),
        );
        assert!(out.starts_with("# [cfg (unix)] fn main ()"), "{out}");
    }
}
