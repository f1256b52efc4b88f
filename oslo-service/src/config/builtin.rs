//! The built-in option groups: the runtime's own options (oslo.service's, and oslo.log's
//! that the log set-up reads), declared as groups like a service's, under oslo.service's
//! namespaces.

use std::time::Duration;

use super::{ConfigError, GroupInfo, Snapshot};

/// Options of the service launcher and the debug console (`[DEFAULT]`, namespace
/// `oslo.service.service`).
#[crate::options(group = "DEFAULT", namespace = "oslo.service.service", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOptions {
    /// Port of the debug console on localhost: 0 for any free port, a port number, or
    /// START:END for the lowest free port of that range. The port taken is logged.
    #[opt()]
    pub backdoor_port: Option<String>,
    /// Path of a UNIX socket for the debug console, where {pid} stands for the process
    /// id. Wins over backdoor_port when both are set.
    #[opt()]
    pub backdoor_socket: Option<String>,
    /// Log the value of every registered option at DEBUG when the service starts;
    /// secret options show as ****.
    #[opt(default = true)]
    pub log_options: bool,
    /// Refuse to start or reload when the configuration sets a group or an option that
    /// no declaration of the program knows (probably a typo), rather than warn.
    #[opt(default = false)]
    pub fatal_unknown_options: bool,
    /// Seconds a service stopping on SIGTERM has to finish before the process exits
    /// with status 1; 0 waits without limit.
    #[opt(default = 60, min = 0, max = 31536000)]
    pub graceful_shutdown_timeout: u64,
    /// Seconds between two checks that a worker process's runtime answers its parent;
    /// 0 checks nothing.
    #[opt(default = 5, min = 0, max = 86400)]
    pub worker_heartbeat_interval: u64,
    /// Seconds a worker's runtime, once it first answered, may go without answering
    /// before the parent logs it, sends it SIGABRT (a core, where the system keeps
    /// them) and then SIGKILL, and replaces it; 0 never does.
    #[opt(default = 60, min = 0, max = 86400)]
    pub worker_heartbeat_timeout: u64,
    /// Seconds between SIGTERM and the stop of accepting: the health check answers 503
    /// at once (so that load balancers take the host out) while every route serves on.
    #[opt(default = 0, min = 0, max = 3600)]
    pub graceful_shutdown_delay: u64,
    /// HTTP requests a worker process serves before it is replaced (a new one first,
    /// then it drains), to bound what slow leaks cost; 0 never replaces it.
    #[opt(default = 0, min = 0, max = 1000000000000)]
    pub max_requests: u64,
    /// Up to this many requests more, drawn for each worker, so that workers started
    /// together are not replaced together.
    #[opt(default = 0, min = 0, max = 1000000000000)]
    pub max_requests_jitter: u64,
    /// Seconds a worker process lives before it is replaced (a new one first, then it
    /// drains); 0 never replaces it.
    #[opt(default = 0, min = 0, max = 31536000)]
    pub max_worker_lifetime: u64,
    /// Up to this many seconds more, drawn for each worker.
    #[opt(default = 0, min = 0, max = 31536000)]
    pub max_worker_lifetime_jitter: u64,
    /// User (a name or a uid) that worker processes run as, with the user's groups:
    /// the parent, started as root, binds the sockets and then starts each worker as
    /// this user. Unset, workers run as the parent does. Read at start.
    #[opt()]
    pub user: Option<String>,
    /// Group (a name or a gid) that worker processes run as; the user's primary group
    /// when unset. Read at start.
    #[opt()]
    pub group: Option<String>,
    /// File mode creation mask of the service's processes, in octal (0o027 or 027);
    /// unset keeps the one the service was started with. Read at start.
    #[opt()]
    pub umask: Option<String>,
    /// Resident memory (RSS) a worker process may reach before it is replaced (a new
    /// one first, then it drains), checked by its parent every second: a size such as
    /// 512M or 1G, or bytes; unset or 0 never replaces it.
    #[opt()]
    pub max_worker_memory: Option<super::ByteSize>,
}

