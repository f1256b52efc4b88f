//! Checks of `#[oslo::options]`: the struct's arguments, each field's type, and each
//! `#[opt(...)]` argument, defaults included, against the field's type and bounds.

use syn::ext::IdentExt as _;
use syn::{
    Expr, ExprLit, ExprUnary, GenericArgument, Lit, LitStr, Path, PathArguments, Type, UnOp,
};

use super::parse::{Field, Options, help_text, struct_head};
use crate::args::{self, Arg, Known};
use crate::diag::Errors;

const STRUCT_ARGS: Known = Known {
    attr: "#[oslo::options]",
    names: &["group", "namespace", "crate"],
    misplaced: &[
        (
            "default",
            "`default` goes on a field: `#[opt(default = ...)]`",
        ),
        ("name", "the group is named with `group = \"...\"`"),
    ],
};

const FIELD_ARGS: Known = Known {
    attr: "#[opt]",
    names: &[
        "default",
        "min",
        "max",
        "choices",
        "multi",
        "deprecated_name",
        "deprecated_group",
        "secret",
        "mutable",
        "required",
    ],
    misplaced: &[
        (
            "help",
            "the help of an option is its doc comment: write `/// ...` above the field",
        ),
        (
            "group",
            "`group` goes on the struct: `#[oslo::options(group = \"...\")]`",
        ),
    ],
};

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
}

impl Kind {
    fn is_number(&self) -> bool {
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
    fn as_f64(self) -> f64 {
        match self {
            Bound::Int(n) => n as f64,
            Bound::Float(x) => x,
        }
    }
}

/// One option, checked.
pub(crate) struct CheckedField<'a> {
    /// The field.
    pub(crate) field: &'a Field,
    /// The option's name.
    pub(crate) name: String,
    /// Its help.
    pub(crate) help: String,
    /// The kind of `T` (or of the field's type).
    pub(crate) kind: Kind,
    /// The default as file text, one text per value.
    pub(crate) default: Vec<String>,
    /// `min`.
    pub(crate) min: Option<Bound>,
    /// `max`.
    pub(crate) max: Option<Bound>,
    /// `choices`.
    pub(crate) choices: Vec<String>,
    /// `deprecated_group`, `deprecated_name`.
    pub(crate) deprecated: Option<(Option<String>, Option<String>)>,
    /// `secret`.
    pub(crate) secret: bool,
    /// `mutable`.
    pub(crate) mutable: bool,
    /// `required`.
    pub(crate) required: bool,
}

/// The struct, checked.
pub(crate) struct Checked<'a> {
    /// The struct and its fields.
    pub(crate) options: &'a Options,
    /// Where the runtime is.
    pub(crate) runtime: Path,
    /// The group.
    pub(crate) group: String,
    /// The namespace, when given.
    pub(crate) namespace: Option<String>,
    /// The options.
    pub(crate) fields: Vec<CheckedField<'a>>,
}

/// Checks everything, recording every mistake in `errors`.
pub(crate) fn validate<'a>(args: &[Arg], options: &'a Options, errors: &mut Errors) -> Checked<'a> {
    let mut runtime = None;
    let mut group = None;
    let mut namespace = None;
    args::read(args, &STRUCT_ARGS, errors, |name, arg, errors| match name {
        "crate" => runtime = args::crate_path(arg, errors),
        "group" => group = args::string(arg, errors).and_then(|lit| group_name(lit, errors)),
        "namespace" => namespace = args::string(arg, errors).map(LitStr::value),
        other => unreachable!("argument `{other}` is in STRUCT_ARGS but not read"),
    });
    let item = &options.item;
    if group.is_none() && !args.iter().any(|arg| arg.name.unraw() == "group") {
        errors.at(
            struct_head(item),
            "#[oslo::options] needs the group of the options: `#[oslo::options(group = \"...\")]` (\"DEFAULT\" for options outside any section)",
        );
    }
    if !item.generics.params.is_empty() {
        errors.at(
            &item.generics,
            "#[oslo::options] does not take generic parameters",
        );
    }
    match &item.fields {
        syn::Fields::Named(_) => {}
        syn::Fields::Unnamed(fields) => errors.at(
            fields,
            "#[oslo::options] needs a struct with named fields, one per option",
        ),
        syn::Fields::Unit => errors.at(
            struct_head(item),
            "#[oslo::options] needs a struct with named fields, one per option",
        ),
    }
    let fields = options
        .fields
        .iter()
        .filter_map(|field| check_field(field, errors))
        .collect();
    Checked {
        options,
        runtime: args::runtime_path(runtime),
        group: group.unwrap_or_default(),
        namespace,
        fields,
    }
}

