//! Checks of `#[oslo::main]`: the arguments and the signature.

use proc_macro2::Span;
use syn::spanned::Spanned as _;
use syn::{Expr, FnArg, ItemFn, Lit, LitInt, LitStr, Path, Safety, Type, TypePath};

use super::parse::Input;
use crate::args::{self, Arg, Known};
use crate::diag::Errors;
use crate::tokens::return_type_span;

/// Arguments of `#[oslo::main]`. A new argument (such as `options = [A, B]`) is added
/// here and read in [`validate`].
const MAIN_ARGS: Known = Known {
    attr: "#[oslo::main]",
    names: &[
        "crate",
        "options",
        "project",
        "cli",
        "flavor",
        "worker_threads",
    ],
    misplaced: &[],
};

/// The signature every message refers to.
const EXPECTED: &str = "expected `async fn main(conf: oslo::Config) -> oslo::Result<()>`";

/// What the expansion generates from.
pub(crate) struct Checked<'a> {
    /// The user's function.
    pub(crate) item: &'a ItemFn,
    /// Where the runtime is.
    pub(crate) runtime: Path,
    /// The groups of options of `options = [A, B]`.
    pub(crate) options: Vec<Type>,
    /// `project = "…"`: whose configuration files are searched for.
    pub(crate) project: Option<LitStr>,
    /// `cli = Args`: the program's own clap command, handed to `main` as its second
    /// argument.
    pub(crate) cli: Option<Type>,
    /// `flavor = "…"` and `worker_threads = N`, as checked.
    pub(crate) runtime_args: RuntimeArgs,
    /// Where type mismatches with `run_main` are reported, when the signature has the
    /// right shape; `None` when it does not, and the function must not be called.
    pub(crate) spans: Option<SignatureSpans>,
}

/// The tokio runtime the user asked for; what is left out follows the default sizing.
#[derive(Default)]
pub(crate) struct RuntimeArgs {
    /// `flavor = "current_thread"` or `"multi_thread"`.
    pub(crate) flavor: Option<Flavor>,
    /// `worker_threads = N`, N at least 1.
    pub(crate) worker_threads: Option<usize>,
}

/// The flavors of `flavor = "…"`, as tokio names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Flavor {
    CurrentThread,
    MultiThread,
}

/// Spans of the parts of a well-formed signature.
pub(crate) struct SignatureSpans {
    /// The type of the configuration argument.
    pub(crate) conf: Span,
    /// The return type.
    pub(crate) output: Span,
}

/// Checks the arguments and the signature, recording every mistake in `errors`.
pub(crate) fn validate<'a>(args: &[Arg], input: &'a Input, errors: &mut Errors) -> Checked<'a> {
    let mut runtime = None;
    let mut options = Vec::new();
    let mut flavor = None;
    let mut worker_threads = None;
    let mut project = None;
    let mut cli = None;
    args::read(args, &MAIN_ARGS, errors, |name, arg, errors| match name {
        "crate" => runtime = args::crate_path(arg, errors),
        "options" => options = option_groups(arg, errors),
        "project" => project = args::string(arg, errors).cloned(),
        "cli" => cli = cli_type(arg, errors),
        "flavor" => flavor = args::string(arg, errors).and_then(|lit| read_flavor(lit, errors)),
        "worker_threads" => worker_threads = thread_count(arg, errors),
        other => unreachable!("argument `{other}` is in MAIN_ARGS but not read"),
    });
    if let (Some(Flavor::CurrentThread), Some((_, count))) = (&flavor, &worker_threads) {
        errors.at(
            count,
            "`worker_threads` sizes a multi-threaded runtime; a `current_thread` runtime runs on the main thread alone: drop one of the two",
        );
    }
    Checked {
        item: &input.item,
        runtime: args::runtime_path(runtime),
        options,
        project,
        spans: check_signature(&input.item, cli.is_some(), errors),
        cli,
        runtime_args: RuntimeArgs {
            flavor,
            worker_threads: worker_threads.map(|(count, _)| count),
        },
    }
}