/// Options of periodic tasks (`[DEFAULT]`, namespace `oslo.service.periodic_task`).
#[crate::options(
    group = "DEFAULT",
    namespace = "oslo.service.periodic_task",
    crate = "crate"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeriodicTaskOptions {
    /// Run here the periodic tasks marked as able to run in a separate process.
    #[opt(default = true)]
    pub run_external_periodic_tasks: bool,
    /// The most periodic tasks of one service that run at once, overriding the
    /// service's own (`#[oslo::service(periodic_max_concurrent = N)]`, 4 by default); 0
    /// keeps the service's. A task never overlaps itself.
    #[opt(default = 0, min = 0, max = 1024)]
    pub periodic_max_concurrent: u64,
}

/// TLS options (`[ssl]`, namespace `oslo.service.sslutils`).
#[crate::options(group = "ssl", namespace = "oslo.service.sslutils", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SslOptions {
    /// CA certificate file; when set, clients must present a certificate it signed.
    #[opt(deprecated_group = "DEFAULT", deprecated_name = "ssl_ca_file")]
    pub ca_file: Option<String>,
    /// Certificate file of the server, for TLS.
    #[opt(deprecated_group = "DEFAULT", deprecated_name = "ssl_cert_file")]
    pub cert_file: Option<String>,
    /// Private key file of the server, for TLS.
    #[opt(deprecated_group = "DEFAULT", deprecated_name = "ssl_key_file")]
    pub key_file: Option<String>,
    /// TLS protocol version the server accepts, when TLS is on.
    #[opt()]
    pub version: Option<String>,
    /// Ciphers the server offers, in OpenSSL's cipher list format.
    #[opt()]
    pub ciphers: Option<String>,
}

/// Options of the HTTP server (`[DEFAULT]`, namespace `oslo.service.wsgi`).
#[crate::options(group = "DEFAULT", namespace = "oslo.service.wsgi", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WsgiOptions {
    /// Paste-deploy file describing the HTTP applications, found relative to the
    /// config files.
    #[opt(default = "api-paste.ini")]
    pub api_paste_config: String,
    /// Template of the access log line, with the fields client_ip, date_time,
    /// request_line, status_code, body_length and wall_seconds.
    #[opt(
        default = "%(client_ip)s \"%(request_line)s\" status: %(status_code)s  len: %(body_length)s time: %(wall_seconds).7f"
    )]
    pub wsgi_log_format: String,
    /// TCP_KEEPIDLE of each server socket, in seconds (Linux takes at most 32767).
    #[opt(default = 600, min = 1, max = 32767)]
    pub tcp_keepidle: i64,
    /// Requests each process of an HTTP server serves at once; more wait for a turn.
    /// Connections that are idle, or still sending a request head or the first
    /// client_body_buffer_size bytes of a body, do not count.
    #[opt(default = 100, min = 1, max = 1000000)]
    pub wsgi_default_pool_size: i64,
    /// Longest request header line accepted, in bytes; large tokens may need more.
    #[opt(default = 16384, min = 1, max = 1048576)]
    pub max_header_line: i64,
    /// Keep client connections open between requests; false closes each after its
    /// response.
    #[opt(default = true)]
    pub wsgi_keep_alive: bool,
    /// Seconds an idle client connection is kept before it is closed; 0 keeps it
    /// without limit.
    #[opt(default = 900, min = 0, max = 31536000)]
    pub client_socket_timeout: i64,
    /// Seconds a client has from the first byte of a request head to its end (and for
    /// a TLS handshake); a slower one is cut. Also the grace a request body has before
    /// client_body_min_rate applies.
    #[opt(default = 20, min = 1, max = 86400)]
    pub client_header_timeout: i64,
    /// Bytes per second a request body must arrive at, on average, once
    /// client_header_timeout has passed; a slower client is cut. 0 sets no minimum.
    #[opt(default = 500, min = 0, max = 1073741824)]
    pub client_body_min_rate: i64,
    /// Bytes of a request body read before the request takes a turn in the pool
    /// (wsgi_default_pool_size), so that a client slow to send its body holds a
    /// connection, never a turn; a body that ends within them reaches the application
    /// from memory, the rest of a larger one is read under the turn. Each connection
    /// sending a body may hold this much memory.
    #[opt(default = 65536, min = 1024, max = 16777216)]
    pub client_body_buffer_size: i64,
    /// Client connections each process of an HTTP server holds open at once, idle ones
    /// included (never more than its file descriptor limit allows). At the limit, a new
    /// client takes the place of the connection with no request being served that has
    /// sent the fewest bytes of its request (idle ones none), the longest in its state
    /// first among equals.
    #[opt(default = 10000, min = 1, max = 1000000)]
    pub wsgi_max_connections: i64,
    /// Send the error's details to the client with a 500 response; false sends an
    /// empty body.
    #[opt(default = false)]
    pub wsgi_server_debug: bool,
    /// Speak HTTP/2 beside HTTP/1.1 on the same sockets: offered to TLS clients by
    /// ALPN (h2), and taken on cleartext from clients that start with its preface
    /// (prior knowledge). False speaks HTTP/1.1 only.
    #[opt(default = true)]
    pub wsgi_http2: bool,
    /// Requests (streams) one HTTP/2 connection may have in flight at once; each also
    /// takes its turn in the pool (wsgi_default_pool_size).
    #[opt(default = 100, min = 1, max = 10000)]
    pub wsgi_http2_max_concurrent_streams: i64,
    /// Largest header list of an HTTP/2 request, in bytes (each field's name and value
    /// plus 32, as RFC 9113 counts); a larger one is refused. 0 takes the longest
    /// request head HTTP/1.1 reads (twice max_header_line, 417792 bytes at least).
    #[opt(default = 0, min = 0, max = 16777216)]
    pub wsgi_http2_max_header_list_size: i64,
    /// Bytes of a request body an HTTP/2 client may send on one stream before the
    /// server reads them (its initial flow-control window); RFC 9113 allows up to
    /// 2147483647.
    #[opt(default = 1048576, min = 65535, max = 2147483647)]
    pub wsgi_http2_initial_stream_window_size: i64,
    /// Bytes of request bodies an HTTP/2 client may send on all streams of one
    /// connection before the server reads them; RFC 9113 allows up to 2147483647.
    #[opt(default = 1048576, min = 65535, max = 2147483647)]
    pub wsgi_http2_initial_connection_window_size: i64,
    /// Seconds between the PINGs an HTTP/2 connection sends its client to learn that
    /// it is still there; 0 sends none.
    #[opt(default = 0, min = 0, max = 86400)]
    pub wsgi_http2_keep_alive_interval: i64,
    /// Seconds an HTTP/2 client has to answer a keep-alive PING before its connection
    /// is closed.
    #[opt(default = 20, min = 1, max = 3600)]
    pub wsgi_http2_keep_alive_timeout: i64,
}

