//! Checks of `#[oslo::service]`: the arguments, the kind of item, and the signature of
//! every hook. What passes is handed to the expansion; what fails is reported at its
//! span and left out of it.

use proc_macro2::{Span, TokenStream};
use quote::ToTokens;
use syn::ext::IdentExt as _;
use syn::spanned::Spanned as _;
use syn::{FnArg, GenericParam, ItemImpl, ItemStruct, LitStr, Path, Safety, Signature, Type};

use super::parse::{Hook, ImplBlock, Input};
use super::tasks::{CheckedTask, check_tasks};
use crate::args::{self, Arg, Known};
use crate::diag::Errors;
use crate::tokens::{is_ref_self, return_type_span};

/// The attribute as the user writes it, for messages.
const ATTR: &str = "#[oslo::service]";

/// Arguments of `#[oslo::service]` on a struct. A new argument (such as
/// `periodic_interval_max`) is added here, read in [`check_struct`], and listed in
/// [`IMPL_ARGS`]`.misplaced`.
const STRUCT_ARGS: Known = Known {
    attr: ATTR,
    names: &[
        "crate",
        "name",
        "periodic_interval_max",
        "periodic_fuzzy_delay",
        "periodic_max_concurrent",
    ],
    misplaced: &[],
};

/// Arguments of `#[oslo::service]` on an impl block.
const IMPL_ARGS: Known = Known {
    attr: ATTR,
    names: &["crate"],
    misplaced: &[
        (
            "name",
            "`name` goes on the struct's #[oslo::service], not on its impl block",
        ),
        (
            "periodic_interval_max",
            "`periodic_interval_max` goes on the struct's #[oslo::service], not on its impl block",
        ),
        (
            "periodic_fuzzy_delay",
            "`periodic_fuzzy_delay` goes on the struct's #[oslo::service], not on its impl block",
        ),
        (
            "periodic_max_concurrent",
            "`periodic_max_concurrent` goes on the struct's #[oslo::service], not on its impl block",
        ),
    ],
};

/// What the expansion generates from.
pub(crate) enum Checked<'a> {
    /// A struct: implement `ServiceStruct`.
    Struct(ServiceStruct<'a>),
    /// An inherent impl block: implement `ServiceBase`.
    Impl(ServiceImpl<'a>),
    /// An item the attribute does not go on: emitted unchanged.
    Unchanged(TokenStream),
}

/// A checked service struct.
pub(crate) struct ServiceStruct<'a> {
    /// The struct, emitted unchanged.
    pub(crate) item: &'a ItemStruct,
    /// Where the runtime is.
    pub(crate) runtime: Path,
    /// The service name.
    pub(crate) name: LitStr,
    /// `periodic_interval_max`, in nanoseconds.
    pub(crate) periodic_interval_max: Option<u64>,
    /// `periodic_fuzzy_delay`, in nanoseconds.
    pub(crate) periodic_fuzzy_delay: Option<u64>,
    /// `periodic_max_concurrent`: the most tasks that run at once.
    pub(crate) periodic_max_concurrent: Option<usize>,
}

/// A checked impl block.
pub(crate) struct ServiceImpl<'a> {
    /// The block, emitted unchanged.
    pub(crate) item: &'a ItemImpl,
    /// Where the runtime is.
    pub(crate) runtime: Path,
    /// The hooks whose signature is right; the others fall back to the trait defaults.
    pub(crate) hooks: Vec<CheckedHook>,
    /// The periodic tasks whose attribute and signature are right, in definition order.
    pub(crate) tasks: Vec<CheckedTask>,
}

/// A hook whose signature is right.
pub(crate) struct CheckedHook {
    /// Which hook.
    pub(crate) hook: Hook,
    /// The user's return type, where a mismatch with `oslo::Result<()>` is reported.
    pub(crate) output: Span,
    /// The type of the user's context argument, where a mismatch with `&Context` is
    /// reported.
    pub(crate) context: Span,
}

/// Checks the input, recording every mistake in `errors`.
pub(crate) fn validate<'a>(args: &[Arg], input: &'a Input, errors: &mut Errors) -> Checked<'a> {
    match input {
        Input::Struct(item) => Checked::Struct(check_struct(args, item, errors)),
        Input::Impl(block) => match &block.item.trait_ {
            Some((trait_path, _)) => {
                errors.at(
                    trait_path,
                    format!(
                        "{ATTR} goes on an inherent impl block (`impl MyService {{ .. }}`), not on a trait impl"
                    ),
                );
                Checked::Unchanged(block.item.to_token_stream())
            }
            None => Checked::Impl(check_impl(args, block, errors)),
        },
        Input::Other(other) => {
            errors.at(
                &other.head,
                format!(
                    "{ATTR} goes on a struct and on its impl block, not on {}",
                    other.what
                ),
            );
            Checked::Unchanged(other.item.to_token_stream())
        }
    }
}

