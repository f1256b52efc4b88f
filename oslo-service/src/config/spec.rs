//! What `#[oslo::options]` declares: the metadata of each option ([`OptionSpec`]) and
//! the trait of a group of options ([`OptionGroup`]), which loading, validation,
//! `mutate`, `log_options` and the sample generator all read.

use super::{ConfigError, Snapshot};

/// The kind of an option, as oslo.config names its option classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum OptionType {
    /// A string (`StrOpt`), possibly limited to choices.
    String,
    /// An integer (`IntOpt`), possibly with bounds.
    Integer,
    /// A TCP/UDP port (`PortOpt`): an integer from 0 to 65535.
    Port,
    /// A floating point number (`FloatOpt`).
    Float,
    /// A boolean (`BoolOpt`).
    Boolean,
    /// A duration: `"30s"`, `"1m30s"`, `"250ms"` or a number of seconds.
    Duration,
    /// A comma-separated list (`ListOpt`).
    List,
    /// `key:value` pairs separated by commas (`DictOpt`).
    Dict,
    /// A string given once per line, the key repeated (`MultiStrOpt`).
    MultiString,
    /// A type of the user's, read by its [`OptionValue`](super::OptionValue) impl.
    Custom,
}

/// A bound of an integer, port or float option.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Bound {
    /// For integers and ports.
    Int(i128),
    /// For floats.
    Float(f64),
}

impl std::fmt::Display for Bound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bound::Int(n) => write!(f, "{n}"),
            Bound::Float(x) => write!(f, "{x:?}"),
        }
    }
}

/// An older name of an option, still read (with a warning) when the new one is unset.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeprecatedName {
    /// The group it was in; `None` for the option's own group.
    pub group: Option<&'static str>,
    /// The name it had; `None` for the option's own name.
    pub name: Option<&'static str>,
}

/// The declaration of one option: everything the loader, the sample generator and
/// `log_options` need to know about it. `#[oslo::options]` makes one per field.
#[derive(Clone, Copy, Debug, PartialEq)]
#[non_exhaustive]
pub struct OptionSpec {
    /// The option's name, as written in files.
    pub name: &'static str,
    /// The group (INI section) it belongs to.
    pub group: &'static str,
    /// The namespace the sample generator lists it under.
    pub namespace: &'static str,
    /// Its kind.
    pub kind: OptionType,
    /// Its type as the sample file says it: `integer`, `string`, `list`…
    pub type_name: &'static str,
    /// The default as a file would write it: one text, or one per line for a
    /// multi-valued option; empty when the option has no default.
    pub default: &'static [&'static str],
    /// The help text, from the field's doc comment (paragraphs separated by `\n`).
    pub help: &'static str,
    /// The smallest value accepted.
    pub min: Option<Bound>,
    /// The largest value accepted.
    pub max: Option<Bound>,
    /// The only values accepted, when not empty.
    pub choices: &'static [&'static str],
    /// What each of `choices` means, at the same index: the sample config's
    /// `# fast - Skip the checks.`. Empty, shorter, or an empty text, means no
    /// description for that choice. From the type's
    /// [`OptionValue::CHOICE_HELP`](super::OptionValue::CHOICE_HELP).
    pub choice_help: &'static [&'static str],
    /// Older names still read.
    pub deprecated: &'static [DeprecatedName],
    /// The value is masked (`****`) in logs.
    pub secret: bool,
    /// A `mutate` reload applies a new value; otherwise the old one is kept.
    pub mutable: bool,
    /// Starting without a value is an error.
    pub required: bool,
    /// Also a command-line flag (`--name`, or `--group-name` outside `[DEFAULT]`) that
    /// wins over the files.
    pub cli: bool,
}

/// The [`OptionSpec`] of one field, as `#[oslo::options]` declares it: its only maker
/// outside this crate.
#[allow(
    clippy::too_many_arguments,
    reason = "one argument per declared attribute"
)]
pub const fn option_spec(
    name: &'static str,
    group: &'static str,
    namespace: &'static str,
    (kind, type_name): (OptionType, &'static str),
    default: &'static [&'static str],
    help: &'static str,
    (min, max): (Option<Bound>, Option<Bound>),
    (choices, choice_help): (&'static [&'static str], &'static [&'static str]),
    deprecated: &'static [DeprecatedName],
    (secret, mutable, required, cli): (bool, bool, bool, bool),
) -> OptionSpec {
    OptionSpec {
        name,
        group,
        namespace,
        kind,
        type_name,
        default,
        help,
        min,
        max,
        choices,
        choice_help,
        deprecated,
        secret,
        mutable,
        required,
        cli,
    }
}

impl OptionSpec {
    /// The default as one line of text (multi-valued defaults joined with `, `), or
    /// `None` when there is none.
    pub fn default_text(&self) -> Option<String> {
        (!self.default.is_empty()).then(|| self.default.join(", "))
    }

