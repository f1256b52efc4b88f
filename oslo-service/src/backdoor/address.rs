//! Where the console listens: `backdoor_port` (`0`, a port, or `start:end`) on
//! localhost, or `backdoor_socket` (a path where `{pid}` is this process's id).

use std::path::PathBuf;

use crate::config::{ConfigError, InvalidValue, Snapshot};

/// A parsed `backdoor_port`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PortRange {
    pub(crate) start: u16,
    pub(crate) end: u16,
}

/// Where to listen, from `[DEFAULT] backdoor_socket` and `backdoor_port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Address {
    Tcp(PortRange),
    Unix(PathBuf),
}

const FORMS: &str =
    "expected 0 (any free port), <port>, or <start>:<end> (the lowest free port of the range)";

/// Why a console asked for is refused by a build without one.
pub(crate) const WITHOUT_CONSOLE: &str =
    "this program was built without oslo-service's `console` feature";

impl Address {
    /// `None` when the console is off (neither option set). A build without the
    /// `console` feature refuses either option, naming the feature.
    pub(crate) fn read(snapshot: &Snapshot, pid: u32) -> Result<Option<Address>, ConfigError> {
        let without_console = |option: &str, value: &str| {
            InvalidValue::in_snapshot(
                snapshot,
                "DEFAULT",
                option,
                value,
                WITHOUT_CONSOLE.to_owned(),
            )
        };
        if let Some(path) = snapshot.get::<String>("DEFAULT", "backdoor_socket")? {
            if cfg!(not(feature = "console")) {
                return Err(without_console("backdoor_socket", &path));
            }
            return Ok(Some(Address::Unix(socket_path(&path, pid))));
        }
        let Some(port) = snapshot.get::<String>("DEFAULT", "backdoor_port")? else {
            return Ok(None);
        };
        if cfg!(not(feature = "console")) {
            return Err(without_console("backdoor_port", &port));
        }
        let range = parse_port(&port).ok_or_else(|| {
            InvalidValue::in_snapshot(
                snapshot,
                "DEFAULT",
                "backdoor_port",
                &port,
                FORMS.to_owned(),
            )
        })?;
        Ok(Some(Address::Tcp(range)))
    }
}

/// `0`, `N` or `N:M` with N <= M.
pub(crate) fn parse_port(text: &str) -> Option<PortRange> {
    let number = |text: &str| text.trim().parse::<u16>().ok();
    match text.split_once(':') {
        None => {
            let port = number(text)?;
            Some(PortRange {
                start: port,
                end: port,
            })
        }
        Some((start, end)) => {
            let (start, end) = (number(start)?, number(end)?);
            (start <= end && start > 0).then_some(PortRange { start, end })
        }
    }
}

/// `{pid}` replaced; a path with other braces is not a format oslo accepts: warned
/// about, and used as it is.
pub(crate) fn socket_path(path: &str, pid: u32) -> PathBuf {
    if path.replace("{pid}", "").contains(['{', '}']) {
        tracing::warn!(
            path,
            "backdoor_socket is not a valid format string (only {{pid}} is replaced); using it as is"
        );
        return PathBuf::from(path);
    }
    PathBuf::from(path.replace("{pid}", &pid.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports_and_ranges() {
        assert_eq!(parse_port("0"), Some(PortRange { start: 0, end: 0 }));
        assert_eq!(
            parse_port("4444"),
            Some(PortRange {
                start: 4444,
                end: 4444
            })
        );
        assert_eq!(
            parse_port("8000:8010"),
            Some(PortRange {
                start: 8000,
                end: 8010
            })
        );
        for bad in ["", "x", "-1", "70000", "9:8", "0:5", "1:2:3", "80:"] {
            assert_eq!(parse_port(bad), None, "{bad}");
        }
    }

    #[test]
    fn socket_paths_take_the_pid() {
        assert_eq!(
            socket_path("/run/x-{pid}.sock", 42),
            PathBuf::from("/run/x-42.sock")
        );
        assert_eq!(socket_path("/run/x.sock", 42), PathBuf::from("/run/x.sock"));
        assert_eq!(
            socket_path("/run/{pid}-{other}", 42),
            PathBuf::from("/run/{pid}-{other}")
        );
    }

    #[cfg(not(feature = "console"))]
    #[test]
    fn a_console_is_refused_without_the_feature() {
        for ini in [
            "[DEFAULT]\nbackdoor_port = 0\n",
            "[DEFAULT]\nbackdoor_socket = /tmp/c\n",
        ] {
            let snapshot = Snapshot::from_ini(ini, None).unwrap();
            let text = Address::read(&snapshot, 1).unwrap_err().to_string();
            assert!(text.contains("`console` feature"), "{text}");
        }
        let snapshot = Snapshot::from_ini("[DEFAULT]\ndebug = true\n", None).unwrap();
        assert_eq!(Address::read(&snapshot, 1).unwrap(), None);
    }
}
