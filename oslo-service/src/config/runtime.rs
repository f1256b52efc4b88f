//! The runtime's own options (oslo.service's, and oslo.log's that the log set-up
//! reads), declared as groups like a service's, under oslo.service's namespaces.

use std::time::Duration;

use super::{ConfigError, GroupInfo, Snapshot};

/// Options of the service launcher and the debug console (`[DEFAULT]`, namespace
/// `oslo.service.service`).
#[crate::options(group = "DEFAULT", namespace = "oslo.service.service", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Enable eventlet backdoor. Acceptable values are 0, <port>, and <start>:<end>,
    /// where 0 results in listening on a random tcp port number; <port> results in
    /// listening on the specified port number (and not enabling backdoor if that port
    /// is in use); and <start>:<end> results in listening on the smallest unused port
    /// number within the specified range of port numbers. The chosen port is displayed
    /// in the service's log file.
    #[opt()]
    pub backdoor_port: Option<String>,
    /// Enable eventlet backdoor, using the provided path as a unix socket that can
    /// receive connections. This option is mutually exclusive with 'backdoor_port' in
    /// that only one should be provided. If both are provided then the existence of
    /// this option overrides the usage of that option. Inside the path {pid} will be
    /// replaced with the PID of the current process.
    #[opt()]
    pub backdoor_socket: Option<String>,
    /// Enables or disables logging values of all registered options when starting a
    /// service (at DEBUG level).
    #[opt(default = true)]
    pub log_options: bool,
    /// Specify a timeout after which a gracefully shutdown server will exit. Zero value
    /// means endless wait.
    #[opt(default = 60, min = 0)]
    pub graceful_shutdown_timeout: u64,
}

/// Options of periodic tasks (`[DEFAULT]`, namespace `oslo.service.periodic_task`).
#[crate::options(
    group = "DEFAULT",
    namespace = "oslo.service.periodic_task",
    crate = "crate"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodicTaskOptions {
    /// Some periodic tasks can be run in a separate process. Should we run them here?
    #[opt(default = true)]
    pub run_external_periodic_tasks: bool,
}

/// TLS options (`[ssl]`, namespace `oslo.service.sslutils`).
#[crate::options(group = "ssl", namespace = "oslo.service.sslutils", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SslOptions {
    /// CA certificate file to use to verify connecting clients.
    #[opt(deprecated_group = "DEFAULT", deprecated_name = "ssl_ca_file")]
    pub ca_file: Option<String>,
    /// Certificate file to use when starting the server securely.
    #[opt(deprecated_group = "DEFAULT", deprecated_name = "ssl_cert_file")]
    pub cert_file: Option<String>,
    /// Private key file to use when starting the server securely.
    #[opt(deprecated_group = "DEFAULT", deprecated_name = "ssl_key_file")]
    pub key_file: Option<String>,
    /// SSL version to use (valid only if SSL enabled). Valid values are TLSv1 and
    /// SSLv23. SSLv2, SSLv3, TLSv1_1, and TLSv1_2 may be available on some
    /// distributions.
    #[opt()]
    pub version: Option<String>,
    /// Sets the list of available ciphers. value should be a string in the OpenSSL
    /// cipher list format.
    #[opt()]
    pub ciphers: Option<String>,
}

/// Options of the HTTP server (`[DEFAULT]`, namespace `oslo.service.wsgi`).
#[crate::options(group = "DEFAULT", namespace = "oslo.service.wsgi", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsgiOptions {
    /// File name for the paste.deploy config for api service
    #[opt(default = "api-paste.ini")]
    pub api_paste_config: String,
    /// A python format string that is used as the template to generate log lines. The
    /// following values can be formatted into it: client_ip, date_time, request_line,
    /// status_code, body_length, wall_seconds.
    #[opt(
        default = "%(client_ip)s \"%(request_line)s\" status: %(status_code)s len: %(body_length)s time: %(wall_seconds).7f"
    )]
    pub wsgi_log_format: String,
    /// Sets the value of TCP_KEEPIDLE in seconds for each server socket. Not supported
    /// on OS X.
    #[opt(default = 600)]
    pub tcp_keepidle: i64,
    /// Size of the pool of greenthreads used by wsgi
    #[opt(default = 100)]
    pub wsgi_default_pool_size: i64,
    /// Maximum line size of message headers to be accepted. max_header_line may need to
    /// be increased when using large tokens (typically those generated when keystone is
    /// configured to use PKI tokens with big service catalogs).
    #[opt(default = 16384)]
    pub max_header_line: i64,
    /// If False, closes the client socket connection explicitly.
    #[opt(default = true)]
    pub wsgi_keep_alive: bool,
    /// Timeout for client connections' socket operations. If an incoming connection is
    /// idle for this number of seconds it will be closed. A value of '0' means wait
    /// forever.
    #[opt(default = 900)]
    pub client_socket_timeout: i64,
    /// True if the server should send exception tracebacks to the clients on 500
    /// errors. If False, the server will respond with empty bodies.
    #[opt(default = false)]
    pub wsgi_server_debug: bool,
}

/// Logging options, as oslo.log names them (`[DEFAULT]`, namespace `oslo.log`).
#[crate::options(group = "DEFAULT", namespace = "oslo.log", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// If set to true, the logging level will be set to DEBUG instead of the default
    /// INFO level.
    #[opt(default = false, mutable)]
    pub debug: bool,
    /// Name of log file to send logging output to. If no default is set, logging will
    /// go to stderr.
    #[opt(deprecated_name = "logfile")]
    pub log_file: Option<String>,
    /// The base directory used for relative log_file paths; without log_file, the log
    /// goes to <log_dir>/<program>.log.
    #[opt(deprecated_name = "logdir")]
    pub log_dir: Option<String>,
    /// Log output to standard error as well when logging to a file.
    #[opt(default = false)]
    pub use_stderr: bool,
    /// Use JSON formatting for logging, one object per line.
    #[opt(default = false)]
    pub use_json: bool,
    /// List of package logging levels in logger=LEVEL pairs.
    #[opt(
        default = ["h2=WARN", "hyper=WARN", "rustls=WARN", "mio=WARN", "tokio_util=WARN"],
        mutable
    )]
    pub default_log_levels: Vec<String>,
}

/// The runtime's groups, in the order the sample config lists them.
pub(crate) const GROUPS: &[GroupInfo] = &[
    GroupInfo::of::<ServiceOptions>(),
    GroupInfo::of::<PeriodicTaskOptions>(),
    GroupInfo::of::<WsgiOptions>(),
    GroupInfo::of::<LogOptions>(),
    GroupInfo::of::<SslOptions>(),
];

/// What the launcher reads, derived from the declared groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RuntimeOptions {
    /// `graceful_shutdown_timeout`; `None` for 0, which waits forever.
    pub graceful_shutdown_timeout: Option<Duration>,
}

impl RuntimeOptions {
    pub fn read(snapshot: &Snapshot) -> Result<Self, ConfigError> {
        let timeout = snapshot
            .group::<ServiceOptions>()?
            .graceful_shutdown_timeout;
        Ok(RuntimeOptions {
            graceful_shutdown_timeout: (timeout > 0).then(|| Duration::from_secs(timeout)),
        })
    }
}
