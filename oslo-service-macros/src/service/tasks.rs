//! Checks of the `#[periodic_task(...)]` methods of a service impl block: the arguments
//! (durations read at compile time), the signature, and names unique in the service.

use proc_macro2::Span;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{
    Expr, ExprLit, ExprPath, ExprUnary, FnArg, GenericParam, Ident, Lit, LitStr, Path,
    PathArguments, ReturnType, Type, UnOp,
};

use super::parse::Method;
use crate::args::{self, Arg, Known};
use crate::diag::Errors;
use crate::duration;
use crate::tokens::is_ref_self;

const ATTR: &str = "#[periodic_task]";

const TASK_ARGS: Known = Known {
    attr: ATTR,
    names: &[
        "spacing",
        "run_immediately",
        "name",
        "external_process_ok",
        "enabled",
        "scope",
        "timeout",
    ],
    misplaced: &[(
        "ticks_between_runs",
        "`ticks_between_runs` is the old argument of oslo.service's periodic_task and is not supported; use `spacing`",
    )],
};

const EXPECTED: &str = "expected `async fn NAME(&self, cx: &oslo::Context) -> oslo::Result<()>`, `async fn NAME(&self) -> oslo::Result<()>`, or either returning `()`";

/// How often a task runs, as read from `spacing`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum SpacingValue {
    /// Not given, or 0: the default interval.
    Default,
    /// A positive duration, in nanoseconds.
    Nanos(u64),
    /// A negative number: the task is disabled.
    Negative,
    /// An option of a group: `Opts::interval`.
    Option(OptionPath),
}

/// Whether a task runs, as read from `enabled`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Switch {
    /// `true` or `false`.
    Fixed(bool),
    /// A boolean option of a group: `Opts::switch`.
    Option(OptionPath),
}

/// `Group::field`: an option of a group of options, named by the type that declares
/// the group and the field that declares the option.
#[derive(Clone)]
pub(crate) struct OptionPath {
    /// The group's type.
    pub(crate) group: Path,
    /// The option's field.
    pub(crate) field: Ident,
}

