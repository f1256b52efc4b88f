//! The error type shared by the runtime and the services it runs.

use std::path::PathBuf;

use crate::config::ConfigError;

/// A boxed error from user code, kept with its cause chain.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// `Result` with the framework's [`Error`] as the default error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong while a service is launched, run, reloaded or stopped.
///
/// Services build errors of their own with [`Error::msg`] and [`Error::other`]:
///
/// ```
/// fn check(port: u16) -> oslo::Result<()> {
///     if port == 0 {
///         return Err(oslo::Error::msg("port must not be 0"));
///     }
///     std::fs::metadata("/").map_err(oslo::Error::other)?;
///     Ok(())
/// }
/// # check(1).unwrap();
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configuration could not be read or holds a bad value.
    #[error(transparent)]
    Config(#[from] ConfigError),

    /// A service's `start` hook failed.
    #[error("service {service} failed to start: {error}")]
    StartFailed {
        /// The service's name.
        service: String,
        /// What its `start` hook returned (in the message, not again as its source).
        error: Box<Error>,
    },

    /// The launcher was asked for something it cannot do.
    #[error("{0}")]
    Launch(String),

    /// SIGINT ended the process without a graceful stop.
    #[error("caught SIGINT, exiting at once")]
    Interrupted,

    /// The services did not stop within `graceful_shutdown_timeout`.
    #[error("graceful shutdown timeout exceeded, exiting")]
    GracefulShutdownTimeout,

    /// A signal stopped the services; the process exits with status 1 as oslo.service does.
    #[error("stopped by {signal}")]
    StoppedBySignal {
        /// The signal's name, such as `SIGHUP`.
        signal: &'static str,
    },

    /// A system call failed.
    #[error("{context}: {error}")]
    Io {
        /// What was being done.
        context: String,
        /// The operating system's error (in the message, not again as its source).
        error: std::io::Error,
    },

    /// A file could not be read.
    #[error("cannot read {path}: {error}")]
    File {
        /// The file.
        path: PathBuf,
        /// The operating system's error (in the message, not again as its source).
        error: std::io::Error,
    },

    /// An error raised by a service's own code.
    #[error("{0}")]
    Service(BoxError),
}

impl Error {
    /// An error with a message and no further cause.
    pub fn msg(message: impl Into<String>) -> Self {
        Error::Service(message.into().into())
    }

    /// Wraps any error of the service's own.
    pub fn other(error: impl Into<BoxError>) -> Self {
        Error::Service(error.into())
    }

    pub(crate) fn io(context: impl Into<String>, error: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            error,
        }
    }
}

impl From<std::io::Error> for Error {
    fn from(source: std::io::Error) -> Self {
        Error::Service(Box::new(source))
    }
}

/// An error and its causes, `outer: inner: innermost`, as one log field shows them.
#[cfg(any(feature = "http", feature = "coordination", test))]
pub(crate) fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod chain_tests {
    use super::*;

    /// The message and every source's, as a report that walks the chain prints them.
    fn report(error: &(dyn std::error::Error + 'static)) -> String {
        error_chain(error)
    }

    #[test]
    fn a_report_of_the_chain_says_each_cause_once() {
        let denied = || std::io::Error::from(std::io::ErrorKind::PermissionDenied);
        let failed = Error::StartFailed {
            service: "api".to_owned(),
            error: Box::new(Error::io("cannot bind", denied())),
        };
        let text = report(&failed);
        assert_eq!(text.matches("permission denied").count(), 1, "{text}");
        assert_eq!(text.matches("cannot bind").count(), 1, "{text}");
        let file = Error::File {
            path: "/etc/x.conf".into(),
            error: denied(),
        };
        assert_eq!(report(&file).matches("permission denied").count(), 1);
        let read = ConfigError::Read {
            path: "/etc/x.conf".into(),
            error: denied(),
        };
        assert_eq!(report(&read).matches("permission denied").count(), 1);
    }
}
