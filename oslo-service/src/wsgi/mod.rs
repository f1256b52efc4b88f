//! The HTTP server: oslo.service's `wsgi.Server`, rebuilt on hyper, for an application
//! that is any tower `Service` (an axum `Router` as it is).
//!
//! A [`Server`] binds when it is built and is then a service like any other: run in
//! process or in worker processes that share its socket, reloaded on SIGHUP, stopped
//! gracefully on SIGTERM.
//!
//! ```no_run
//! # async fn demo(conf: oslo::Config) -> oslo::Result<()> {
//! let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
//! let server = oslo::wsgi::Server::builder("api", app).port(8774).bind()?;
//! oslo::launch(conf, server, 4).await
//! # }
//! ```
//!
//! It speaks HTTP/1.1 (and 1.0), as eventlet's server does and OpenStack's clients
//! expect, and HTTP/2 beside it on the same sockets (ALPN `h2` on TLS, prior knowledge
//! on cleartext; `wsgi_http2` and its bounds, in docs/http.md). Upgrades work (axum's
//! `WebSocketUpgrade`): the socket is then the application's, and it hears of a stop
//! through [`Stopping`], in every request's extensions.
//!
//! # Options (`[DEFAULT]`, namespace `oslo.service.wsgi`)
//!
//! - `wsgi_default_pool_size` (100): requests served at once; more wait for a turn.
//!   Idle connections and clients still sending a request head, or the body gathered
//!   before the turn, hold none.
//! - `wsgi_max_connections` (10000): connections a process holds, idle ones included,
//!   within its descriptor limit; at the limit a newcomer takes the place of the one
//!   that has made the least progress: of those with no request being served, the
//!   fewest bytes of its request sent (none when idle), then the longest in its phase.
//!   An upgraded connection (a WebSocket) counts, and is never closed for room.
//! - `wsgi_keep_alive` (true): false closes each connection after its response.
//! - `client_socket_timeout` (900 s, 0 = no limit): a client idle before or between
//!   requests, sending nothing of its body, or not reading its response is cut after it.
//! - `client_header_timeout` (20 s): from a request head's (or TLS handshake's) first
//!   byte to its end.
//! - `client_body_min_rate` (500 B/s, 0 = none): the average rate a request body must
//!   keep once `client_header_timeout` has passed.
//! - `client_body_buffer_size` (65536, 1024 to 16 MiB): bytes of a request body read
//!   before the request takes a turn in the pool; a body that ends within them reaches
//!   the application from memory, the rest of a larger one is read under the turn.
//! - `max_header_line` (16384): a header line (`name: value`) longer than this gets
//!   `400 Header Line Too Long`, and the connection is closed. Re-read by `reset`.
//! - `tcp_keepidle` (600 s): TCP keep-alive probes on accepted sockets.
//! - `wsgi_log_format`: one access log line per request, at INFO under the target
//!   [`ACCESS_LOG_TARGET`], with eventlet's fields `client_ip`, `date_time` (UTC),
//!   `request_line`, `status_code`, `body_length` and `wall_seconds`.
//! - `wsgi_server_debug` (false): the body of a 500 (the application returned an error or
//!   panicked) carries the error's text only when true; the log has it either way.
//!
//! # Stopping
//!
//! On stop the server stops accepting (the socket stays open for the other processes
//! that share it), answers every request from then on with `Connection: close`, closes
//! the connections that have no request being served after a second (idle, silent,
//! with a half-sent head, or with a body still being gathered), and `wait` returns once
//! every connection has ended: an upgraded one (a WebSocket) too, which the application
//! closes when [`Stopping`] says so. A client that stops reading is cut by
//! `client_socket_timeout`, or with the process at `graceful_shutdown_timeout`.

mod access_log;
mod app;
mod body;
#[cfg(feature = "tls")]
mod ciphers;
mod clients;
mod connection;
mod forwarded;
mod frames;
#[cfg(feature = "grpc")]
#[cfg_attr(docsrs, doc(cfg(feature = "grpc")))]
pub mod grpc;
mod handler;
mod healthcheck;
mod io;
mod listener;
pub mod paste;
mod preface;
mod server;
mod settings;
mod stopping;
#[cfg_attr(not(feature = "tls"), path = "without_tls.rs")]
mod tls;

pub use access_log::ACCESS_LOG_TARGET;
pub use app::HttpApp;
pub use body::{Body, BodyError};
pub use forwarded::ClientInfo;
pub use healthcheck::{Healthcheck, HealthcheckService};
pub use server::{DEFAULT_MAX_URL_LEN, Server, ServerBuilder};
pub use stopping::Stopping;

/// Checks the server's options as a start would, binding nothing (`--check-config`):
/// the `[DEFAULT]` wsgi options and, when `[ssl]` names them, the TLS files.
pub(crate) fn check(conf: &crate::Config) -> Result<(), crate::config::ConfigError> {
    settings::Settings::read(conf, None)?;
    tls::acceptor(&conf.snapshot())?;
    Ok(())
}