fn group_name(lit: &LitStr, errors: &mut Errors) -> Option<String> {
    let name = lit.value();
    if name.is_empty() || name.contains(['[', ']', '.']) || name.contains(char::is_whitespace) {
        errors.at(
            lit,
            format!("`{name}` is not a group name: a section name such as \"poller\", without brackets, dots or spaces"),
        );
        return None;
    }
    Some(name)
}

/// The field's kind, or an error at its type.
fn kind_of(ty: &Type, errors: &mut Errors) -> Option<(bool, Kind)> {
    let (last, generics) = match last_segment(ty) {
        Some(found) => found,
        None => {
            errors.at(ty, unsupported(ty));
            return None;
        }
    };
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

fn unsupported(ty: &Type) -> String {
    let _ = ty;
    "this type is not an option type; options take String, bool, integers, f64, Port, Duration, PathBuf, Vec<T>, BTreeMap<String, String>, Option<T>, or a type that implements oslo::config::OptionValue".to_owned()
}

fn last_segment(
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

fn single_generic(
    generics: Option<&syn::punctuated::Punctuated<GenericArgument, syn::Token![,]>>,
) -> Option<&Type> {
    match generics?.first()? {
        GenericArgument::Type(ty) => Some(ty),
        _ => None,
    }
}

fn int_range(name: &str) -> Option<(i128, i128)> {
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

fn check_field<'a>(field: &'a Field, errors: &mut Errors) -> Option<CheckedField<'a>> {
    for error in &field.attr_errors {
        errors.push(error.clone());
    }
    let name = field.ident.unraw().to_string();
    let help = help_text(&field.docs);
    if help.is_empty() {
        errors.at(
            &field.ident,
            format!("option `{name}` needs a doc comment (`/// ...`): it is the option's help in the sample config"),
        );
    }
    let kind = kind_of(&field.ty, errors);

    let mut deprecated_name = None;
    let mut deprecated_group = None;
    let mut flags = [false; 4]; // multi, secret, mutable, required
    args::read(
        &field.args,
        &FIELD_ARGS,
        errors,
        |arg_name, arg, errors| match arg_name {
            "default" => {
                arg_value(arg, errors);
            }
            "min" | "max" | "choices" => {}
            "deprecated_name" => deprecated_name = args::string(arg, errors).map(LitStr::value),
            "deprecated_group" => {
                deprecated_group = args::string(arg, errors).and_then(|lit| group_name(lit, errors))
            }
            flag => {
                let index = ["multi", "secret", "mutable", "required"]
                    .iter()
                    .position(|f| *f == flag)
                    .unwrap_or_else(|| {
                        unreachable!("argument `{flag}` is in FIELD_ARGS but not read")
                    });
                flags[index] = flag_value(arg, errors);
            }
        },
    );
    // The first of each argument, which `args::read` accepted.
    let first = |name: &str| field.args.iter().find(|arg| arg.name.unraw() == name);
    let default = first("default").and_then(|arg| arg.value.as_ref().map(|(_, value)| value));
    let (min, max, choices) = (first("min"), first("max"), first("choices"));
    let flag_args = ["multi", "secret", "mutable", "required"].map(first);
    let [multi, secret, mutable, required] = flags;
    let (optional, mut kind) = kind?;

    if multi {
        match &kind {
            Kind::List(inner) if matches!(**inner, Kind::Str) => kind = Kind::Multi,
            _ => errors.at(
                flag_args[0].map(|a| &a.name),
                "`multi` goes on a `Vec<String>` field: each repeated key gives one value",
            ),
        }
    }

    let element = match &kind {
        Kind::List(inner) => (**inner).clone(),
        other => other.clone(),
    };
    let read_bound = |arg: Option<&Arg>, errors: &mut Errors| -> Option<Bound> {
        let arg = arg?;
        let Some((_, value)) = &arg.value else {
            errors.at(&arg.name, format!("`{}` needs a value", arg.name));
            return None;
        };
        if !element.is_number() {
            errors.at(
                &arg.name,
                format!("`{}` goes on an integer, port or float option", arg.name),
            );
            return None;
        }
        let bound = number(value, &element, errors)?;
        Some(bound)
    };
    let min = read_bound(min, errors);
    let max = read_bound(max, errors);
    if let (Some(lo), Some(hi)) = (min, max) {
        if lo.as_f64() > hi.as_f64() {
            if let Some((_, value)) = field
                .args
                .iter()
                .find(|a| a.name == "min")
                .and_then(|a| a.value.as_ref())
            {
                errors.at(value, "`min` is greater than `max`");
            }
        }
    }

    let choices = choices.map_or_else(Vec::new, |arg| {
        if !matches!(element, Kind::Str) {
            errors.at(
                &arg.name,
                "`choices` goes on a String option; for a type of your own, implement oslo::config::OptionValue with its CHOICES",
            );
            return Vec::new();
        }
        string_array(arg, errors)
    });

    if required && default.is_some() {
        errors.at(
            flag_args[3].map(|a| &a.name),
            "a `required` option has no default: remove `default` or `required`",
        );
    }
    if required && optional {
        errors.at(
            flag_args[3].map(|a| &a.name),
            "a `required` option is always set: its type is not an `Option`",
        );
    }

    let bounds = (
        min.or(if matches!(element, Kind::Port) {
            Some(Bound::Int(0))
        } else {
            None
        }),
        max.or(if matches!(element, Kind::Port) {
            Some(Bound::Int(65535))
        } else {
            None
        }),
    );
    let default_texts = match default {
        Some(value) => default_text(value, &kind, bounds, &choices, errors).unwrap_or_default(),
        None => {
            let has_empty_value =
                optional || matches!(kind, Kind::List(_) | Kind::Multi | Kind::Dict);
            if !required && !has_empty_value {
                errors.at(
                    &field.ident,
                    format!(
                        "option `{name}` needs a default: `#[opt(default = ...)]`, or `#[opt(required)]`, or an `Option<...>` type for an option that may be unset"
                    ),
                );
            }
            Vec::new()
        }
    };

    Some(CheckedField {
        field,
        name,
        help,
        kind,
        default: default_texts,
        min: bounds.0,
        max: bounds.1,
        choices,
        deprecated: (deprecated_name.is_some() || deprecated_group.is_some())
            .then_some((deprecated_group, deprecated_name)),
        secret,
        mutable,
        required,
    })
}

fn arg_value<'a>(arg: &'a Arg, errors: &mut Errors) -> Option<&'a Expr> {
    match &arg.value {
        Some((_, value)) => Some(value),
        None => {
            errors.at(
                &arg.name,
                format!("`{}` needs a value: `{} = ...`", arg.name, arg.name),
            );
            None
        }
    }
}

