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
//! expect; HTTP/2 is not offered on cleartext connections.
//!
//! # Options (`[DEFAULT]`, namespace `oslo.service.wsgi`)
//!
//! - `wsgi_default_pool_size` (100): client connections served at once, keep-alive ones
//!   included; the rest wait in the backlog, none is refused.
//! - `wsgi_keep_alive` (true): false closes each connection after its response.
//! - `client_socket_timeout` (900 s, 0 = no limit): a client idle between requests, slow
//!   to send its request (head or body), or not reading its response is cut after it.
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
//! connections that stay idle for a second, and `wait` returns once every connection
//! has ended. A client that stops reading is cut by `client_socket_timeout`, or with the
//! process at `graceful_shutdown_timeout`.

mod access_log;
mod app;
mod body;
mod ciphers;
mod clients;
mod connection;
mod handler;
mod healthcheck;
mod io;
mod listener;
pub mod paste;
mod server;
mod settings;
mod tls;

pub use access_log::ACCESS_LOG_TARGET;
pub use app::HttpApp;
pub use body::{Body, BodyError};
pub use healthcheck::{Healthcheck, HealthcheckService};
pub use server::{DEFAULT_MAX_URL_LEN, Server, ServerBuilder};
