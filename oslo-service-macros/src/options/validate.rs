//! Checks of `#[oslo::options]`: the struct's arguments, each field's type, and each
//! `#[opt(...)]` argument, defaults included, against the field's type and bounds.

use syn::ext::IdentExt as _;
use syn::{Expr, ExprLit, Lit, LitStr, Path};

use super::defaults::{default_text, number};
use super::kinds::{Bound, Kind, kind_of};
use super::parse::{Field, Options, struct_head};
use crate::args::{self, Arg, Known};
use crate::diag::Errors;
use crate::doc::help_text;

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
        "serde",
        "cli",
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
    /// `cli`: also a command-line flag.
    pub(crate) cli: bool,
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
    let mut flags = [false; 6]; // multi, secret, mutable, required, serde, cli
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
                let index = ["multi", "secret", "mutable", "required", "serde", "cli"]
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
    let flag_args = ["multi", "secret", "mutable", "required", "serde", "cli"].map(first);
    let [multi, secret, mutable, required, serde, cli] = flags;
    let (optional, mut kind) = kind?;

    if serde {
        match &kind {
            Kind::Custom(_) => kind = Kind::Serde,
            _ => errors.at(
                flag_args[4].map(|a| &a.name),
                "`serde` goes on a type of your own that derives serde's Deserialize; this type is read without it",
            ),
        }
    }

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
        cli,
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