/// Logging options, as oslo.log names them (`[DEFAULT]`, namespace `oslo.log`).
#[crate::options(group = "DEFAULT", namespace = "oslo.log", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Log at DEBUG instead of INFO.
    #[opt(default = false, mutable, cli)]
    pub debug: bool,
    /// File the log goes to; without it (and without log_dir), the log goes to
    /// standard error.
    #[opt(deprecated_name = "logfile", cli)]
    pub log_file: Option<String>,
    /// Directory of relative log_file paths; without log_file, the log goes to
    /// PROGRAM.log in this directory.
    #[opt(deprecated_name = "logdir", cli)]
    pub log_dir: Option<String>,
    /// Log output to standard error as well when logging to a file.
    #[opt(default = false)]
    pub use_stderr: bool,
    /// Use JSON formatting for logging, one object per line.
    #[opt(default = false)]
    pub use_json: bool,
    /// Reopen the log file when it was moved or deleted (checked at each line); without
    /// it, the file is reopened on SIGHUP.
    #[opt(default = false)]
    pub watch_log_file: bool,
    /// Log to the systemd journal as well, with the journal's native protocol: each
    /// line's fields (level, target, source file and line, the fields of its spans) are
    /// journal fields. Read at start.
    #[opt(default = false)]
    pub use_journal: bool,
    /// Log to syslog (/dev/log) as well. Read at start.
    #[opt(default = false)]
    pub use_syslog: bool,
    /// Syslog facility to receive log lines: LOG_USER, LOG_DAEMON, LOG_LOCAL0 to
    /// LOG_LOCAL7, ….
    #[opt(default = "LOG_USER")]
    pub syslog_log_facility: String,
    /// Log levels of particular targets, as target=LEVEL pairs.
    #[opt(
        default = ["h2=WARN", "hyper=WARN", "rustls=WARN", "mio=WARN", "tokio_util=WARN"],
        mutable
    )]
    pub default_log_levels: Vec<String>,
}

