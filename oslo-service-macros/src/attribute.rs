//! The steps every attribute macro takes, in order: split the arguments, parse the
//! item, then check and expand it, with every error collected at its span.

use proc_macro2::TokenStream;

use crate::args::Arg;
use crate::diag::{Errors, Failed};

/// The steps every attribute takes: split the arguments, parse the item, then check and
/// expand it. When the arguments or the item do not parse, the item is emitted as written
/// beside the errors; `check_and_expand` reports its own errors into the collector and
/// returns what to emit (with errors, the tokens emitted beside them).
pub(crate) fn run_attribute<I>(
    args: TokenStream,
    item: TokenStream,
    parse: impl FnOnce(TokenStream) -> syn::Result<I>,
    check_and_expand: impl FnOnce(&[Arg], &I, &mut Errors) -> TokenStream,
) -> Result<TokenStream, Failed> {
    let mut errors = Errors::new();
    let args = crate::args::parse(args).unwrap_or_else(|error| {
        errors.push(error);
        Vec::new()
    });
    let input = match parse(item.clone()) {
        Ok(input) => input,
        Err(error) => {
            errors.push(error);
            return errors.finish(item);
        }
    };
    let expansion = check_and_expand(&args, &input, &mut errors);
    errors.finish(expansion)
}
