use super::*;
use crate::diag::messages;
use quote::quote;

fn run(args: TokenStream, item: TokenStream) -> Result<String, Vec<String>> {
    attribute(args, item)
        .map(|tokens| tokens.to_string())
        .map_err(|failed| messages(failed.errors()))
}

fn errors(field: TokenStream) -> Vec<String> {
    run(quote!(group = "g"), quote!(struct S { #field }))
        .err()
        .unwrap_or_default()
}

#[test]
fn expands_specs_and_reads() {
    let out = run(
        quote!(group = "poller", namespace = "ns"),
        quote! {
            struct PollerOpts {
                /// Time between polls.
                #[opt(default = "30s", mutable, deprecated_name = "poll_interval", deprecated_group = "DEFAULT")]
                interval: Duration,
                /// Port.
                #[opt(default = 8080, min = 1024)]
                port: Port,
                /// Endpoints.
                #[opt(default = ["a", "b"])]
                endpoints: Vec<String>,
                /// Ratio.
                #[opt(default = 0.5, max = 1)]
                ratio: f64,
                /// Mode.
                mode: Option<Mode>,
            }
        },
    )
    .unwrap();
    assert!(
        out.contains("impl :: oslo :: config :: OptionGroup for PollerOpts"),
        "{out}"
    );
    assert!(
        out.contains("const GROUP : & 'static str = \"poller\""),
        "{out}"
    );
    assert!(
        out.contains(":: oslo :: __private :: option_spec (\"interval\" , \"poller\" , \"ns\""),
        "{out}"
    );
    assert!(out.contains("& [\"30s\"]"), "{out}");
    // secret, mutable, required, cli
    assert!(out.contains("(false , true , false , false)"), "{out}");
    assert!(out.contains("group : :: core :: option :: Option :: Some (\"DEFAULT\") , name : :: core :: option :: Option :: Some (\"poll_interval\")"), "{out}");
    assert!(
        out.contains(
            "(:: core :: option :: Option :: Some (:: oslo :: config :: Bound :: Int (1024)) , :: core :: option :: Option :: Some (:: oslo :: config :: Bound :: Int (65535)))"
        ),
        "{out}"
    );
    assert!(
        out.contains(":: oslo :: config :: OptionType :: Port , \"port\""),
        "{out}"
    );
    assert!(out.contains("& [\"a,b\"]"), "{out}");
    assert!(out.contains("Bound :: Float (1.0)"), "{out}");
    assert!(
        out.contains(
            "(< Mode as :: oslo :: config :: OptionValue > :: CHOICES , < Mode as :: oslo :: config :: OptionValue > :: CHOICE_HELP ,)"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "errors . keep (:: oslo :: __private :: read_option :: < Option < Mode > > (snapshot , & options [4usize]))"
        ),
        "{out}"
    );
    assert!(!out.contains("# [opt"), "{out}");
}

#[test]
fn the_impl_carries_the_structs_cfg() {
    let out = run(
        quote!(group = "g"),
        quote! {
            #[cfg(feature = "extra")]
            struct S {
                /// A port.
                #[opt(default = 1)]
                port: u16,
            }
        },
    )
    .unwrap();
    assert_eq!(
        out.matches("# [cfg (feature = \"extra\")]").count(),
        2,
        "{out}"
    );
    let impl_at = out.find("impl :: oslo :: config :: OptionGroup").unwrap();
    assert!(
        out[..impl_at]
            .trim_end()
            .ends_with("# [automatically_derived]"),
        "{out}"
    );
    assert!(
        out[..impl_at].contains("# [cfg (feature = \"extra\")] # [automatically_derived]"),
        "{out}"
    );
}

#[test]
fn namespace_defaults_to_the_crate_name() {
    let out = run(
        quote!(group = "DEFAULT", crate = "crate"),
        quote!(
            struct S {
                /// Help.
                #[opt(default = true)]
                flag: bool,
            }
        ),
    )
    .unwrap();
    assert!(out.contains("CARGO_PKG_NAME"), "{out}");
    assert!(
        out.contains("impl crate :: config :: OptionGroup for S"),
        "{out}"
    );
}

#[test]
fn a_number_type_an_option_cannot_have_names_the_one_to_use() {
    assert_eq!(
        errors(quote!(/// F.
            #[opt(default = 0.5)] f: f32)),
        ["`f32` options are not supported: use `f64`"]
    );
    assert_eq!(
        errors(quote!(/// F.
            f: Vec<f32>)),
        ["`f32` options are not supported: use `f64`"]
    );
    assert_eq!(
        errors(quote!(/// N.
            #[opt(default = 1)] n: u128)),
        ["`u128` options are not supported: use `u64`"]
    );
    assert_eq!(
        errors(quote!(/// N.
            n: Option<std::num::NonZeroU32>)),
        ["`NonZeroU32` options are not supported: use `u32` with `min = 1`"]
    );
    assert_eq!(
        errors(quote!(/// S.
            #[opt(default = "a")] s: &'static str)),
        ["`&str` options are not supported: use `String`"]
    );
    for int in [
        quote!(i8),
        quote!(u8),
        quote!(i16),
        quote!(u16),
        quote!(u32),
        quote!(usize),
    ] {
        assert_eq!(
            errors(quote!(/// N.
            #[opt(default = 1)] n: #int)),
            Vec::<String>::new()
        );
    }
}

#[test]
fn defaults_are_checked_against_types_and_bounds() {
    assert_eq!(
        errors(quote!(/// P.
            #[opt(default = 70000)] port: u16)),
        ["`70000` is out of range for u16 (0 to 65535)"]
    );
    assert_eq!(
        errors(quote!(/// P.
            #[opt(default = 5, min = 10)] n: u32)),
        ["the default is below the minimum 10"]
    );
    assert_eq!(
        errors(quote!(/// P.
            #[opt(default = 1, min = 10, max = 5)] n: i32)),
        [
            "`min` is greater than `max`",
            "the default is below the minimum 10"
        ]
    );
    assert!(
        errors(quote!(/// P.
            #[opt(default = "10 parsecs")] d: Duration))[0]
            .starts_with("`10 parsecs` is not a duration (unknown time unit \"parsecs\"")
    );
    assert_eq!(
        errors(quote!(/// P.
            #[opt(default = "1")] n: u32)),
        ["expected an integer literal (the option is a u32)"]
    );
    assert_eq!(
        errors(quote!(/// P.
            #[opt(default = "c", choices = ["a", "b"])] m: String)),
        ["`c` is not one of the choices: a, b"]
    );
    assert_eq!(
        errors(quote!(/// P.
            #[opt(default = "a", choices = ["a"])] m: u32))
        .len(),
        2
    );
    assert_eq!(
        errors(quote!(/// P.
            #[opt(default = "x")] m: BTreeMap<String, String>)),
        ["`x` is not a key:value pair; expected a string of key:value pairs: \"k1:v1,k2:v2\""]
    );
}

#[test]
fn field_shapes_and_arguments() {
    assert_eq!(
        errors(quote!(n: u32)),
        [
            "option `n` needs a doc comment (`/// ...`): it is the option's help in the sample config",
            "option `n` needs a default: `#[opt(default = ...)]`, or `#[opt(required)]`, or an `Option<...>` type for an option that may be unset",
        ]
    );
    assert!(
        errors(quote!(/// P.
        #[opt(bogus)] n: Option<u32>))[0]
            .starts_with("unknown argument `bogus` of #[opt]")
    );
    assert_eq!(
        errors(quote!(/// P.
            #[opt(secret, secret)] n: Option<u32>)),
        ["duplicate argument `secret` of #[opt]"]
    );
    assert_eq!(
        errors(quote!(/// P.
            #[opt(multi)] n: Vec<u32>)),
        ["`multi` goes on a `Vec<String>` field: each repeated key gives one value"]
    );
    assert_eq!(
        errors(quote!(/// P.
            x: (u32, u32)))
        .len(),
        1
    );
    assert_eq!(
        errors(quote!(/// P.
            x: HashMap<String, String>)),
        ["a dict option is a `BTreeMap<String, String>`"]
    );
    assert_eq!(
        errors(quote!(/// P.
            #[opt(required, default = 1)] n: u32)),
        ["a `required` option has no default: remove `default` or `required`"]
    );
}

#[test]
fn struct_arguments_and_shapes() {
    assert_eq!(
        run(
            quote!(),
            quote!(
                struct S {}
            )
        )
        .unwrap_err(),
        [
            "#[oslo::options] needs the group of the options: `#[oslo::options(group = \"...\")]` (\"DEFAULT\" for options outside any section)"
        ]
    );
    assert_eq!(
        run(
            quote!(group = "a b"),
            quote!(
                struct S {}
            )
        )
        .unwrap_err(),
        [
            "`a b` is not a group name: a section name such as \"poller\", without brackets, dots or spaces"
        ]
    );
    assert_eq!(
        run(
            quote!(group = "g"),
            quote!(
                struct S(u32);
            )
        )
        .unwrap_err(),
        ["#[oslo::options] needs a struct with named fields, one per option"]
    );
    assert_eq!(
        run(
            quote!(group = "g"),
            quote!(
                enum E {
                    A,
                }
            )
        )
        .unwrap_err(),
        ["#[oslo::options] goes on a struct with one field per option, not on an enum"]
    );
    let failed = attribute(
        quote!(group = "g"),
        quote!(
            struct S {
                #[opt(bogus)]
                n: u32,
            }
        ),
    )
    .err()
    .unwrap()
    .into_compile_error()
    .to_string();
    assert!(failed.starts_with("struct S { n : u32"), "{failed}");
}