fn check_struct<'a>(args: &[Arg], item: &'a ItemStruct, errors: &mut Errors) -> ServiceStruct<'a> {
    let mut runtime = None;
    let mut name = None;
    let mut periodic_interval_max = None;
    let mut periodic_fuzzy_delay = None;
    let mut periodic_max_concurrent = None;
    args::read(
        args,
        &STRUCT_ARGS,
        errors,
        |arg_name, arg, errors| match arg_name {
            "crate" => runtime = args::crate_path(arg, errors),
            "name" => name = service_name(arg, errors),
            "periodic_interval_max" => periodic_interval_max = args::duration(arg, errors),
            "periodic_fuzzy_delay" => periodic_fuzzy_delay = args::duration(arg, errors),
            "periodic_max_concurrent" => periodic_max_concurrent = max_concurrent(arg, errors),
            other => unreachable!("argument `{other}` is in STRUCT_ARGS but not read"),
        },
    );
    ServiceStruct {
        item,
        runtime: args::runtime_path(runtime),
        name: name
            .unwrap_or_else(|| LitStr::new(&item.ident.unraw().to_string(), item.ident.span())),
        periodic_interval_max,
        periodic_fuzzy_delay,
        periodic_max_concurrent,
    }
}

/// `periodic_max_concurrent = N`: an integer from 1 to 1024.
fn max_concurrent(arg: &Arg, errors: &mut Errors) -> Option<usize> {
    let expected = "`periodic_max_concurrent` takes a number of tasks from 1 to 1024";
    let Some((_, value)) = &arg.value else {
        errors.at(&arg.name, expected);
        return None;
    };
    match value {
        syn::Expr::Lit(syn::ExprLit {
            lit: syn::Lit::Int(int),
            ..
        }) => match int.base10_parse::<usize>() {
            Ok(most @ 1..=1024) => Some(most),
            _ => {
                errors.at(value, expected);
                None
            }
        },
        _ => {
            errors.at(value, expected);
            None
        }
    }
}

fn service_name(arg: &Arg, errors: &mut Errors) -> Option<LitStr> {
    let name = args::string(arg, errors)?;
    if name.value().trim().is_empty() {
        errors.at(name, "`name` must not be empty");
        return None;
    }
    Some(name.clone())
}

fn check_impl<'a>(args: &[Arg], block: &'a ImplBlock, errors: &mut Errors) -> ServiceImpl<'a> {
    let mut runtime = None;
    args::read(
        args,
        &IMPL_ARGS,
        errors,
        |arg_name, arg, errors| match arg_name {
            "crate" => runtime = args::crate_path(arg, errors),
            other => unreachable!("argument `{other}` is in IMPL_ARGS but not read"),
        },
    );
    let hooks = block
        .methods
        .iter()
        .filter_map(|method| check_hook(method.hook?, &method.sig, errors))
        .collect();
    ServiceImpl {
        item: &block.item,
        runtime: args::runtime_path(runtime),
        hooks,
        tasks: check_tasks(&block.methods, errors),
    }
}

