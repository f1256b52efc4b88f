//! The `[DEFAULT]` wsgi options as one started server uses them, checked once at start
//! (and again by `reset`), so that a bad value stops the service with an error that
//! names it instead of failing requests.

use std::time::Duration;

use super::access_log::AccessLogFormat;
use super::forwarded::Proxies;
use crate::config::{Config, ConfigError, InvalidValue, ProxyOptions, WsgiOptions};

/// hyper's own read buffer limit (8 KiB plus 100 times 4 KiB): the longest request head
/// it reads. A `max_header_line` beyond half of it raises it.
const HYPER_MAX_BUF_SIZE: usize = 8192 + 4096 * 100;

/// The declared maximum of `client_body_buffer_size`, which a program's own default
/// may pass: memory per connection.
const MAX_BODY_BUFFER: usize = 16 << 20;

/// What the accept loop and each connection need from the options.
#[derive(Debug, Clone)]
pub(super) struct Settings {
    pub(super) pool_size: usize,
    pub(super) keep_alive: bool,
    /// `None` for `client_socket_timeout = 0`: no limit.
    pub(super) client_timeout: Option<Duration>,
    pub(super) tcp_keepidle: Duration,
    pub(super) max_header_line: usize,
    pub(super) debug: bool,
    pub(super) access_log: AccessLogFormat,
    /// `client_header_timeout`.
    pub(super) header_timeout: Duration,
    /// `client_body_min_rate`; `None` for 0.
    pub(super) body_min_rate: Option<u64>,
    /// `client_body_buffer_size`: the most of a body read before a turn in the pool.
    pub(super) body_buffer: usize,
    /// `wsgi_max_connections`, within what the descriptor limit leaves.
    pub(super) max_connections: usize,
    /// HTTP/2: whether it is spoken, and its bounds.
    pub(super) http2: Http2,
    /// `[oslo_middleware]`: whose proxy headers are believed.
    pub(super) proxies: Proxies,
}

/// The bounds of an HTTP/2 connection, from the `wsgi_http2_*` options.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Http2 {
    /// `wsgi_http2`. The bounds hold even when false: a TLS client that negotiated h2
    /// under an acceptor reloaded since the start is served with them.
    pub(super) enabled: bool,
    pub(super) max_concurrent_streams: u32,
    pub(super) max_header_list_size: u32,
    pub(super) initial_stream_window_size: u32,
    pub(super) initial_connection_window_size: u32,
    /// `None` for 0: no keep-alive PINGs.
    pub(super) keep_alive_interval: Option<Duration>,
    pub(super) keep_alive_timeout: Duration,
}

/// RFC 9113, 6.5.2: the largest flow-control window.
const MAX_WINDOW: u32 = (1 << 31) - 1;

impl Http2 {
    fn read(options: &WsgiOptions, head_limit: usize) -> Self {
        // The declared bounds hold these within range; a value from a source that
        // skipped them (a program's own defaults) is clamped to the nearest.
        let within = |value: i64, min: u32, max: u32| {
            u32::try_from(value.clamp(i64::from(min), i64::from(max))).unwrap_or(min)
        };
        let header_list = match options.wsgi_http2_max_header_list_size {
            0 => u32::try_from(head_limit).unwrap_or(u32::MAX),
            size => within(size, 1, 16 << 20),
        };
        let seconds = |value: i64, max: u32| u64::from(within(value, 0, max));
        Http2 {
            enabled: options.wsgi_http2,
            max_concurrent_streams: within(options.wsgi_http2_max_concurrent_streams, 1, 10000),
            max_header_list_size: header_list.min(16 << 20),
            initial_stream_window_size: within(
                options.wsgi_http2_initial_stream_window_size,
                65535,
                MAX_WINDOW,
            ),
            initial_connection_window_size: within(
                options.wsgi_http2_initial_connection_window_size,
                65535,
                MAX_WINDOW,
            ),
            keep_alive_interval: Some(seconds(options.wsgi_http2_keep_alive_interval, 86400))
                .filter(|secs| *secs > 0)
                .map(Duration::from_secs),
            keep_alive_timeout: Duration::from_secs(
                seconds(options.wsgi_http2_keep_alive_timeout, 3600).max(1),
            ),
        }
    }
}