/// Coordination between the hosts of a service (`[coordination]`, namespace
/// `oslo.service.coordination`): where etcd is, who this host is, and how long its
/// membership lasts without a heartbeat.
#[crate::options(
    group = "coordination",
    namespace = "oslo.service.coordination",
    crate = "crate"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CoordinationOptions {
    /// The coordination backend, in tooz's spelling: etcd3+http://HOST:PORT (etcd v3
    /// through its JSON gateway), or etcd3+https://USER:PASSWORD@HOST:PORT,HOST:PORT
    /// ?ca_cert=PATH&cert_cert=PATH&cert_key=PATH for TLS (client certificate
    /// optional), authentication (optional) and several members. Unset: no coordination, cluster-scoped periodic tasks run on every host.
    #[opt(mutable)]
    pub backend_url: Option<String>,
    /// This host's name in its groups; the host name when unset. Every process of a
    /// host (its workers too) is one member.
    #[opt()]
    pub member_id: Option<String>,
    /// The group the service's hosts join; the program's name when unset.
    #[opt()]
    pub group: Option<String>,
    /// How often the membership's lease is renewed.
    #[opt(default = "1s", mutable)]
    pub heartbeat: Duration,
    /// How long the membership (and the locks and leadership it holds) outlives the
    /// last heartbeat that reached etcd; a host cut off from etcd for longer stops
    /// running cluster tasks.
    #[opt(default = "10s")]
    pub lease_ttl: Duration,
}

/// The host's metrics endpoint (`[metrics]`, namespace `oslo.service.metrics`): one
/// Prometheus scrape for the launcher's process and every worker (feature `metrics`).
#[crate::options(group = "metrics", namespace = "oslo.service.metrics", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricsOptions {
    /// Serve the host's metrics, the launcher's and every worker's, in Prometheus'
    /// text format at http://HOST:PORT/metrics, from the launcher's top process.
    #[opt(default = false)]
    pub enabled: bool,
    /// Address the metrics endpoint listens on.
    #[opt(default = "127.0.0.1")]
    pub host: String,
    /// Port the metrics endpoint listens on; 0 takes a free one (logged).
    #[opt(default = 9464)]
    pub port: super::Port,
    /// How long a worker has to answer a scrape; for one that does not, the scrape
    /// shows what it sent last, and counts it in oslo_metrics_missed_workers_total.
    #[opt(default = "1s")]
    pub worker_timeout: Duration,
}

/// The HTTP server's reading of a proxy's headers (`[oslo_middleware]`, namespace
/// `oslo.middleware.http_proxy_to_wsgi`), as oslo.middleware's HTTPProxyToWSGI reads
/// them, and which peers are believed.
#[crate::options(
    group = "oslo_middleware",
    namespace = "oslo.middleware.http_proxy_to_wsgi",
    crate = "crate"
)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyOptions {
    /// Whether the application is behind a proxy or not. This determines if the
    /// middleware should parse the headers or not.
    #[opt(default = false)]
    pub enable_proxy_headers_parsing: bool,
    /// The proxies whose headers (Forwarded, X-Forwarded-For, -Proto and -Host) are
    /// believed when enable_proxy_headers_parsing is on, as addresses or networks
    /// (10.0.0.0/8, fd00::/8); another peer's are ignored. Empty believes any peer,
    /// as oslo.middleware does.
    #[opt(default = [])]
    pub trusted_proxies: Vec<String>,
}

/// The health probes of the whole service (`[health]`, namespace
/// `oslo.service.health`), served by the launcher's top process.
#[crate::options(group = "health", namespace = "oslo.service.health", crate = "crate")]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HealthOptions {
    /// Answer GET /health/live, /health/ready and /health/startup in
    /// application/health+json, from the launcher's top process, for any service.
    #[opt(default = false)]
    pub enabled: bool,
    /// Address the health probes are answered on.
    #[opt(default = "127.0.0.1")]
    pub host: String,
    /// Port the health probes are answered on; 0 takes a free one (logged).
    #[opt(default = 9465)]
    pub port: super::Port,
    /// Path of a UNIX socket (mode 0600) to answer the probes on instead of host and
    /// port.
    #[opt()]
    pub unix_socket: Option<String>,
}

