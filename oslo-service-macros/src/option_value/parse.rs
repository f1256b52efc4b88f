//! What the user wrote under `#[derive(OptionValue)]`: an enum, each variant with its
//! doc comment and the arguments of its `#[opt(...)]` attributes.

use proc_macro2::TokenStream;
use syn::{Attribute, Data, DeriveInput, Fields, Generics, Ident, Meta};

use crate::args::{self, Arg};
use crate::doc::doc_lines;
use crate::tokens::head;

/// The item the derive is on.
pub(crate) struct Input {
    /// Its name.
    pub(crate) ident: Ident,
    /// Its generics, carried onto the impl.
    pub(crate) generics: Generics,
    /// The arguments of `#[opt(...)]` on the item itself.
    pub(crate) args: Vec<Arg>,
    /// Errors met reading the item's own `#[opt]` attributes.
    pub(crate) attr_errors: Vec<syn::Error>,
    /// What the item is.
    pub(crate) shape: Shape,
}

/// An enum's variants, or what else the item is.
pub(crate) enum Shape {
    /// An enum.
    Enum {
        /// `enum Name`, where an error about the whole enum points.
        head: TokenStream,
        /// Its variants, in order.
        variants: Vec<Variant>,
    },
    /// A struct or a union: where the error points, and what to call it.
    Other {
        /// `struct Name`.
        head: TokenStream,
        /// "a struct".
        what: &'static str,
    },
}

/// One variant: one value the option takes.
pub(crate) struct Variant {
    /// Its name.
    pub(crate) ident: Ident,
    /// Its fields; a variant with any is refused.
    pub(crate) fields: Fields,
    /// The lines of its doc comment, as written.
    pub(crate) docs: Vec<String>,
    /// The arguments of its `#[opt(...)]` attributes, all together.
    pub(crate) args: Vec<Arg>,
    /// Errors met reading those attributes.
    pub(crate) attr_errors: Vec<syn::Error>,
    /// Its `#[cfg(...)]`, if it has one: refused, as the choices are one list.
    pub(crate) cfg: Option<Attribute>,
}

/// Parses the item the derive is on.
pub(crate) fn item(tokens: TokenStream) -> syn::Result<Input> {
    let input: DeriveInput = syn::parse2(tokens)?;
    let (args, attr_errors) = opt_args(&input.attrs);
    let shape = match input.data {
        Data::Enum(data) => Shape::Enum {
            head: head(data.enum_token, &input.ident),
            variants: data
                .variants
                .into_iter()
                .map(|variant| {
                    let (args, attr_errors) = opt_args(&variant.attrs);
                    Variant {
                        docs: doc_lines(&variant.attrs),
                        cfg: variant
                            .attrs
                            .iter()
                            .find(|attr| attr.path().is_ident("cfg"))
                            .cloned(),
                        ident: variant.ident,
                        fields: variant.fields,
                        args,
                        attr_errors,
                    }
                })
                .collect(),
        },
        Data::Struct(data) => Shape::Other {
            head: head(data.struct_token, &input.ident),
            what: "a struct",
        },
        Data::Union(data) => Shape::Other {
            head: head(data.union_token, &input.ident),
            what: "a union",
        },
    };
    Ok(Input {
        ident: input.ident,
        generics: input.generics,
        args,
        attr_errors,
        shape,
    })
}

/// The arguments of the `#[opt(...)]` attributes among `attrs`, and why any does not
/// parse. A derive cannot take its helper attributes off: the compiler ignores them.
fn opt_args(attrs: &[Attribute]) -> (Vec<Arg>, Vec<syn::Error>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for attr in attrs.iter().filter(|attr| attr.path().is_ident("opt")) {
        match &attr.meta {
            Meta::Path(_) => {}
            Meta::List(list) => match args::parse(list.tokens.clone()) {
                Ok(args) => found.extend(args),
                Err(error) => errors.push(error),
            },
            Meta::NameValue(nv) => errors.push(syn::Error::new_spanned(
                nv,
                "expected `#[opt(name = \"...\")]`",
            )),
        }
    }
    (found, errors)
}

#[cfg(test)]
mod tests {
    use super::*;
    use quote::quote;

    #[test]
    fn reads_variants_docs_and_arguments() {
        let input = item(quote! {
            #[opt(crate = "my_oslo")]
            enum Mode {
                /// Quick.
                ///
                /// And loose.
                Fast,
                #[opt(name = "careful")]
                #[serde(skip)]
                Safe,
                Odd(u32),
            }
        })
        .unwrap();
        assert_eq!(input.ident, "Mode");
        assert_eq!(input.args.len(), 1);
        let Shape::Enum { variants, .. } = &input.shape else {
            panic!("not an enum")
        };
        assert_eq!(variants.len(), 3);
        assert_eq!(variants[0].docs.len(), 3);
        assert!(variants[0].args.is_empty());
        assert_eq!(variants[1].args[0].name, "name");
        assert!(variants[1].docs.is_empty());
        assert!(matches!(variants[2].fields, Fields::Unnamed(_)));
    }

    #[test]
    fn names_other_items_and_bad_attributes() {
        let input = item(quote!(
            struct S;
        ))
        .unwrap();
        assert!(matches!(
            input.shape,
            Shape::Other {
                what: "a struct",
                ..
            }
        ));
        let input = item(quote!(
            enum E {
                #[opt = "x"]
                #[opt(name "y")]
                A,
            }
        ))
        .unwrap();
        let Shape::Enum { variants, .. } = &input.shape else {
            panic!("not an enum")
        };
        assert_eq!(variants[0].attr_errors.len(), 2);
    }
}
