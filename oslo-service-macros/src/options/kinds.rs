//! The kinds of value an option field can hold, read from its Rust type.

use syn::{GenericArgument, PathArguments, Type};

use crate::diag::Errors;

/// The kind of value of a field, from its type.
#[derive(Clone)]
pub(crate) enum Kind {
    /// `String`.
    Str,
    /// `bool`.
    Bool,
    /// An integer type, with its range.
    Int {
        /// The type's name.
        name: String,
        /// Its smallest value.
        min: i128,
        /// Its largest value.
        max: i128,
    },
    /// `f64`.
    Float,
    /// `Port`.
    Port,
    /// `Duration`.
    Duration,
    /// `Vec<T>`.
    List(Box<Kind>),
    /// `#[opt(multi)] Vec<String>`.
    Multi,
    /// `BTreeMap<String, String>`.
    Dict,
    /// A type of the user's.
    Custom(Type),
    /// A type of the user's read through its serde `Deserialize` (`#[opt(serde)]`).
    Serde,
}

impl Kind {
    pub(crate) fn is_number(&self) -> bool {
        matches!(self, Kind::Int { .. } | Kind::Float | Kind::Port)
    }
}

/// A bound, checked against the type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Bound {
    /// Of an integer or port.
    Int(i128),
    /// Of a float.
    Float(f64),
}

impl Bound {
    pub(crate) fn as_f64(self) -> f64 {
        match self {
            Bound::Int(n) => n as f64,
            Bound::Float(x) => x,
        }
    }
}

/// The field's kind, or an error at its type.
pub(crate) fn kind_of(ty: &Type, errors: &mut Errors) -> Option<(bool, Kind)> {
    let (last, generics) = match last_segment(ty) {
        Some(found) => found,
        None => {
            errors.at(ty, unsupported(ty));
            return None;
        }
    };
    if let Some(instead) = instead_of(&last) {
        errors.at(
            ty,
            format!("`{last}` options are not supported: use {instead}"),
        );
        return None;
    }
    match last.as_str() {
        "Option" => {
            let inner = single_generic(generics)?;
            match kind_of(inner, errors)? {
                (true, _) => {
                    errors.at(ty, "`Option<Option<T>>` is not an option type");
                    None
                }
                (_, Kind::List(_) | Kind::Multi | Kind::Dict) => {
                    errors.at(
                        ty,
                        "a list or dict option is empty when unset: use `Vec<T>` or `BTreeMap<String, String>` without `Option`",
                    );
                    None
                }
                (false, kind) => Some((true, kind)),
            }
        }
        "Vec" => {
            let inner = single_generic(generics)?;
            match kind_of(inner, errors)? {
                (
                    false,
                    kind @ (Kind::Str
                    | Kind::Bool
                    | Kind::Int { .. }
                    | Kind::Float
                    | Kind::Port
                    | Kind::Duration
                    | Kind::Custom(_)),
                ) => Some((false, Kind::List(Box::new(kind)))),
                _ => {
                    errors.at(ty, "a list option holds values of a plain type, such as `Vec<String>` or `Vec<u32>`");
                    None
                }
            }
        }
        "BTreeMap" | "HashMap" => {
            let is_strings = generics.is_some_and(|args| {
                args.len() == 2
                    && args.iter().all(|arg| {
                        matches!(arg, GenericArgument::Type(t) if last_segment(t).is_some_and(|(n, _)| n == "String"))
                    })
            });
            if last == "BTreeMap" && is_strings {
                Some((false, Kind::Dict))
            } else {
                errors.at(ty, "a dict option is a `BTreeMap<String, String>`");
                None
            }
        }
        "String" => Some((false, Kind::Str)),
        "bool" => Some((false, Kind::Bool)),
        "f64" => Some((false, Kind::Float)),
        "Port" => Some((false, Kind::Port)),
        "Duration" => Some((false, Kind::Duration)),
        int => match int_range(int) {
            Some((min, max)) => Some((
                false,
                Kind::Int {
                    name: int.to_owned(),
                    min,
                    max,
                },
            )),
            None => Some((false, Kind::Custom(ty.clone()))),
        },
    }
}

/// What to use for a plain type close to an option type but not one: without this,
/// `f32` would be taken for a type of the user's, and its default `0.5` refused as
/// not a string.
fn instead_of(name: &str) -> Option<&'static str> {
    Some(match name {
        "f32" => "`f64`",
        "i128" => "`i64`",
        "u128" => "`u64`",
        "NonZeroU8" => "`u8` with `min = 1`",
        "NonZeroU16" => "`u16` with `min = 1`",
        "NonZeroU32" => "`u32` with `min = 1`",
        "NonZeroU64" => "`u64` with `min = 1`",
        "NonZeroUsize" => "`usize` with `min = 1`",
        "char" => "`String`",
        "str" => "`String`",
        _ => return None,
    })
}

pub(crate) fn unsupported(ty: &Type) -> String {
    if let Type::Reference(reference) = ty
        && last_segment(&reference.elem).is_some_and(|(name, _)| name == "str")
    {
        return "`&str` options are not supported: use `String`".to_owned();
    }
    "this type is not an option type; options take String, bool, integers, f64, Port, Duration, PathBuf, Vec<T>, BTreeMap<String, String>, Option<T>, a type that implements oslo::config::OptionValue, or a type that derives serde::Deserialize with `#[opt(serde)]` on the field".to_owned()
}

pub(crate) fn last_segment(
    ty: &Type,
) -> Option<(
    String,
    Option<&syn::punctuated::Punctuated<GenericArgument, syn::Token![,]>>,
)> {
    let Type::Path(path) = ty else {
        return None;
    };
    if path.qself.is_some() {
        return None;
    }
    let last = path.path.segments.last()?;
    let generics = match &last.arguments {
        PathArguments::AngleBracketed(args) => Some(&args.args),
        _ => None,
    };
    Some((last.ident.to_string(), generics))
}

pub(crate) fn single_generic(
    generics: Option<&syn::punctuated::Punctuated<GenericArgument, syn::Token![,]>>,
) -> Option<&Type> {
    match generics?.first()? {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    }
}

pub(crate) fn int_range(name: &str) -> Option<(i128, i128)> {
    Some(match name {
        "i8" => (i8::MIN.into(), i8::MAX.into()),
        "i16" => (i16::MIN.into(), i16::MAX.into()),
        "i32" => (i32::MIN.into(), i32::MAX.into()),
        "i64" | "isize" => (i64::MIN.into(), i64::MAX.into()),
        "u8" => (0, u8::MAX.into()),
        "u16" => (0, u16::MAX.into()),
        "u32" => (0, u32::MAX.into()),
        "u64" | "usize" => (0, u64::MAX.into()),
        _ => return None,
    })
}