impl OptionPath {
    /// `Group::field` as written, for tests and debugging.
    fn text(&self) -> String {
        let (group, field) = (&self.group, &self.field);
        quote::quote!(#group :: #field).to_string()
    }
}

impl std::fmt::Debug for OptionPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

impl PartialEq for OptionPath {
    fn eq(&self, other: &Self) -> bool {
        self.text() == other.text()
    }
}

impl Eq for OptionPath {}

/// A periodic task whose attribute and signature are right.
pub(crate) struct CheckedTask {
    /// The method.
    pub(crate) method: Ident,
    /// The task name: `name = "…"` or the method's name.
    pub(crate) name: LitStr,
    /// Its spacing.
    pub(crate) spacing: SpacingValue,
    /// `run_immediately`.
    pub(crate) run_immediately: bool,
    /// `external_process_ok`.
    pub(crate) external_process_ok: bool,
    /// `enabled`.
    pub(crate) enabled: Switch,
    /// `scope = "cluster"`: once per period in the cluster.
    pub(crate) cluster: bool,
    /// `timeout`, in nanoseconds: a longer run is cancelled.
    pub(crate) timeout: Option<u64>,
    /// Whether the method takes the context.
    pub(crate) takes_context: bool,
    /// Whether the method returns `()` rather than `oslo::Result<()>`.
    pub(crate) returns_unit: bool,
    /// The user's return type (or the method name), where a type mismatch is reported.
    pub(crate) output: Span,
}

/// Checks every method that carries `#[periodic_task]`, in definition order.
pub(crate) fn check_tasks(methods: &[Method], errors: &mut Errors) -> Vec<CheckedTask> {
    let mut tasks: Vec<CheckedTask> = Vec::new();
    for method in methods {
        let Some(first) = method.periodic.first() else {
            continue;
        };
        for repeated in &method.periodic[1..] {
            errors.at(
                &repeated.path,
                format!("duplicate {ATTR} on `{}`", method.sig.ident),
            );
        }
        if let Some(hook) = method.hook {
            errors.at(
                &first.path,
                format!("the lifecycle hook `{}` cannot be a periodic task; give the task a method of its own", hook.name()),
            );
            continue;
        }
        let parsed = match &first.args {
            Ok(parsed) => parsed,
            Err(error) => {
                errors.push(error.clone());
                continue;
            }
        };
        let mut found = Errors::new();
        let task = check_task(method, parsed, &mut found);
        if let Some(task) = task.filter(|_| found.is_empty()) {
            if let Some(earlier) = tasks.iter().find(|t| t.name.value() == task.name.value()) {
                found.at(
                    &task.name,
                    format!(
                        "two periodic tasks of this service are named `{}`: `{}` and `{}`; give one a different `name`",
                        task.name.value(),
                        earlier.method,
                        task.method
                    ),
                );
            } else {
                tasks.push(task);
            }
        }
        errors.append(found);
    }
    tasks
}

fn check_task(method: &Method, parsed: &[Arg], errors: &mut Errors) -> Option<CheckedTask> {
    let sig = &method.sig;
    let mut spacing = SpacingValue::Default;
    let mut run_immediately = false;
    let mut external_process_ok = false;
    let mut enabled = Switch::Fixed(true);
    let mut cluster = false;
    let mut timeout = None;
    let mut name = None;
    args::read(
        parsed,
        &TASK_ARGS,
        errors,
        |arg_name, arg, errors| match arg_name {
            "spacing" => spacing = spacing_value(arg, errors).unwrap_or(SpacingValue::Default),
            "run_immediately" => run_immediately = flag(arg, errors),
            "external_process_ok" => external_process_ok = flag(arg, errors),
            "enabled" => enabled = switch(arg, errors),
            "name" => name = task_name(arg, errors),
            "scope" => cluster = scope_is_cluster(arg, errors),
            "timeout" => timeout = task_timeout(arg, errors),
            other => unreachable!("argument `{other}` is in TASK_ARGS but not read"),
        },
    );

    let method_name = sig.ident.unraw().to_string();
    if sig.asyncness.is_none() {
        errors.at(
            sig.fn_token,
            format!("periodic task `{method_name}` is not async; {EXPECTED}"),
        );
    }
    if sig
        .generics
        .params
        .iter()
        .any(|p| !matches!(p, GenericParam::Lifetime(_)))
    {
        errors.at(
            &sig.generics,
            format!("periodic task `{method_name}` must not have generic parameters; {EXPECTED}"),
        );
    }
    let mut inputs = sig.inputs.iter();
    match inputs.next() {
        Some(FnArg::Receiver(receiver)) if is_ref_self(receiver) => {}
        Some(other) => errors.at(
            other,
            format!("periodic task `{method_name}` must take `&self`; {EXPECTED}"),
        ),
        None => errors.at(
            &sig.ident,
            format!("periodic task `{method_name}` must take `&self`; {EXPECTED}"),
        ),
    }
    let rest: Vec<&FnArg> = inputs.collect();
    let takes_context = !rest.is_empty();
    if let Some(FnArg::Typed(arg)) = rest.first()
        && !matches!(&*arg.ty, Type::Reference(r) if r.mutability.is_none())
    {
        errors.at(
            &arg.ty,
            format!("the context of periodic task `{method_name}` must be a reference; {EXPECTED}"),
        );
    }
    if rest.len() > 1 {
        errors.between(
            rest[1],
            rest[rest.len() - 1],
            format!("periodic task `{method_name}` takes only `&self` and the context; {EXPECTED}"),
        );
    }
    let (returns_unit, output) = match &sig.output {
        ReturnType::Default => (true, sig.ident.span()),
        ReturnType::Type(_, ty) => (
            matches!(&**ty, Type::Tuple(t) if t.elems.is_empty()),
            ty.span(),
        ),
    };
    Some(CheckedTask {
        name: name.unwrap_or_else(|| LitStr::new(&method_name, sig.ident.span())),
        method: sig.ident.clone(),
        spacing,
        run_immediately,
        timeout,
        external_process_ok,
        enabled,
        cluster,
        takes_context,
        returns_unit,
        output,
    })
}

/// `spacing = "10s"`, `spacing = 10`, `spacing = 0.5`, `spacing = 0`, `spacing = -1`, or
/// `spacing = Opts::interval`.
fn spacing_value(arg: &Arg, errors: &mut Errors) -> Option<SpacingValue> {
    let expected = "`spacing` takes a duration such as \"10s\", \"1m30s\" or \"250ms\", a number of seconds (0 for the default 60 s, negative to disable the task), or a Duration option of a group of options, as `MyOpts::interval`";
    let Some((_, value)) = &arg.value else {
        errors.at(&arg.name, expected);
        return None;
    };
    if let Some(option) = option_path(value) {
        return Some(SpacingValue::Option(option));
    }
    let outcome = match value {
        Expr::Lit(ExprLit {
            lit: Lit::Str(text),
            ..
        }) => duration::parse(&text.value()).map(nanos_to_spacing),
        Expr::Lit(ExprLit {
            lit: Lit::Int(int), ..
        }) => int
            .base10_parse::<u64>()
            .map_err(|e| e.to_string())
            .and_then(|s| duration::seconds_to_nanos(u128::from(s)))
            .map(nanos_to_spacing),
        Expr::Lit(ExprLit {
            lit: Lit::Float(float),
            ..
        }) => float
            .base10_parse::<f64>()
            .map_err(|e| e.to_string())
            .and_then(|seconds| {
                let nanos = seconds * 1e9;
                if nanos.is_finite() && nanos < u64::MAX as f64 {
                    Ok(nanos_to_spacing(nanos as u64))
                } else {
                    Err(format!("{seconds} seconds is too long a duration"))
                }
            }),
        Expr::Unary(ExprUnary {
            op: UnOp::Neg(_),
            expr,
            ..
        }) if matches!(
            &**expr,
            Expr::Lit(ExprLit {
                lit: Lit::Int(_) | Lit::Float(_),
                ..
            })
        ) =>
        {
            Ok(SpacingValue::Negative)
        }
        _ => Err(expected.to_owned()),
    };
    outcome.map_err(|message| errors.at(value, message)).ok()
}

fn nanos_to_spacing(nanos: u64) -> SpacingValue {
    if nanos == 0 {
        SpacingValue::Default
    } else {
        SpacingValue::Nanos(nanos)
    }
}

/// `timeout = "30s"`: a duration above 0.
fn task_timeout(arg: &Arg, errors: &mut Errors) -> Option<u64> {
    let nanos = args::duration(arg, errors)?;
    if nanos == 0 {
        let at = arg.value.as_ref().map(|(_, value)| value);
        match at {
            Some(value) => errors.at(value, "`timeout` must be above 0; leave it out for none"),
            None => errors.at(
                &arg.name,
                "`timeout` must be above 0; leave it out for none",
            ),
        }
        return None;
    }
    Some(nanos)
}

/// `enabled`, `enabled = true`, `enabled = false` or `enabled = Opts::switch`.
fn switch(arg: &Arg, errors: &mut Errors) -> Switch {
    match &arg.value {
        Some((_, value)) => match option_path(value) {
            Some(option) => Switch::Option(option),
            None if matches!(
                value,
                Expr::Lit(ExprLit {
                    lit: Lit::Bool(_),
                    ..
                })
            ) =>
            {
                Switch::Fixed(flag(arg, errors))
            }
            None => {
                errors.at(
                    value,
                    "`enabled` takes `true`, `false`, or a bool option of a group of options, as `MyOpts::poll`",
                );
                Switch::Fixed(false)
            }
        },
        None => Switch::Fixed(true),
    }
}

/// `Group::field`, `crate::opts::Group::field`: a path of two segments or more, the
/// last a plain name.
fn option_path(value: &Expr) -> Option<OptionPath> {
    let Expr::Path(ExprPath {
        qself: None, path, ..
    }) = value
    else {
        return None;
    };
    if path.segments.len() < 2 {
        return None;
    }
    let mut group = path.clone();
    let last = group.segments.pop()?;
    if !matches!(last.arguments, PathArguments::None) {
        return None;
    }
    group.segments.pop_punct();
    Some(OptionPath {
        group,
        field: last.ident,
    })
}

/// `flag`, `flag = true` or `flag = false`.
fn flag(arg: &Arg, errors: &mut Errors) -> bool {
    match &arg.value {
        None => true,
        Some((
            _,
            Expr::Lit(ExprLit {
                lit: Lit::Bool(value),
                ..
            }),
        )) => value.value,
        Some((_, other)) => {
            let name = arg.name.unraw();
            errors.at(other, format!("`{name}` takes `true` or `false`"));
            false
        }
    }
}

/// Whether `scope` says `"cluster"` (`"local"` is the default); anything else is an
/// error at the value.
fn scope_is_cluster(arg: &Arg, errors: &mut Errors) -> bool {
    let Some(scope) = args::string(arg, errors) else {
        return false;
    };
    match scope.value().as_str() {
        "cluster" => true,
        "local" => false,
        other => {
            errors.at(
                scope,
                format!("`scope` is \"local\" (every host, the default) or \"cluster\" (one host per period), not \"{other}\""),
            );
            false
        }
    }
}

fn task_name(arg: &Arg, errors: &mut Errors) -> Option<LitStr> {
    let name = args::string(arg, errors)?;
    if name.value().trim().is_empty() {
        errors.at(name, "`name` must not be empty");
        return None;
    }
    Some(name.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::messages;
    use crate::service::parse::{Input, item};
    use proc_macro2::TokenStream;
    use quote::quote;

    fn check(methods: TokenStream) -> (Vec<CheckedTask>, Vec<String>) {
        let Input::Impl(block) = item(quote!(impl S { #methods })).unwrap() else {
            panic!("not an impl")
        };
        let mut errors = Errors::new();
        let tasks = check_tasks(&block.methods, &mut errors);
        (
            tasks,
            errors
                .into_error()
                .map(|e| messages(&e))
                .unwrap_or_default(),
        )
    }

    fn one_error(methods: TokenStream) -> String {
        let (_, found) = check(methods);
        assert_eq!(found.len(), 1, "{found:?}");
        found[0].clone()
    }

    #[test]
    fn reads_arguments_and_signatures() {
        let (tasks, found) = check(quote! {
            #[periodic_task]
            async fn bare(&self) {}
            #[periodic_task(spacing = "1m30s", run_immediately = true, name = "renamed")]
            async fn full(&self, cx: &Context) -> oslo::Result<()> { Ok(()) }
            #[oslo::periodic_task(spacing = -1, enabled = false, external_process_ok)]
            async fn off(&self, _: &Context) -> () {}
            #[periodic_task(spacing = 0.25)]
            async fn quick(&self) -> Result<()> { Ok(()) }
            fn plain(&self) {}
        });
        assert!(found.is_empty(), "{found:?}");
        let summary: Vec<_> = tasks
            .iter()
            .map(|t| {
                (
                    t.name.value(),
                    t.spacing.clone(),
                    t.run_immediately,
                    t.enabled.clone(),
                    t.external_process_ok,
                    t.takes_context,
                    t.returns_unit,
                )
            })
            .collect();
        assert_eq!(
            summary,
            [
                (
                    "bare".into(),
                    SpacingValue::Default,
                    false,
                    Switch::Fixed(true),
                    false,
                    false,
                    true
                ),
                (
                    "renamed".into(),
                    SpacingValue::Nanos(90_000_000_000),
                    true,
                    Switch::Fixed(true),
                    false,
                    true,
                    false
                ),
                (
                    "off".into(),
                    SpacingValue::Negative,
                    false,
                    Switch::Fixed(false),
                    true,
                    true,
                    true
                ),
                (
                    "quick".into(),
                    SpacingValue::Nanos(250_000_000),
                    false,
                    Switch::Fixed(true),
                    false,
                    false,
                    false
                ),
            ]
        );
    }

    #[test]
    fn reads_options_as_spacing_and_switch() {
        let (tasks, found) = check(quote! {
            #[periodic_task(spacing = HelloOpts::interval, enabled = crate::opts::HelloOpts::on)]
            async fn greet(&self) {}
        });
        assert!(found.is_empty(), "{found:?}");
        let SpacingValue::Option(spacing) = &tasks[0].spacing else {
            panic!("{:?}", tasks[0].spacing)
        };
        let group = &spacing.group;
        assert_eq!(spacing.field, "interval");
        assert_eq!(quote!(#group).to_string(), "HelloOpts");
        let Switch::Option(switch) = &tasks[0].enabled else {
            panic!("{:?}", tasks[0].enabled)
        };
        let group = &switch.group;
        assert_eq!(switch.field, "on");
        assert_eq!(quote!(#group).to_string(), "crate :: opts :: HelloOpts");

        // A bare name is neither a duration nor an option of a group.
        assert!(
            one_error(quote!(
                #[periodic_task(spacing = interval)]
                async fn t(&self) {}
            ))
            .starts_with("`spacing` takes a duration")
        );
        assert!(
            one_error(quote!(
                #[periodic_task(enabled = on)]
                async fn t(&self) {}
            ))
            .starts_with("`enabled` takes `true`, `false`, or a bool option")
        );
    }

    #[test]
    fn refuses_bad_arguments() {
        assert!(
            one_error(quote!(
                #[periodic_task(spacing = "10 parsecs")]
                async fn t(&self) {}
            ))
            .contains("is not a duration")
        );
        assert!(
            one_error(quote!(
                #[periodic_task(spacing = 1, spacing = 2)]
                async fn t(&self) {}
            ))
            .starts_with("duplicate argument `spacing`")
        );
        assert!(
            one_error(quote!(
                #[periodic_task(every = 1)]
                async fn t(&self) {}
            ))
            .starts_with("unknown argument `every` of #[periodic_task]")
        );
        assert!(
            one_error(quote!(
                #[periodic_task(ticks_between_runs = 3)]
                async fn t(&self) {}
            ))
            .starts_with("`ticks_between_runs` is the old argument")
        );
        assert_eq!(
            one_error(quote!(
                #[periodic_task(enabled = "no")]
                async fn t(&self) {}
            )),
            "`enabled` takes `true`, `false`, or a bool option of a group of options, as `MyOpts::poll`"
        );
        assert!(
            one_error(quote!(
                #[periodic_task(spacing = x)]
                async fn t(&self) {}
            ))
            .starts_with("`spacing` takes a duration")
        );
    }

    #[test]
    fn refuses_bad_signatures_and_duplicate_names() {
        assert!(
            one_error(quote!(
                #[periodic_task]
                fn t(&self) {}
            ))
            .starts_with("periodic task `t` is not async")
        );
        assert!(
            one_error(quote!(
                #[periodic_task]
                async fn t(&mut self) {}
            ))
            .starts_with("periodic task `t` must take `&self`")
        );
        assert!(
            one_error(quote!(
                #[periodic_task]
                async fn t() {}
            ))
            .starts_with("periodic task `t` must take `&self`")
        );
        assert!(
            one_error(quote!(
                #[periodic_task]
                async fn t(&self, a: &A, b: B) {}
            ))
            .starts_with("periodic task `t` takes only")
        );
        assert!(
            one_error(quote!(
                #[periodic_task]
                async fn t(&self, cx: Context) {}
            ))
            .starts_with("the context of periodic task")
        );
        assert!(
            one_error(quote!(
                #[periodic_task]
                async fn start(&self, cx: &Context) -> R {}
            ))
            .starts_with("the lifecycle hook `start` cannot")
        );
        assert!(
            one_error(quote!(
                #[periodic_task]
                #[periodic_task]
                async fn t(&self) {}
            ))
            .starts_with("duplicate #[periodic_task]")
        );
        assert!(
            one_error(quote! {
                #[periodic_task] async fn poll(&self) {}
                #[periodic_task(name = "poll")] async fn other(&self) {}
            })
            .starts_with("two periodic tasks of this service are named `poll`")
        );
    }
}