/// `cli = Args`: a type (path) deriving `clap::Parser`.
fn cli_type(arg: &Arg, errors: &mut Errors) -> Option<Type> {
    const EXPECTED: &str = "`cli` takes the type of the program's own clap Parser: `cli = Args`";
    let Some((_, value)) = &arg.value else {
        errors.at(&arg.name, EXPECTED);
        return None;
    };
    let found = path_type(value);
    if found.is_none() {
        errors.at(value, EXPECTED);
    }
    found
}

/// The type a plain path expression names (`Args`, `cli::Args`).
fn path_type(expr: &Expr) -> Option<Type> {
    match expr {
        Expr::Path(path) if path.qself.is_none() && path.attrs.is_empty() => {
            Some(Type::Path(TypePath {
                attrs: Vec::new(),
                qself: None,
                path: path.path.clone(),
            }))
        }
        _ => None,
    }
}

/// `flavor = "current_thread"` or `"multi_thread"`.
fn read_flavor(lit: &LitStr, errors: &mut Errors) -> Option<Flavor> {
    match lit.value().as_str() {
        "current_thread" => Some(Flavor::CurrentThread),
        "multi_thread" => Some(Flavor::MultiThread),
        other => {
            errors.at(
                lit,
                format!("unknown runtime flavor \"{other}\"; expected \"current_thread\" or \"multi_thread\""),
            );
            None
        }
    }
}

/// `worker_threads = N` with N a whole number of at least 1.
fn thread_count(arg: &Arg, errors: &mut Errors) -> Option<(usize, LitInt)> {
    const EXPECTED: &str =
        "`worker_threads` takes a whole number of threads, at least 1: `worker_threads = 4`";
    match &arg.value {
        Some((_, Expr::Lit(lit))) => match &lit.lit {
            Lit::Int(int) => match int.base10_parse::<usize>() {
                Ok(count @ 1..) => Some((count, int.clone())),
                _ => {
                    errors.at(int, EXPECTED);
                    None
                }
            },
            other => {
                errors.at(other, EXPECTED);
                None
            }
        },
        Some((_, other)) => {
            errors.at(other, EXPECTED);
            None
        }
        None => {
            errors.at(&arg.name, EXPECTED);
            None
        }
    }
}

/// `options = [A, path::B]`: the types of the program's groups of options.
fn option_groups(arg: &Arg, errors: &mut Errors) -> Vec<Type> {
    const EXPECTED: &str = "`options` takes an array of the types declared with #[oslo::options]: `options = [PollerOpts, ApiOpts]`";
    match &arg.value {
        Some((_, Expr::Array(array))) => array
            .elems
            .iter()
            .filter_map(|elem| {
                let found = path_type(elem);
                if found.is_none() {
                    errors.at(elem, EXPECTED);
                }
                found
            })
            .collect(),
        Some((_, other)) => {
            errors.at(other, EXPECTED);
            Vec::new()
        }
        None => {
            errors.at(&arg.name, EXPECTED);
            Vec::new()
        }
    }
}