/// A flag: `secret`, or `secret = true` / `secret = false`.
fn flag_value(arg: &Arg, errors: &mut Errors) -> bool {
    match &arg.value {
        None => true,
        Some((
            _,
            Expr::Lit(ExprLit {
                lit: Lit::Bool(b), ..
            }),
        )) => b.value,
        Some((_, other)) => {
            errors.at(
                other,
                format!(
                    "`{}` is a flag: write `{}` or `{} = true`",
                    arg.name, arg.name, arg.name
                ),
            );
            false
        }
    }
}

fn string_array(arg: &Arg, errors: &mut Errors) -> Vec<String> {
    let expected = format!(
        "`{}` takes an array of strings: `{} = [\"a\", \"b\"]`",
        arg.name, arg.name
    );
    let Some((_, Expr::Array(array))) = &arg.value else {
        match &arg.value {
            Some((_, value)) => errors.at(value, expected),
            None => errors.at(&arg.name, expected),
        }
        return Vec::new();
    };
    let mut found: Vec<String> = Vec::new();
    for elem in &array.elems {
        match elem {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => {
                if found.contains(&s.value()) {
                    errors.at(s, format!("`{}` is listed twice", s.value()));
                }
                found.push(s.value());
            }
            other => errors.at(other, &expected),
        }
    }
    if found.is_empty() && array.elems.is_empty() {
        errors.at(array, format!("`{}` needs at least one value", arg.name));
    }
    found
}

