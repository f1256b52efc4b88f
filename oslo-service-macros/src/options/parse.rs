//! What the user wrote under `#[oslo::options]`: a struct with named fields, each with
//! its doc comment and its `#[opt(...)]` attributes (taken off the struct emitted).

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, Fields, Ident, Item, ItemStruct, Meta, Type};

use crate::args::{self, Arg};
use crate::doc::doc_lines;

/// The item under the attribute.
pub(crate) enum Input {
    /// A struct, with its `#[opt]` attributes taken off.
    Struct(Options),
    /// Anything else: the item, and what to say about it.
    Other {
        /// The item, emitted unchanged.
        item: TokenStream,
        /// Where the error points.
        head: TokenStream,
        /// What the item is: "an enum".
        what: &'static str,
    },
}

/// A struct under the attribute.
pub(crate) struct Options {
    /// The struct as it is emitted: without `#[opt]` attributes.
    pub(crate) item: ItemStruct,
    /// Its named fields, in order; empty for a tuple or unit struct.
    pub(crate) fields: Vec<Field>,
}

/// A field: one option.
pub(crate) struct Field {
    /// Its name.
    pub(crate) ident: Ident,
    /// Its type.
    pub(crate) ty: Type,
    /// The lines of its doc comment, as written (leading space included).
    pub(crate) docs: Vec<String>,
    /// The arguments of its `#[opt(...)]` attributes, all together, or why one does not
    /// parse.
    pub(crate) args: Vec<Arg>,
    /// Errors met reading the attributes.
    pub(crate) attr_errors: Vec<syn::Error>,
}

/// Parses the item under the attribute.
pub(crate) fn item(tokens: TokenStream) -> syn::Result<Input> {
    let item: Item = syn::parse2(tokens)?;
    let (what, head) = match &item {
        Item::Struct(_) => ("", TokenStream::new()),
        Item::Enum(i) => ("an enum", head(i.enum_token, &i.ident)),
        Item::Union(i) => ("a union", head(i.union_token, &i.ident)),
        Item::Fn(i) => ("a fn", head(i.sig.fn_token, &i.sig.ident)),
        Item::Type(i) => ("a type alias", head(i.type_token, &i.ident)),
        other => ("this item", other.to_token_stream()),
    };
    let Item::Struct(mut item) = item else {
        return Ok(Input::Other {
            item: item.into_token_stream(),
            head,
            what,
        });
    };
    let mut fields = Vec::new();
    if let Fields::Named(named) = &mut item.fields {
        for field in named.named.iter_mut() {
            let Some(ident) = field.ident.clone() else {
                continue;
            };
            let docs = doc_lines(&field.attrs);
            let (args, attr_errors) = take_opt_attrs(&mut field.attrs);
            fields.push(Field {
                ident,
                ty: field.ty.clone(),
                docs,
                args,
                attr_errors,
            });
        }
    } else {
        // Take `#[opt]` off tuple fields too, so that only the real error shows.
        for field in item.fields.iter_mut() {
            take_opt_attrs(&mut field.attrs);
        }
    }
    Ok(Input::Struct(Options { item, fields }))
}

/// Removes the `#[opt(...)]` attributes and returns their arguments.
fn take_opt_attrs(attrs: &mut Vec<Attribute>) -> (Vec<Arg>, Vec<syn::Error>) {
    let mut args = Vec::new();
    let mut errors = Vec::new();
    attrs.retain(|attr| {
        if !attr.path().is_ident("opt") {
            return true;
        }
        match &attr.meta {
            Meta::Path(_) => {}
            Meta::List(list) => match args::parse(list.tokens.clone()) {
                Ok(found) => args.extend(found),
                Err(error) => errors.push(error),
            },
            Meta::NameValue(nv) => errors.push(syn::Error::new_spanned(
                nv,
                "expected `#[opt(default = ..., ...)]`",
            )),
        }
        false
    });
    (args, errors)
}

fn head(keyword: impl ToTokens, name: &Ident) -> TokenStream {
    let mut tokens = keyword.into_token_stream();
    name.to_tokens(&mut tokens);
    tokens
}

/// A span for the whole struct when there is no better place.
pub(crate) fn struct_head(item: &ItemStruct) -> TokenStream {
    head(item.struct_token, &item.ident)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doc::help_text;
    use quote::quote;

    #[test]
    fn takes_opt_attributes_off_and_keeps_docs() {
        let Input::Struct(options) = item(quote! {
            struct S {
                /// First line.
                ///
                /// Second  paragraph
                /// continued.
                #[opt(default = 1)]
                #[opt(mutable)]
                #[serde(skip)]
                a: u32,
                b: String,
            }
        })
        .unwrap() else {
            panic!("not a struct")
        };
        assert_eq!(options.fields.len(), 2);
        let a = &options.fields[0];
        assert_eq!(a.args.len(), 2);
        assert_eq!(
            help_text(&a.docs),
            "First line.\nSecond  paragraph continued."
        );
        let out = options.item.to_token_stream().to_string();
        assert!(!out.contains("opt"), "{out}");
        assert!(out.contains("serde"), "{out}");
    }

    #[test]
    fn names_other_items() {
        let Input::Other { what, .. } = item(quote!(
            enum E {}
        ))
        .unwrap() else {
            panic!()
        };
        assert_eq!(what, "an enum");
    }
}