fn check_signature(item: &ItemFn, with_cli: bool, errors: &mut Errors) -> Option<SignatureSpans> {
    let sig = &item.sig;
    let parens = sig.paren_token.span;
    let mut found = Errors::new();

    if sig.asyncness.is_none() {
        found.at(
            sig.fn_token,
            format!("#[oslo::main] needs an async fn; {EXPECTED}"),
        );
    }
    if let Safety::Unsafe(token) = &sig.safety {
        found.at(
            token,
            format!("#[oslo::main] does not take an unsafe fn; {EXPECTED}"),
        );
    }
    if !sig.generics.params.is_empty() {
        found.at(
            &sig.generics,
            format!("#[oslo::main] does not take generic parameters; {EXPECTED}"),
        );
    }
    let mut typed = Vec::new();
    for input in &sig.inputs {
        match input {
            FnArg::Receiver(receiver) => found.at(
                receiver,
                format!("#[oslo::main] goes on a free fn, without `self`; {EXPECTED}"),
            ),
            FnArg::Typed(arg) => typed.push(arg),
        }
    }
    const EXPECTED_CLI: &str = "with `cli = Args`, expected `async fn main(conf: oslo::Config, args: Args) -> oslo::Result<()>`";
    match (typed.as_slice(), with_cli) {
        ([], false) => found.range(
            parens.open(),
            parens.close(),
            format!("#[oslo::main] takes the configuration as its argument; {EXPECTED}"),
        ),
        ([_], false) | ([_, _], true) => {}
        ([_, extra @ ..], false) => found.between(
            extra[0],
            extra[extra.len() - 1],
            format!("#[oslo::main] takes only the configuration as argument; {EXPECTED}"),
        ),
        ([] | [_], true) => found.range(
            parens.open(),
            parens.close(),
            format!("#[oslo::main] takes the configuration and the program's arguments; {EXPECTED_CLI}"),
        ),
        ([_, _, extra @ ..], true) => found.between(
            extra[0],
            extra[extra.len() - 1],
            format!("#[oslo::main] takes only the configuration and the program's arguments; {EXPECTED_CLI}"),
        ),
    }
    let conf = typed.first().map(|arg| arg.ty.span());
    let output = return_type_span(
        sig,
        &mut found,
        format!("#[oslo::main] needs a return type; {EXPECTED}"),
    );

    if !found.is_empty() {
        errors.append(found);
        return None;
    }
    Some(SignatureSpans {
        conf: conf?,
        output: output?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diag::messages;
    use crate::entry::parse;
    use proc_macro2::TokenStream;
    use quote::quote;

    fn check(args: TokenStream, item: TokenStream) -> (bool, Vec<String>) {
        let args = args::parse(args).unwrap();
        let input = parse::item(item).unwrap();
        let mut errors = Errors::new();
        let checked = validate(&args, &input, &mut errors);
        let found = errors
            .into_error()
            .map(|e| messages(&e))
            .unwrap_or_default();
        (checked.spans.is_some(), found)
    }

    #[test]
    fn accepts_the_entry_point() {
        for item in [
            quote!(
                async fn main(conf: oslo::Config) -> oslo::Result<()> {
                    Ok(())
                }
            ),
            quote!(
                pub async fn run(_: Config) -> Result<()> {
                    Ok(())
                }
            ),
        ] {
            assert_eq!(check(quote!(), item), (true, vec![]));
        }
        assert_eq!(
            check(
                quote!(crate = "::my_oslo"),
                quote!(
                    async fn main(c: C) -> R {}
                )
            ),
            (true, vec![])
        );
    }

    #[test]
    fn reports_each_fault() {
        let cases = [
            (
                quote!(
                    fn main(c: C) -> R {}
                ),
                "#[oslo::main] needs an async fn",
            ),
            (
                quote!(
                    async unsafe fn main(c: C) -> R {}
                ),
                "#[oslo::main] does not take an unsafe fn",
            ),
            (
                quote!(
                    async fn main<T>(c: C) -> R {}
                ),
                "#[oslo::main] does not take generic parameters",
            ),
            (
                quote!(
                    async fn main(&self, c: C) -> R {}
                ),
                "#[oslo::main] goes on a free fn, without `self`",
            ),
            (
                quote!(
                    async fn main() -> R {}
                ),
                "#[oslo::main] takes the configuration as its argument",
            ),
            (
                quote!(
                    async fn main(c: C, d: D) -> R {}
                ),
                "#[oslo::main] takes only the configuration as argument",
            ),
            (
                quote!(
                    async fn main(c: C) {}
                ),
                "#[oslo::main] needs a return type",
            ),
        ];
        for (item, message) in cases {
            let (ok, found) = check(quote!(), item);
            assert!(!ok);
            assert_eq!(found, [format!("{message}; {EXPECTED}")]);
        }
    }

    #[test]
    fn reports_arguments_and_signature_together() {
        let (ok, found) = check(
            quote!(options = A, crate = "a b"),
            quote!(
                fn main() {}
            ),
        );
        assert!(!ok);
        assert_eq!(found.len(), 5, "{found:?}");
        assert_eq!(
            found[0],
            "`options` takes an array of the types declared with #[oslo::options]: `options = [PollerOpts, ApiOpts]`"
        );
    }
}
