//! A task setting taken from an option: `#[periodic_task(spacing = Opts::interval)]`
//! and `enabled = Opts::switch`. The option is read when the task is scheduled and
//! again after every reload, so a SIGHUP changes how often a task runs, or whether it
//! runs, without a restart.

use std::fmt;
use std::sync::Arc;

use crate::config::{Config, OptionGroup};
use crate::error::Result;

type Read<T> = Arc<dyn Fn(&Config) -> Result<T> + Send + Sync>;

/// One option of a group of options, read as a `T` from the configuration in force.
///
/// ```
/// use std::time::Duration;
/// use oslo::periodic::OptionRef;
///
/// /// The poller's options.
/// #[oslo::options(group = "poller")]
/// struct PollerOpts {
///     /// Time between two polls.
///     #[opt(default = "30s", mutable)]
///     interval: Duration,
/// }
///
/// let interval = OptionRef::new("interval", |opts: &PollerOpts| opts.interval);
/// assert_eq!(interval.to_string(), "[poller] interval");
/// let conf = oslo::Config::default();
/// assert_eq!(interval.read(&conf)?, Duration::from_secs(30));
/// # Ok::<(), oslo::Error>(())
/// ```
pub struct OptionRef<T> {
    group: &'static str,
    option: &'static str,
    read: Read<T>,
}

impl<T: 'static> OptionRef<T> {
    /// Option `option` of group `G`, whose value `field` picks out of the group.
    /// `option` names it in logs and in the console; `#[periodic_task]` passes the
    /// field's name, which is the option's.
    pub fn new<G: OptionGroup>(option: &'static str, field: fn(&G) -> T) -> Self {
        OptionRef {
            group: G::GROUP,
            option,
            read: Arc::new(move |conf: &Config| Ok(field(&*conf.group::<G>()?))),
        }
    }

    /// Its value in `conf` now. Fails when the group does not load, or is not
    /// registered with the program.
    pub fn read(&self, conf: &Config) -> Result<T> {
        (self.read)(conf)
    }

    /// The group.
    pub fn group(&self) -> &'static str {
        self.group
    }

    /// The option.
    pub fn option(&self) -> &'static str {
        self.option
    }
}

impl<T> Clone for OptionRef<T> {
    fn clone(&self) -> Self {
        OptionRef {
            group: self.group,
            option: self.option,
            read: Arc::clone(&self.read),
        }
    }
}

/// `[group] option`, as the sample config and the messages about options write it.
impl<T> fmt::Display for OptionRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "[{}] {}", self.group, self.option)
    }
}

impl<T> fmt::Debug for OptionRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OptionRef({self})")
    }
}

/// Two references are equal when they name the same option.
impl<T> PartialEq for OptionRef<T> {
    fn eq(&self, other: &Self) -> bool {
        self.group == other.group && self.option == other.option
    }
}

impl<T> Eq for OptionRef<T> {}