/// A number literal for a field of `kind` (an integer, port or float), checked against
/// the type's range.
fn number(value: &Expr, kind: &Kind, errors: &mut Errors) -> Option<Bound> {
    let (negative, lit) = match value {
        Expr::Lit(ExprLit { lit, .. }) => (false, lit),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) => match &**expr {
            Expr::Lit(ExprLit { lit, .. }) => (true, lit),
            _ => {
                errors.at(value, format!("expected {}", describe(kind)));
                return None;
            }
        },
        _ => {
            errors.at(value, format!("expected {}", describe(kind)));
            return None;
        }
    };
    match (kind, lit) {
        (Kind::Float, Lit::Float(f)) => f
            .base10_parse::<f64>()
            .ok()
            .map(|x| Bound::Float(if negative { -x } else { x })),
        (Kind::Float, Lit::Int(i)) => i
            .base10_parse::<f64>()
            .ok()
            .map(|x| Bound::Float(if negative { -x } else { x })),
        (Kind::Int { .. } | Kind::Port, Lit::Int(i)) => {
            let (lo, hi, name) = match kind {
                Kind::Int { min, max, name } => (*min, *max, name.as_str()),
                _ => (0, 65535, "a port"),
            };
            let n = i
                .base10_parse::<i128>()
                .ok()
                .map(|n| if negative { -n } else { n });
            match n {
                Some(n) if (lo..=hi).contains(&n) => Some(Bound::Int(n)),
                _ => {
                    errors.at(
                        value,
                        format!(
                            "`{}{}` is out of range for {name} ({lo} to {hi})",
                            if negative { "-" } else { "" },
                            i.base10_digits()
                        ),
                    );
                    None
                }
            }
        }
        _ => {
            errors.at(value, format!("expected {}", describe(kind)));
            None
        }
    }
}

fn describe(kind: &Kind) -> String {
    match kind {
        Kind::Str => "a string literal".to_owned(),
        Kind::Bool => "`true` or `false`".to_owned(),
        Kind::Int { name, .. } => format!("an integer literal (the option is a {name})"),
        Kind::Float => "a number literal".to_owned(),
        Kind::Port => "a port number from 0 to 65535".to_owned(),
        Kind::Duration => {
            "a duration such as \"30s\", \"1m30s\", \"250ms\", or a number of seconds".to_owned()
        }
        Kind::List(inner) => format!(
            "an array of {}s: `[...]`",
            describe(inner)
                .trim_start_matches("a ")
                .trim_start_matches("an ")
        ),
        Kind::Multi => "an array of string literals: `[\"a\", \"b\"]`".to_owned(),
        Kind::Dict => "a string of key:value pairs: \"k1:v1,k2:v2\"".to_owned(),
        Kind::Custom(_) => "a string literal, read by the type's OptionValue impl".to_owned(),
    }
}

