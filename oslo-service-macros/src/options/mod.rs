//! `#[oslo::options(group = "...")]`: a struct whose fields are options, each with its
//! type, default, help (the doc comment) and `#[opt(...)]` arguments, becomes an
//! `oslo::config::OptionGroup`. Defaults are checked against the type and bounds here,
//! at compile time.

mod defaults;
mod expand;
mod kinds;
mod parse;
mod validate;

use proc_macro2::TokenStream;

use crate::args;
use crate::diag::{Errors, Failed};

/// Runs the attribute: parse, validate, expand. On errors, the struct is still emitted
/// (without its `#[opt]` attributes) with a placeholder `OptionGroup` impl, so that the
/// errors are the only ones.
pub(crate) fn attribute(args: TokenStream, item: TokenStream) -> Result<TokenStream, Failed> {
    let mut errors = Errors::new();
    let args = args::parse(args).unwrap_or_else(|error| {
        errors.push(error);
        Vec::new()
    });
    let options = match parse::item(item.clone()) {
        Ok(parse::Input::Struct(options)) => options,
        Ok(parse::Input::Other { item, head, what }) => {
            errors.at(
                head,
                format!(
                    "#[oslo::options] goes on a struct with one field per option, not on {what}"
                ),
            );
            return errors.finish(item);
        }
        Err(error) => {
            errors.push(error);
            return errors.finish(item);
        }
    };
    let checked = validate::validate(&args, &options, &mut errors);
    if errors.is_empty() {
        errors.finish(expand::expand(&checked))
    } else {
        // The struct, and an impl that checks nothing (it never runs: the errors stop
        // the build), so that its uses do not add errors of their own.
        errors.finish(expand::placeholder(&checked))
    }
}

#[cfg(test)]
mod tests;
