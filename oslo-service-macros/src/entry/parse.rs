//! What the user wrote under `#[oslo::main]`: a function.

use proc_macro2::{Span, TokenStream};
use syn::{Item, ItemFn};

/// The function under the attribute.
pub(crate) struct Input {
    /// The function as written.
    pub(crate) item: ItemFn,
}

/// Parses the item under the attribute; an item that is not a fn is an error at the
/// attribute.
pub(crate) fn item(tokens: TokenStream) -> syn::Result<Input> {
    match syn::parse2::<Item>(tokens)? {
        Item::Fn(item) => Ok(Input { item }),
        _ => Err(syn::Error::new(
            Span::call_site(),
            "#[oslo::main] goes on `async fn main(conf: oslo::Config) -> oslo::Result<()>`",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn keeps_receivers_for_the_checks() {
        let input = item(quote!(
            async fn main(&self) {}
        ))
        .unwrap();
        assert!(input.item.sig.receiver().is_some());
    }
}
