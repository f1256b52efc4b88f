//! What the user wrote under `#[oslo::service]`: a struct, an impl block with its
//! methods, or an item the attribute does not go on.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::{Attribute, ImplItem, Item, ItemImpl, ItemStruct, Meta, Path, Signature};

use crate::args::{self, Arg};
use crate::tokens::head;

/// The item under the attribute.
pub(crate) enum Input {
    /// `struct S { .. }`.
    Struct(ItemStruct),
    /// `impl S { .. }` or `impl Trait for S { .. }`.
    Impl(ImplBlock),
    /// Anything else.
    Other(Other),
}

/// An impl block and the methods found in it.
pub(crate) struct ImplBlock {
    /// The block as written, emitted unchanged.
    pub(crate) item: ItemImpl,
    /// Its methods, in order. Attributes the macro handles on methods (a future
    /// `#[periodic_task]`) are recorded here and taken off `item`.
    pub(crate) methods: Vec<Method>,
}

/// A method of the impl block.
pub(crate) struct Method {
    /// Its signature as written.
    pub(crate) sig: Signature,
    /// The lifecycle hook it implements, by its name.
    pub(crate) hook: Option<Hook>,
    /// Its `#[periodic_task(...)]` attributes (one, unless the user repeated it).
    pub(crate) periodic: Vec<PeriodicAttr>,
}

/// A `#[periodic_task(...)]` on a method, taken off the emitted impl block.
pub(crate) struct PeriodicAttr {
    /// The attribute's path, where errors about the attribute as a whole point.
    pub(crate) path: Path,
    /// Its arguments, or why they do not parse.
    pub(crate) args: syn::Result<Vec<Arg>>,
}

/// The lifecycle hooks a service may define.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hook {
    /// `start`.
    Start,
    /// `stop`.
    Stop,
    /// `reset`.
    Reset,
}

impl Hook {
    /// The hooks, in the order the trait declares them.
    pub(crate) const ALL: [Hook; 3] = [Hook::Start, Hook::Stop, Hook::Reset];

    /// The method name.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Hook::Start => "start",
            Hook::Stop => "stop",
            Hook::Reset => "reset",
        }
    }
}

/// An item `#[oslo::service]` does not go on.
pub(crate) struct Other {
    /// The item, emitted unchanged.
    pub(crate) item: Item,
    /// What it is, for the message: "an enum".
    pub(crate) what: &'static str,
    /// Its keyword and name, for the span of the error.
    pub(crate) head: TokenStream,
}

/// Parses the item under the attribute.
pub(crate) fn item(tokens: TokenStream) -> syn::Result<Input> {
    let item: Item = syn::parse2(tokens)?;
    Ok(match item {
        Item::Struct(item) => Input::Struct(item),
        Item::Impl(item) => Input::Impl(impl_block(item)),
        other => Input::Other(describe(other)),
    })
}

fn impl_block(mut item: ItemImpl) -> ImplBlock {
    let methods = item
        .items
        .iter_mut()
        .filter_map(|item| match item {
            ImplItem::Fn(method) => Some(Method {
                sig: method.sig.clone(),
                hook: Hook::ALL
                    .into_iter()
                    .find(|hook| method.sig.ident.unraw() == hook.name()),
                periodic: take_periodic_attrs(&mut method.attrs),
            }),
            _ => None,
        })
        .collect();
    ImplBlock { item, methods }
}

/// Removes the `#[periodic_task]` attributes (also written `#[oslo::periodic_task]`)
/// from `attrs` and returns them; they exist only for this macro to read.
fn take_periodic_attrs(attrs: &mut Vec<Attribute>) -> Vec<PeriodicAttr> {
    let mut taken = Vec::new();
    attrs.retain(|attr| {
        let is_periodic = attr
            .path()
            .segments
            .last()
            .is_some_and(|segment| segment.ident == "periodic_task");
        if is_periodic {
            let args = match &attr.meta {
                Meta::Path(_) => Ok(Vec::new()),
                Meta::List(list) => args::parse(list.tokens.clone()),
                Meta::NameValue(nv) => Err(syn::Error::new_spanned(
                    nv,
                    "expected `#[periodic_task]` or `#[periodic_task(spacing = \"10s\", ...)]`",
                )),
            };
            taken.push(PeriodicAttr {
                path: attr.path().clone(),
                args,
            });
        }
        !is_periodic
    });
    taken
}

fn describe(item: Item) -> Other {
    let (what, head) = match &item {
        Item::Enum(i) => ("an enum", head(i.enum_token, &i.ident)),
        Item::Union(i) => ("a union", head(i.union_token, &i.ident)),
        Item::Fn(i) => ("a fn", head(i.sig.fn_token, &i.sig.ident)),
        Item::Trait(i) => ("a trait", head(i.trait_token, &i.ident)),
        Item::TraitAlias(i) => ("a trait alias", head(i.trait_token, &i.ident)),
        Item::Type(i) => ("a type alias", head(i.type_token, &i.ident)),
        Item::Mod(i) => ("a module", head(i.mod_token, &i.ident)),
        Item::Const(i) => ("a const", head(i.const_token, &i.ident)),
        Item::Static(i) => ("a static", head(i.static_token, &i.ident)),
        other => ("this item", other.to_token_stream()),
    };
    Other { item, what, head }
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn finds_hooks_by_name() {
        let Input::Impl(block) = item(quote! {
            impl S {
                const C: u8 = 1;
                fn start(&self) {}
                async fn r#stop(&self, cx: &Context) -> Result<()> { Ok(()) }
                fn started(&self) {}
                fn reset() {}
            }
        })
        .unwrap() else {
            panic!("not an impl block")
        };
        let hooks: Vec<_> = block.methods.iter().map(|m| m.hook).collect();
        assert_eq!(
            hooks,
            [Some(Hook::Start), Some(Hook::Stop), None, Some(Hook::Reset)]
        );
        assert_eq!(block.item.items.len(), 5);
    }

    #[test]
    fn names_other_items() {
        let Input::Other(other) = item(quote!(
            pub enum E {
                A,
            }
        ))
        .unwrap() else {
            panic!("not refused")
        };
        assert_eq!(other.what, "an enum");
        assert_eq!(other.head.to_string(), "enum E");
        assert!(item(quote!(let x = 1;)).is_err());
    }
}
