//! Checks of `#[oslo::retry]`: the arguments and the function's shape.

use syn::ext::IdentExt as _;
use syn::{Expr, ExprLit, ExprUnary, FnArg, Lit, Pat, ReturnType, UnOp};

use super::parse::Function;
use crate::args::{self, Arg, Known};
use crate::diag::Errors;
use crate::tokens::is_ref_self;

const ARGS: Known = Known {
    attr: "#[oslo::retry]",
    names: &[
        "max_retry_count",
        "inc_sleep_time",
        "max_sleep_time",
        "when",
        "crate",
    ],
    misplaced: &[(
        "exceptions",
        "`exceptions` is the argument of oslo.service's RetryDecorator; here `when = path::to::predicate` says which errors are retried",
    )],
};

/// How many retries: `max_retry_count`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RetryCount {
    /// Not given: the runtime's default (forever).
    Default,
    /// -1: forever.
    Forever,
    /// At most this many.
    AtMost(u32),
}

/// A function that can be retried, with the retry arguments.
pub(crate) struct Checked<'a> {
    /// The function.
    pub(crate) function: &'a Function,
    /// Where the runtime is.
    pub(crate) runtime: syn::Path,
    /// `max_retry_count`.
    pub(crate) max_retry_count: RetryCount,
    /// `inc_sleep_time` in nanoseconds.
    pub(crate) inc_sleep_time: Option<u64>,
    /// `max_sleep_time` in nanoseconds.
    pub(crate) max_sleep_time: Option<u64>,
    /// The predicate saying which errors are retried.
    pub(crate) when: &'a Expr,
    /// The names of the arguments, which the retried body sees by reference.
    pub(crate) arguments: Vec<syn::Ident>,
}

/// Checks the arguments and the function; `None` when something is wrong (reported in
/// `errors`).
pub(crate) fn validate<'a>(
    args: &'a [Arg],
    function: &'a Function,
    errors: &mut Errors,
) -> Option<Checked<'a>> {
    let mut runtime = None;
    let mut max_retry_count = RetryCount::Default;
    let mut inc_sleep_time = None;
    let mut max_sleep_time = None;
    args::read(args, &ARGS, errors, |name, arg, errors| match name {
        "crate" => runtime = args::crate_path(arg, errors),
        "max_retry_count" => max_retry_count = retry_count(arg, errors),
        "inc_sleep_time" => inc_sleep_time = args::duration(arg, errors),
        "max_sleep_time" => max_sleep_time = args::duration(arg, errors),
        "when" => {
            if arg.value.is_none() {
                errors.at(
                    &arg.name,
                    "`when` takes a predicate: `when = path::to::predicate`",
                );
            }
        }
        other => unreachable!("argument `{other}` is in ARGS but not read"),
    });
    let when = args
        .iter()
        .find(|arg| arg.name.unraw() == "when")
        .map(|arg| arg.value.as_ref().map(|(_, predicate)| predicate));
    let Some(when) = when else {
        errors.push(syn::Error::new(
            proc_macro2::Span::call_site(),
            "#[oslo::retry] needs `when = path::to::predicate`: a fn(&E) -> bool that says which errors are retried",
        ));
        return None;
    };
    let when = when?;

    let sig = &function.item.sig;
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token,
            "#[oslo::retry] goes on an async fn that returns a `Result`",
        );
    }
    if matches!(sig.output, ReturnType::Default) {
        errors.at(
            &sig.ident,
            "#[oslo::retry] needs a fn that returns a `Result`, whose error `when` looks at",
        );
    }
    let mut arguments = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) if is_ref_self(receiver) => {}
            FnArg::Receiver(receiver) => errors.at(
                receiver,
                "#[oslo::retry] takes `&self` or no receiver: the body runs again on each retry",
            ),
            FnArg::Typed(typed) => match &*typed.pat {
                Pat::Ident(pat) if pat.by_ref.is_none() && pat.subpat.is_none() => arguments.push(pat.ident.clone()),
                other => errors.at(
                    other,
                    "#[oslo::retry] needs plain argument names (`name: Type`), which the retried body sees by reference",
                ),
            },
        }
    }
    Some(Checked {
        function,
        runtime: args::runtime_path(runtime),
        max_retry_count,
        inc_sleep_time,
        max_sleep_time,
        when,
        arguments,
    })
}

fn retry_count(arg: &Arg, errors: &mut Errors) -> RetryCount {
    let message = "`max_retry_count` takes a whole number of retries, or -1 to retry forever";
    match &arg.value {
        Some((
            _,
            Expr::Lit(ExprLit {
                lit: Lit::Int(int), ..
            }),
        )) => match int.base10_parse::<u32>() {
            Ok(count) => return RetryCount::AtMost(count),
            Err(_) => errors.at(int, message),
        },
        Some((
            _,
            Expr::Unary(ExprUnary {
                op: UnOp::Neg(_),
                expr,
                ..
            }),
        )) if matches!(&**expr, Expr::Lit(ExprLit { lit: Lit::Int(int), .. }) if int.base10_digits() == "1") =>
        {
            return RetryCount::Forever;
        }
        Some((_, other)) => errors.at(other, message),
        None => errors.at(&arg.name, message),
    }
    RetryCount::Default
}