impl Settings {
    /// Reads the options; `pool_size` is the server's own, if it was given one.
    pub(super) fn read(conf: &Config, pool_size: Option<usize>) -> Result<Self, ConfigError> {
        let options = conf.group::<WsgiOptions>()?;
        let access_log = AccessLogFormat::parse(&options.wsgi_log_format)
            .map_err(|reason| invalid(conf, "wsgi_log_format", &options.wsgi_log_format, reason))?;
        // The declared minimums keep these positive; a value from a source that skipped
        // them (a program's own defaults) falls back to the smallest sensible one.
        let positive = |value: i64| usize::try_from(value).unwrap_or(0).max(1);
        let max_header_line = positive(options.max_header_line);
        let http2 = Http2::read(&options, head_limit(max_header_line));
        let proxy = conf.group::<ProxyOptions>()?;
        let proxies = Proxies::read(proxy.enable_proxy_headers_parsing, &proxy.trusted_proxies)
            .map_err(|reason| {
                InvalidValue::in_snapshot(
                    &conf.snapshot(),
                    "oslo_middleware",
                    "trusted_proxies",
                    &proxy.trusted_proxies.join(","),
                    reason,
                )
            })?;
        Ok(Settings {
            pool_size: pool_size.unwrap_or_else(|| positive(options.wsgi_default_pool_size)),
            keep_alive: options.wsgi_keep_alive,
            client_timeout: u64::try_from(options.client_socket_timeout)
                .ok()
                .filter(|secs| *secs > 0)
                .map(Duration::from_secs),
            tcp_keepidle: Duration::from_secs(positive(options.tcp_keepidle) as u64),
            max_header_line,
            debug: options.wsgi_server_debug,
            access_log,
            header_timeout: Duration::from_secs(positive(options.client_header_timeout) as u64),
            body_min_rate: u64::try_from(options.client_body_min_rate)
                .ok()
                .filter(|rate| *rate > 0),
            body_buffer: positive(options.client_body_buffer_size).min(MAX_BODY_BUFFER),
            max_connections: positive(options.wsgi_max_connections)
                .min(connections_the_descriptors_allow()),
            http2,
            proxies,
        })
    }

    /// The socket's deadlines for a client connection.
    pub(super) fn deadlines(&self) -> super::io::Deadlines {
        super::io::Deadlines {
            idle: self.client_timeout,
            head: self.header_timeout,
            write: self.client_timeout,
        }
    }

    /// hyper's read buffer: large enough for a head of header lines this long.
    pub(super) fn max_buf_size(&self) -> usize {
        head_limit(self.max_header_line)
    }
}

/// The longest request head HTTP/1.1 reads: hyper's buffer, or room for two header
/// lines of `max_header_line`.
fn head_limit(max_header_line: usize) -> usize {
    HYPER_MAX_BUF_SIZE.max(max_header_line.saturating_mul(2))
}

/// Descriptors kept free of client connections: for log files, the console, etcd,
/// the application's own files and sockets.
const RESERVED_DESCRIPTORS: u64 = 64;

/// How many client connections the process's file descriptors allow: the soft limit,
/// raised to the hard one first (once per process, as Go's runtime does: a server
/// holding thousands of connections needs more than the 1024 many systems start
/// with), less [`RESERVED_DESCRIPTORS`].
fn connections_the_descriptors_allow() -> usize {
    use rustix::process::{Resource, getrlimit, setrlimit};
    static RAISED: std::sync::Once = std::sync::Once::new();
    RAISED.call_once(|| {
        let limit = getrlimit(Resource::Nofile);
        if limit.current < limit.maximum {
            let raised = rustix::process::Rlimit {
                current: limit.maximum,
                maximum: limit.maximum,
            };
            match setrlimit(Resource::Nofile, raised) {
                Ok(()) => tracing::debug!(to = ?limit.maximum, "raised the file descriptor limit"),
                Err(err) => tracing::debug!(error = %err, "cannot raise the file descriptor limit"),
            }
        }
    });
    let soft = getrlimit(Resource::Nofile).current.unwrap_or(u64::MAX);
    usize::try_from(soft.saturating_sub(RESERVED_DESCRIPTORS).max(1)).unwrap_or(usize::MAX)
}