/// The default as file text, checked against the type, bounds and choices; errors at
/// the literal.
fn default_text(
    value: &Expr,
    kind: &Kind,
    bounds: (Option<Bound>, Option<Bound>),
    choices: &[String],
    errors: &mut Errors,
) -> Option<Vec<String>> {
    match kind {
        Kind::List(inner) => {
            let Expr::Array(array) = value else {
                errors.at(value, format!("expected {}", describe(kind)));
                return None;
            };
            let mut texts = Vec::new();
            for elem in &array.elems {
                let text = scalar_default(elem, inner, bounds, choices, errors)?;
                if text.contains(',') {
                    errors.at(
                        elem,
                        "a list item cannot contain a comma: the file separates items with commas",
                    );
                    return None;
                }
                texts.push(text);
            }
            Some(vec![texts.join(",")])
        }
        Kind::Multi => {
            let Expr::Array(array) = value else {
                errors.at(value, format!("expected {}", describe(kind)));
                return None;
            };
            array
                .elems
                .iter()
                .map(|elem| scalar_default(elem, &Kind::Str, bounds, choices, errors))
                .collect()
        }
        Kind::Dict => {
            let text = scalar_default(value, &Kind::Str, bounds, &[], errors)?;
            for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                if !pair.contains(':') {
                    errors.at(
                        value,
                        format!(
                            "`{pair}` is not a key:value pair; expected {}",
                            describe(kind)
                        ),
                    );
                    return None;
                }
            }
            Some(vec![text])
        }
        scalar => scalar_default(value, scalar, bounds, choices, errors).map(|text| vec![text]),
    }
}

fn scalar_default(
    value: &Expr,
    kind: &Kind,
    (min, max): (Option<Bound>, Option<Bound>),
    choices: &[String],
    errors: &mut Errors,
) -> Option<String> {
    let string = |errors: &mut Errors| match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(s), ..
        }) => Some(s.value()),
        _ => {
            errors.at(value, format!("expected {}", describe(kind)));
            None
        }
    };
    match kind {
        Kind::Str => {
            let text = string(errors)?;
            if !choices.is_empty() && !choices.contains(&text) {
                errors.at(
                    value,
                    format!("`{text}` is not one of the choices: {}", choices.join(", ")),
                );
                return None;
            }
            Some(text)
        }
        Kind::Custom(_) => string(errors),
        Kind::Bool => match value {
            Expr::Lit(ExprLit {
                lit: Lit::Bool(b), ..
            }) => Some(b.value.to_string()),
            _ => {
                errors.at(value, format!("expected {}", describe(kind)));
                None
            }
        },
        Kind::Duration => match value {
            Expr::Lit(ExprLit {
                lit: Lit::Str(s), ..
            }) => match crate::duration::parse(&s.value()) {
                Ok(_) => Some(s.value().trim().to_owned()),
                Err(message) => {
                    errors.at(s, message);
                    None
                }
            },
            Expr::Lit(ExprLit {
                lit: Lit::Int(i), ..
            }) => match i.base10_parse::<u64>() {
                Ok(seconds) => Some(format!("{seconds}s")),
                Err(err) => {
                    errors.at(i, err);
                    None
                }
            },
            _ => {
                errors.at(value, format!("expected {}", describe(kind)));
                None
            }
        },
        Kind::Int { .. } | Kind::Port | Kind::Float => {
            let n = number(value, kind, errors)?;
            if let Some(lo) = min.filter(|lo| n.as_f64() < lo.as_f64()) {
                errors.at(
                    value,
                    format!("the default is below the minimum {}", show(lo)),
                );
                return None;
            }
            if let Some(hi) = max.filter(|hi| n.as_f64() > hi.as_f64()) {
                errors.at(
                    value,
                    format!("the default is above the maximum {}", show(hi)),
                );
                return None;
            }
            Some(show(n))
        }
        Kind::List(_) | Kind::Multi | Kind::Dict => {
            errors.at(value, format!("expected {}", describe(kind)));
            None
        }
    }
}

/// A bound or number as the file and the sample write it.
pub(crate) fn show(bound: Bound) -> String {
    match bound {
        Bound::Int(n) => n.to_string(),
        Bound::Float(x) => format!("{x:?}"),
    }
}