/// Traces sent to an OpenTelemetry collector (`[otel]`, namespace `oslo.service.otel`,
/// feature `otel`): a span for each HTTP request, periodic task run and reload.
#[crate::options(group = "otel", namespace = "oslo.service.otel", crate = "crate")]
#[derive(Clone, Debug, PartialEq)]
pub struct OtelOptions {
    /// The collector's OTLP/HTTP address, http://HOST:PORT (spans go to
    /// http://HOST:PORT/v1/traces in protobuf). Unset: no traces.
    #[opt()]
    pub endpoint: Option<String>,
    /// Headers sent with every export, as name=value (an API key, say).
    #[opt(secret, default = [])]
    pub headers: Vec<String>,
    /// The share of requests without a sampled parent that are traced, from 0 to 1;
    /// a request whose traceparent says sampled, or not, is traced as it says.
    #[opt(default = 1.0)]
    pub sample_ratio: f64,
    /// The service.name of the spans; the program's name when unset.
    #[opt()]
    pub service_name: Option<String>,
}

/// The runtime's groups, in the order the sample config lists them.
pub(crate) const GROUPS: &[GroupInfo] = &[
    GroupInfo::of::<ServiceOptions>(),
    GroupInfo::of::<PeriodicTaskOptions>(),
    GroupInfo::of::<WsgiOptions>(),
    GroupInfo::of::<ProxyOptions>(),
    GroupInfo::of::<LogOptions>(),
    GroupInfo::of::<SslOptions>(),
    GroupInfo::of::<CoordinationOptions>(),
    GroupInfo::of::<MetricsOptions>(),
    GroupInfo::of::<HealthOptions>(),
    GroupInfo::of::<OtelOptions>(),
];

/// What the launcher reads, derived from the declared groups.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RuntimeOptions {
    /// `graceful_shutdown_timeout`; `None` for 0, which waits forever.
    pub graceful_shutdown_timeout: Option<Duration>,
    /// `worker_heartbeat_interval` and `worker_heartbeat_timeout`; `None` when either
    /// is 0.
    pub heartbeat: Option<Heartbeat>,
    /// `graceful_shutdown_delay`.
    pub shutdown_delay: Duration,
    /// `max_requests` and its jitter; `None` for 0.
    pub max_requests: Option<(u64, u64)>,
    /// `max_worker_lifetime` and its jitter; `None` for 0.
    pub max_lifetime: Option<(Duration, Duration)>,
    /// `max_worker_memory` in bytes; `None` for unset or 0.
    pub max_memory: Option<u64>,
}

/// How a parent checks that its workers' runtimes answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Heartbeat {
    pub interval: Duration,
    pub timeout: Duration,
}

impl RuntimeOptions {
    pub fn read(snapshot: &Snapshot) -> Result<Self, ConfigError> {
        let options = snapshot.group::<ServiceOptions>()?;
        let timeout = options.graceful_shutdown_timeout;
        let (interval, silence) = (
            options.worker_heartbeat_interval,
            options.worker_heartbeat_timeout,
        );
        Ok(RuntimeOptions {
            graceful_shutdown_timeout: (timeout > 0).then(|| Duration::from_secs(timeout)),
            heartbeat: (interval > 0 && silence > 0).then(|| Heartbeat {
                interval: Duration::from_secs(interval),
                timeout: Duration::from_secs(silence),
            }),
            shutdown_delay: Duration::from_secs(options.graceful_shutdown_delay),
            max_requests: (options.max_requests > 0)
                .then_some((options.max_requests, options.max_requests_jitter)),
            max_lifetime: (options.max_worker_lifetime > 0).then(|| {
                (
                    Duration::from_secs(options.max_worker_lifetime),
                    Duration::from_secs(options.max_worker_lifetime_jitter),
                )
            }),
            max_memory: options
                .max_worker_memory
                .map(super::ByteSize::get)
                .filter(|&bytes| bytes > 0),
        })
    }
}