    /// The command-line flag of a `cli` option: `--name` in `[DEFAULT]`, `--group-name`
    /// elsewhere, `_` written `-`.
    pub fn flag(&self) -> String {
        let name = if self.group == super::DEFAULT_GROUP {
            self.name.to_owned()
        } else {
            format!("{}-{}", self.group, self.name)
        };
        format!("--{}", name.replace('_', "-"))
    }

    /// `group.name`, as messages name an option.
    pub fn qualified_name(&self) -> String {
        format!("{}.{}", self.group, self.name)
    }
}

/// A group of options declared by `#[oslo::options(group = "…")]` on a struct: its
/// metadata and how to read it, typed, from a snapshot.
///
/// ```
/// use std::time::Duration;
/// use oslo::config::{OptionGroup, Snapshot};
///
/// /// Options of the poller.
/// #[oslo::options(group = "poller")]
/// struct PollerOpts {
///     /// Time between two polls.
///     #[opt(default = "30s", mutable)]
///     interval: Duration,
///     /// Upstream endpoints.
///     #[opt(default = ["http://127.0.0.1:8080"])]
///     endpoints: Vec<String>,
/// }
///
/// let snapshot = Snapshot::from_ini("[poller]\ninterval = 1m\n", None)?;
/// let opts = PollerOpts::from_snapshot(&snapshot)?;
/// assert_eq!(opts.interval, Duration::from_secs(60));
/// assert_eq!(opts.endpoints, ["http://127.0.0.1:8080"]);
/// assert_eq!(PollerOpts::GROUP, "poller");
/// assert_eq!(PollerOpts::options()[0].help, "Time between two polls.");
/// # Ok::<(), oslo::config::ConfigError>(())
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a group of options",
    label = "not declared with #[oslo::options]",
    note = "declare it with `#[oslo::options(group = \"...\")]` on the struct"
)]
pub trait OptionGroup: Sized + Send + Sync + 'static {
    /// The group (INI section); `DEFAULT` for options outside any section.
    const GROUP: &'static str;
    /// The namespace the sample generator lists the group under (by default the
    /// declaring crate's name).
    const NAMESPACE: &'static str;
    /// The options, in declaration order.
    fn options() -> &'static [OptionSpec];
    /// Reads and checks every option of the group; unset options take their default.
    fn from_snapshot(snapshot: &Snapshot) -> Result<Self, ConfigError>;
    /// The values option `option` takes when it is an `#[opt(serde)]` enum (as serde
    /// names them), for the sample config; empty otherwise. `#[oslo::options]`
    /// provides it.
    fn serde_choices(option: &str) -> &'static [&'static str] {
        let _ = option;
        &[]
    }
}

/// A group of options as a value: what `#[oslo::main(options = [A, B])]` registers and
/// the configuration keeps, to validate, mutate, log and describe its options.
#[derive(Clone, Copy, Debug)]
pub struct GroupInfo {
    /// The group (INI section).
    pub group: &'static str,
    /// The namespace it is listed under.
    pub namespace: &'static str,
    /// Its options.
    pub options: fn() -> &'static [OptionSpec],
    /// Reads it from a snapshot, only to check that every value is good.
    pub check: fn(&Snapshot) -> Result<(), ConfigError>,
    /// Which Rust type declares it: what `Config::group` looks for.
    type_id: fn() -> std::any::TypeId,
    /// `OptionGroup::serde_choices` of that type.
    serde_choices: fn(&str) -> &'static [&'static str],
}

impl GroupInfo {
    /// The description of `T`.
    pub const fn of<T: OptionGroup>() -> Self {
        GroupInfo {
            group: T::GROUP,
            namespace: T::NAMESPACE,
            options: T::options,
            check: check_group::<T>,
            type_id: std::any::TypeId::of::<T>,
            serde_choices: T::serde_choices,
        }
    }

    /// The values `spec`, one of this group's options, takes, each with its description
    /// (empty when it has none): its declared `choices`, or a serde enum's variants.
    pub(crate) fn choices_of(
        &self,
        spec: &OptionSpec,
    ) -> impl Iterator<Item = (&'static str, &'static str)> + use<> {
        let (choices, help) = if spec.choices.is_empty() {
            ((self.serde_choices)(spec.name), &[][..])
        } else {
            (spec.choices, spec.choice_help)
        };
        choices
            .iter()
            .enumerate()
            .map(move |(index, choice)| (*choice, help.get(index).copied().unwrap_or_default()))
    }

    /// Whether this describes the group `T` declares.
    pub(crate) fn declared_by<T: OptionGroup>(&self) -> bool {
        (self.type_id)() == std::any::TypeId::of::<T>()
    }

    /// Whether both describe the same group of the same namespace.
    pub(crate) fn same_as(&self, other: &GroupInfo) -> bool {
        self.group == other.group && self.namespace == other.namespace
    }
}

/// Reads the group into the snapshot's cache, so that later reads of the same snapshot
/// (and their deprecation warnings) do not happen again.
fn check_group<T: OptionGroup>(snapshot: &Snapshot) -> Result<(), ConfigError> {
    snapshot.group::<T>().map(drop)
}
