//! What the user wrote under `#[oslo::retry]`: a function.

use proc_macro2::{Span, TokenStream};
use syn::{Item, ItemFn};

/// The function under the attribute, free or a method.
pub(crate) struct Function {
    /// Its attributes, visibility, signature and body as written.
    pub(crate) item: ItemFn,
}

/// Parses the item under the attribute; anything but a function is an error.
pub(crate) fn item(tokens: TokenStream) -> syn::Result<Function> {
    let not_a_fn = || {
        syn::Error::new(
            Span::call_site(),
            "#[oslo::retry] goes on an async fn that returns a `Result`",
        )
    };
    // A method parses as a free fn too, receiver included.
    match syn::parse2::<Item>(tokens).map_err(|_| not_a_fn())? {
        Item::Fn(item) => Ok(Function { item }),
        _ => Err(not_a_fn()),
    }
}
