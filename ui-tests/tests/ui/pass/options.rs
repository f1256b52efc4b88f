//! Every kind of option, registered with the entry macro.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use oslo::config::{OptionGroup, OptionValue, Port};

/// A choice of the user's.
#[derive(Debug, PartialEq)]
pub enum Mode {
    /// Fast.
    Fast,
    /// Safe.
    Safe,
}

impl OptionValue for Mode {
    const CHOICES: &'static [&'static str] = &["fast", "safe"];
    fn parse_option(text: &str) -> Result<Self, String> {
        match text {
            "fast" => Ok(Mode::Fast),
            "safe" => Ok(Mode::Safe),
            other => Err(format!("unknown mode {other}")),
        }
    }
}

/// The poller's options.
#[oslo::options(group = "poller", namespace = "poller")]
pub struct PollerOpts {
    /// Time between polls.
    #[opt(default = "30s", mutable, deprecated_name = "poll_interval", deprecated_group = "DEFAULT")]
    pub interval: Duration,
    /// Time before giving up.
    #[opt(default = 10)]
    pub timeout: Duration,
    /// Upstream endpoints.
    #[opt(default = ["http://127.0.0.1:8080"])]
    pub endpoints: Vec<String>,
    /// Ports.
    #[opt(default = [80, 443])]
    pub ports: Vec<Port>,
    /// Labels.
    #[opt(default = "zone:a,rack:1")]
    pub labels: BTreeMap<String, String>,
    /// Extra headers, one per line.
    #[opt(multi)]
    pub headers: Vec<String>,
    /// Retries.
    #[opt(default = -1, min = -1, max = 10)]
    pub retries: i32,
    /// Backoff factor.
    #[opt(default = 1.5, min = 1, max = 10.0)]
    pub backoff: f64,
    /// Port of the status page.
    #[opt(default = 9000)]
    pub status_port: Port,
    /// Verbose.
    #[opt(default = false)]
    pub verbose: bool,
    /// Mode.
    #[opt(default = "safe")]
    pub mode: Mode,
    /// Flavour.
    #[opt(default = "plain", choices = ["plain", "fancy"])]
    pub flavour: String,
    /// API token.
    #[opt(secret)]
    pub token: Option<String>,
    /// State directory.
    #[opt(default = "/var/lib/poller")]
    pub state_dir: PathBuf,
}

#[oslo::main(options = [PollerOpts])]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let poller = conf.group::<PollerOpts>()?;
    assert_eq!(poller.interval, Duration::from_secs(30));
    assert_eq!(PollerOpts::options().len(), 14);
    Ok(())
}