/// Checks that `sig` reads `async fn NAME(&self, cx: &Context) -> oslo::Result<()>`
/// (any pattern for the context, lifetimes allowed).
fn check_hook(hook: Hook, sig: &Signature, errors: &mut Errors) -> Option<CheckedHook> {
    let name = hook.name();
    let expected =
        format!("expected `async fn {name}(&self, cx: &oslo::Context) -> oslo::Result<()>`");
    let mut found = Errors::new();
    let parens = sig.paren_token.span;

    if sig.asyncness.is_none() {
        found.at(
            sig.fn_token,
            format!("hook `{name}` is not async; {expected}"),
        );
    }
    if let Safety::Unsafe(token) = &sig.safety {
        found.at(
            token,
            format!("hook `{name}` must not be unsafe; {expected}"),
        );
    }
    if sig
        .generics
        .params
        .iter()
        .any(|param| !matches!(param, GenericParam::Lifetime(_)))
    {
        found.at(
            &sig.generics,
            format!("hook `{name}` must not have generic parameters; {expected}"),
        );
    }

    let mut inputs = sig.inputs.iter().peekable();
    match inputs.peek() {
        Some(FnArg::Receiver(receiver)) => {
            if !is_ref_self(receiver) {
                found.at(
                    receiver,
                    format!("hook `{name}` must take `&self`; {expected}"),
                );
            }
            inputs.next();
        }
        Some(first) => found.at(
            first,
            format!("hook `{name}` must take `&self` before the context; {expected}"),
        ),
        None => found.range(
            parens.open(),
            parens.close(),
            format!("hook `{name}` takes `&self` and the context; {expected}"),
        ),
    }
    let rest: Vec<&FnArg> = inputs.collect();
    let mut context = None;
    match rest.first() {
        Some(FnArg::Typed(arg)) => match &*arg.ty {
            Type::Reference(reference) if reference.mutability.is_none() => {
                context = Some(arg.ty.span());
            }
            _ => found.at(
                &arg.ty,
                format!("the context of hook `{name}` must be a reference; {expected}"),
            ),
        },
        Some(other) => found.at(
            other,
            format!("hook `{name}` takes the context after `&self`; {expected}"),
        ),
        None if sig.inputs.is_empty() => {}
        None => found.range(
            parens.open(),
            parens.close(),
            format!("hook `{name}` is missing the context argument; {expected}"),
        ),
    }
    if rest.len() > 1 {
        found.between(
            rest[1],
            rest[rest.len() - 1],
            format!("hook `{name}` takes only `&self` and the context; {expected}"),
        );
    }

    let output = return_type_span(
        sig,
        &mut found,
        format!("hook `{name}` has no return type; {expected}"),
    );

    if !found.is_empty() {
        errors.append(found);
        return None;
    }
    Some(CheckedHook {
        hook,
        output: output?,
        context: context?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::messages;
    use crate::service::parse;
    use quote::quote;

    /// The hooks kept and the messages.
    fn check(methods: TokenStream) -> (Vec<Hook>, Vec<String>) {
        let input = parse::item(quote!(impl S { #methods })).unwrap();
        let mut errors = Errors::new();
        let Checked::Impl(checked) = validate(&[], &input, &mut errors) else {
            panic!("not an impl")
        };
        let kept = checked.hooks.iter().map(|h| h.hook).collect();
        (
            kept,
            errors
                .into_error()
                .map(|e| messages(&e))
                .unwrap_or_default(),
        )
    }

    /// The messages about one method, checking that a hook is kept exactly when it
    /// passes.
    fn hook_errors(method: TokenStream) -> Vec<String> {
        let (kept, found) = check(method);
        assert_eq!(kept.is_empty(), !found.is_empty());
        found
    }

    const START: &str = "expected `async fn start(&self, cx: &oslo::Context) -> oslo::Result<()>`";

    #[test]
    fn accepts_right_hooks() {
        for method in [
            quote!(
                async fn start(&self, cx: &Context) -> oslo::Result<()> {
                    Ok(())
                }
            ),
            quote!(
                pub async fn start(&self, _: &oslo::Context) -> Result<()> {
                    Ok(())
                }
            ),
            quote!(
                async fn start<'a>(&'a self, cx: &'a Context) -> Result<()> {
                    Ok(())
                }
            ),
            quote!(
                async fn start(self: &Self, _cx: &Context) -> Result<()> {
                    Ok(())
                }
            ),
        ] {
            assert!(hook_errors(method).is_empty());
        }
        assert_eq!(
            check(quote!(
                fn not_a_hook(self) {}
            )),
            (vec![], vec![])
        );
    }

    #[test]
    fn reports_each_fault() {
        let cases = [
            (
                quote!(
                    fn start(&self, cx: &Context) -> R {}
                ),
                "hook `start` is not async",
            ),
            (
                quote!(
                    async unsafe fn start(&self, cx: &Context) -> R {}
                ),
                "hook `start` must not be unsafe",
            ),
            (
                quote!(
                    async fn start<T>(&self, cx: &Context) -> R {}
                ),
                "hook `start` must not have generic parameters",
            ),
            (
                quote!(
                    async fn start(&mut self, cx: &Context) -> R {}
                ),
                "hook `start` must take `&self`",
            ),
            (
                quote!(
                    async fn start(self, cx: &Context) -> R {}
                ),
                "hook `start` must take `&self`",
            ),
            (
                quote!(
                    async fn start(self: Box<Self>, cx: &Context) -> R {}
                ),
                "hook `start` must take `&self`",
            ),
            (
                quote!(
                    async fn start(cx: &Context) -> R {}
                ),
                "hook `start` must take `&self` before the context",
            ),
            (
                quote!(
                    async fn start() -> R {}
                ),
                "hook `start` takes `&self` and the context",
            ),
            (
                quote!(
                    async fn start(&self) -> R {}
                ),
                "hook `start` is missing the context argument",
            ),
            (
                quote!(
                    async fn start(&self, cx: Context) -> R {}
                ),
                "the context of hook `start` must be a reference",
            ),
            (
                quote!(
                    async fn start(&self, cx: &mut Context) -> R {}
                ),
                "the context of hook `start` must be a reference",
            ),
            (
                quote!(
                    async fn start(&self, cx: &Context, n: u8, m: u8) -> R {}
                ),
                "hook `start` takes only `&self` and the context",
            ),
            (
                quote!(
                    async fn start(&self, cx: &Context) {}
                ),
                "hook `start` has no return type",
            ),
        ];
        for (method, message) in cases {
            assert_eq!(hook_errors(method), [format!("{message}; {START}")]);
        }
    }

    #[test]
    fn reports_every_broken_hook() {
        let (kept, found) = check(quote! {
            fn start(&mut self) {}
            async fn stop(&self, cx: &Context) -> R {}
            async fn reset(&self, cx: &Context) {}
        });
        assert_eq!(kept, [Hook::Stop]);
        assert_eq!(found.len(), 5, "{found:?}");
        assert!(found[0].starts_with("hook `start` is not async"));
        assert!(found[1].starts_with("hook `start` must take `&self`"));
        assert!(found[2].starts_with("hook `start` is missing the context argument"));
        assert!(found[3].starts_with("hook `start` has no return type"));
        assert!(found[4].starts_with("hook `reset` has no return type"));
    }
}