/// A bad value of a `[DEFAULT]` option, with the file and line it came from.
fn invalid(conf: &Config, option: &str, value: &str, reason: String) -> ConfigError {
    InvalidValue::in_snapshot(&conf.snapshot(), "DEFAULT", option, value, reason)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf(text: &str) -> (tempfile::TempDir, Config) {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("api.conf");
        std::fs::write(&file, text).unwrap();
        let conf = Config::load(crate::config::ConfigSources::from_files([&file])).unwrap();
        (dir, conf)
    }

    #[test]
    fn oslo_defaults() {
        let settings = Settings::read(&Config::default(), None).unwrap();
        assert_eq!(settings.pool_size, 100);
        assert!(settings.keep_alive);
        assert_eq!(settings.client_timeout, Some(Duration::from_secs(900)));
        assert_eq!(settings.tcp_keepidle, Duration::from_secs(600));
        assert_eq!(settings.max_header_line, 16384);
        assert_eq!(settings.body_buffer, 65536);
        assert!(!settings.debug);
        assert_eq!(
            Settings::read(&Config::default(), Some(3))
                .unwrap()
                .pool_size,
            3
        );
    }

    #[test]
    fn http2_is_on_with_hypers_bounds_and_a_header_list_as_long_as_an_http1_head() {
        let settings = Settings::read(&Config::default(), None).unwrap();
        let http2 = settings.http2.clone();
        assert!(http2.enabled);
        assert_eq!(http2.max_concurrent_streams, 100);
        assert_eq!(http2.max_header_list_size as usize, settings.max_buf_size());
        assert_eq!(http2.initial_stream_window_size, 1 << 20);
        assert_eq!(http2.initial_connection_window_size, 1 << 20);
        assert_eq!(http2.keep_alive_interval, None);
        assert_eq!(http2.keep_alive_timeout, Duration::from_secs(20));
    }

    #[test]
    fn http2_options_are_read_and_bounded() {
        let (_dir, off) = conf("[DEFAULT]\nwsgi_http2 = false\n");
        assert!(!Settings::read(&off, None).unwrap().http2.enabled);
        let (_dir, set) = conf(
            "[DEFAULT]\nwsgi_http2_max_concurrent_streams = 7\n\
             wsgi_http2_max_header_list_size = 4096\n\
             wsgi_http2_initial_stream_window_size = 2147483647\n\
             wsgi_http2_keep_alive_interval = 30\nwsgi_http2_keep_alive_timeout = 5\n",
        );
        let http2 = Settings::read(&set, None).unwrap().http2;
        assert_eq!(http2.max_concurrent_streams, 7);
        assert_eq!(http2.max_header_list_size, 4096);
        assert_eq!(http2.initial_stream_window_size, (1 << 31) - 1);
        assert_eq!(http2.keep_alive_interval, Some(Duration::from_secs(30)));
        assert_eq!(http2.keep_alive_timeout, Duration::from_secs(5));
        for bad in [
            "wsgi_http2_max_concurrent_streams = 0",
            "wsgi_http2_max_concurrent_streams = 10001",
            "wsgi_http2_initial_stream_window_size = 2147483648",
            "wsgi_http2_initial_connection_window_size = 100",
            "wsgi_http2_max_header_list_size = 16777217",
            "wsgi_http2_keep_alive_timeout = 0",
        ] {
            let dir = tempfile::tempdir().unwrap();
            let file = dir.path().join("api.conf");
            std::fs::write(&file, format!("[DEFAULT]\n{bad}\n")).unwrap();
            let loaded = Config::load(crate::config::ConfigSources::from_files([&file]));
            let error = match loaded {
                Ok(conf) => Settings::read(&conf, None).unwrap_err().to_string(),
                Err(error) => error.to_string(),
            };
            let option = bad.split(' ').next().unwrap();
            assert!(error.contains(option), "{bad}: {error}");
        }
    }

    #[test]
    fn zero_client_socket_timeout_means_no_limit() {
        let (_dir, conf) = conf("[DEFAULT]\nclient_socket_timeout = 0\n");
        assert_eq!(Settings::read(&conf, None).unwrap().client_timeout, None);
    }

    #[test]
    fn a_bad_log_format_names_file_line_option_and_value() {
        let (dir, conf) = conf("[DEFAULT]\n\nwsgi_log_format = %(client)s done\n");
        let error = Settings::read(&conf, None).unwrap_err().to_string();
        let file = dir.path().join("api.conf");
        assert!(
            error.starts_with(&format!("{}:3: ", file.display())),
            "{error}"
        );
        assert!(
            error.contains("option wsgi_log_format in group [DEFAULT]"),
            "{error}"
        );
        assert!(error.contains("'%(client)s done'"), "{error}");
        assert!(error.contains("unknown field 'client'"), "{error}");
    }
}
