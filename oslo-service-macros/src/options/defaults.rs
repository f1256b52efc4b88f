//! Number literals and defaults checked against a field's kind, bounds and choices,
//! turned into the text a config file would hold.

use syn::{Expr, ExprLit, ExprUnary, Lit, UnOp};

use super::kinds::{Bound, Kind};
use crate::diag::Errors;

/// A number literal for a field of `kind` (an integer, port or float), checked against
/// the type's range.
pub(crate) fn number(value: &Expr, kind: &Kind, errors: &mut Errors) -> Option<Bound> {
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

pub(crate) fn describe(kind: &Kind) -> String {
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
        Kind::Serde => "a string literal, read by the type's serde Deserialize impl".to_owned(),
    }
}

/// The default as file text, checked against the type, bounds and choices; errors at
/// the literal.
pub(crate) fn default_text(
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

pub(crate) fn scalar_default(
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
        Kind::Custom(_) | Kind::Serde => string(errors),
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
