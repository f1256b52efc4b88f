//! Small helpers of the expansions: spans and attributes carried over.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens as _;
use syn::spanned::Spanned as _;
use syn::{Attribute, ReceiverKind, ReturnType, Signature, Type};

use crate::diag::Errors;

/// A span that resolves names as the macro's own code does (`Span::call_site`), but is
/// shown at `location`: where rustc reports a type error found in generated code.
pub(crate) fn at(location: Span) -> Span {
    Span::call_site().located_at(location)
}

/// `tokens` (a path, for instance), every one shown at `span`.
pub(crate) fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut token| {
            token.set_span(span);
            token
        })
        .collect()
}

/// The `#[cfg(..)]` attributes of an item, which generated items next to it must carry
/// too, so that they go away with it.
pub(crate) fn cfgs(attrs: &[Attribute]) -> impl Iterator<Item = &Attribute> {
    attrs.iter().filter(|attr| attr.path().is_ident("cfg"))
}

/// `&self`, `&'a self` or `self: &Self`.
pub(crate) fn is_ref_self(receiver: &syn::Receiver) -> bool {
    match &receiver.kind {
        ReceiverKind::Reference(_, _, mutability) => mutability.is_none(),
        ReceiverKind::Typed(_, ty) => match &**ty {
            Type::Reference(reference) => {
                reference.mutability.is_none() && is_self_type(&reference.elem)
            }
            _ => false,
        },
        _ => false,
    }
}

fn is_self_type(ty: &Type) -> bool {
    matches!(ty, Type::Path(path) if path.qself.is_none() && path.path.is_ident("Self"))
}

/// The span of a signature's return type, or `message` in `found` (from `fn` to the
/// closing parenthesis) when it has none.
pub(crate) fn return_type_span(
    sig: &Signature,
    found: &mut Errors,
    message: impl std::fmt::Display,
) -> Option<Span> {
    match &sig.output {
        ReturnType::Type(_, ty) => Some(ty.span()),
        ReturnType::Default => {
            found.range(sig.fn_token.span, sig.paren_token.span.close(), message);
            None
        }
    }
}

/// An item's keyword followed by its name: what an error about the whole item points at.
pub(crate) fn head(keyword: impl quote::ToTokens, name: &syn::Ident) -> TokenStream {
    let mut tokens = keyword.into_token_stream();
    name.to_tokens(&mut tokens);
    tokens
}
