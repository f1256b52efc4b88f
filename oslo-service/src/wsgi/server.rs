//! [`Server`]: the socket, bound when the server is built, and the service the
//! launchers run: start accepts, stop stops accepting, wait waits for the connections,
//! reset re-reads `max_header_line`.

use std::fmt;
use std::net::{SocketAddr, ToSocketAddrs};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::Semaphore;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use super::access_log::AccessLog;
use super::app::HttpApp;
use super::clients::Clients;
use super::connection;
use super::handler::Shared;
use super::listener::{Accepting, Bound, UnixSocket};
use super::settings::Settings;
use super::tls;
use crate::config::{Config, ConfigError, Snapshot};
use crate::error::{Error, Result};
use crate::future::BoxFuture;
use crate::service::{Context, ServiceBase};

/// The longest request URL accepted before `414`: eventlet's default.
pub const DEFAULT_MAX_URL_LEN: usize = 8192;

/// How long the accept loop rests after a failure such as running out of descriptors,
/// so that it does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// The accept loop warns of its failures at most this often.
const ACCEPT_WARNING_EVERY: Duration = Duration::from_secs(1);

/// An HTTP/1.1 server for a tower service: oslo.service's `wsgi.Server`, and a service
/// the launchers run like any other.
///
/// Build it where the parent and the worker processes both pass (in `main`, before
/// [`crate::launch`]): it binds then, through [`crate::net`], so that the workers share
/// the parent's socket, and a port of 0 is resolved at once.
///
/// ```no_run
/// # async fn demo(conf: oslo::Config) -> oslo::Result<()> {
/// // Any tower service works; an axum Router is one.
/// let app = axum::Router::new().route("/", axum::routing::get(|| async { "ok" }));
/// let server = oslo::wsgi::Server::builder("api", app)
///     .host("127.0.0.1")
///     .port(8080)
///     .bind()?;
/// println!("listening on {:?}", server.local_addr());
/// oslo::launch(conf, server, 4).await
/// # }
/// ```
///
/// Each start reads the `[DEFAULT]` wsgi options (`wsgi_default_pool_size`,
/// `wsgi_keep_alive`, `client_socket_timeout`, `max_header_line`, `tcp_keepidle`,
/// `wsgi_log_format`, `wsgi_server_debug`); see the [module](super) for what each does.
pub struct Server<S> {
    name: String,
    app: S,
    bound: Bound,
    /// The socket a reload moved the server to (see [`ServerBuilder::follow_address`]),
    /// taken at the start after it.
    moved: Mutex<Option<Bound>>,
    pool_size: Option<usize>,
    max_url_len: usize,
    max_body_size: Option<u64>,
    /// Whether `[ssl]` is read: TLS when it names a certificate.
    use_ssl: bool,
    /// The running start's shared state, for `reset`.
    running: Mutex<Option<Arc<Shared>>>,
}

impl<S> fmt::Debug for Server<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Server")
            .field("name", &self.name)
            .field("address", &self.bound.to_string())
            .field("pool_size", &self.pool_size)
            .field("max_url_len", &self.max_url_len)
            .finish_non_exhaustive()
    }
}

/// Builds a [`Server`]: where it listens and the limits of its own.
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until bind() is called"]
pub struct ServerBuilder<S> {
    name: String,
    app: S,
    host: String,
    port: u16,
    backlog: u32,
    pool_size: Option<usize>,
    max_url_len: usize,
    max_body_size: Option<u64>,
    unix: Option<UnixSocket>,
    ssl: Option<Config>,
    follow: Option<Follow>,
}

/// Where a server's address comes from, read again at each reload.
type AddressOf = dyn Fn(&Snapshot) -> std::result::Result<(String, u16), ConfigError> + Send + Sync;

/// A configuration and how to read a server's address in it.
#[derive(Clone)]
struct Follow {
    conf: Config,
    address: Arc<AddressOf>,
}

impl fmt::Debug for Follow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Follow")
    }
}

impl<S> Server<S> {
    /// A builder for the server `name` (its log lines, its shared socket's name) serving
    /// `app`, on `0.0.0.0`, port 0 (any free port), backlog 128, as oslo.service's
    /// defaults.
    pub fn builder(name: impl Into<String>, app: S) -> ServerBuilder<S> {
        ServerBuilder {
            name: name.into(),
            app,
            host: "0.0.0.0".to_owned(),
            port: 0,
            backlog: crate::net::DEFAULT_BACKLOG,
            pool_size: None,
            max_url_len: DEFAULT_MAX_URL_LEN,
            max_body_size: None,
            unix: None,
            ssl: None,
            follow: None,
        }
    }

    /// The server's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The TCP address it listens on, with the port chosen when 0 was asked for; `None`
    /// on a UNIX socket.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        match &*self.moved.lock().unwrap_or_else(|p| p.into_inner()) {
            Some(moved) => moved.local_addr(),
            None => self.bound.local_addr(),
        }
    }

    /// The UNIX socket file it listens on, if any.
    pub fn socket_path(&self) -> Option<&Path> {
        self.bound.socket_path()
    }
}

impl<S> ServerBuilder<S> {
    /// The address to listen on: a name or an IP address (`::` for IPv6).
    pub fn host(mut self, host: impl Into<String>) -> Self {
        self.host = host.into();
        self
    }

    /// The TCP port; 0 takes any free port, read afterwards with [`Server::local_addr`].
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Connections the kernel queues before they are accepted; at least 1.
    pub fn backlog(mut self, backlog: u32) -> Self {
        self.backlog = backlog;
        self
    }

    /// Connections served at once, instead of `wsgi_default_pool_size`.
    pub fn pool_size(mut self, pool_size: usize) -> Self {
        self.pool_size = Some(pool_size);
        self
    }

    /// The longest request URL (path and query) served; longer gets `414`.
    pub fn max_url_len(mut self, max_url_len: usize) -> Self {
        self.max_url_len = max_url_len;
        self
    }

    /// The largest request body accepted, in bytes; none by default. A request whose
    /// `Content-Length` says more gets `413` before any of its body is read (a client
    /// that sent `Expect: 100-continue` is never told to go on); a body without one that
    /// grows past it fails its reader.
    pub fn max_body_size(mut self, bytes: u64) -> Self {
        self.max_body_size = Some(bytes);
        self
    }

    /// Listens on a UNIX socket file instead of TCP, created with the permissions
    /// `mode` (such as `0o600`). A socket file left by a process that is gone is
    /// replaced.
    pub fn unix_socket(mut self, path: impl Into<PathBuf>, mode: u32) -> Self {
        self.unix = Some(UnixSocket {
            path: path.into(),
            mode,
        });
        self
    }

    /// Serves TLS over TCP when `[ssl]` of `conf` names a certificate and key
    /// (oslo.service's `use_ssl`): `cert_file`, `key_file`, `ca_file` (clients must then
    /// present a certificate it signed), `version` (`TLSv1_2` or `TLSv1_3`; both when
    /// unset) and `ciphers` (OpenSSL's names). The files are checked when the server is
    /// built, read again at each start and reset, and checked before a SIGHUP's
    /// configuration is accepted: one that does not load refuses the reload, and the
    /// server goes on with the files it has. A UNIX socket is served in clear.
    pub fn use_ssl(mut self, conf: &Config) -> Self {
        self.ssl = Some(conf.clone());
        self
    }

    /// Reads the host and port from `conf` with `address`, instead of
    /// [`host`](Self::host) and [`port`](Self::port): when the server is built, and
    /// again at each SIGHUP. A reload that changes them binds the new address in the
    /// launcher's top process before the reload is accepted (one that cannot be bound
    /// refuses the reload, and the old address serves on); the new generation of
    /// workers, or the server's restart in a single process, serves there, and the old
    /// socket is closed once the workers on it were asked to stop. An upgrade
    /// (SIGUSR2) moves the address whether or not the server follows it: its new
    /// executable reads the files anew.
    ///
    /// ```no_run
    /// use oslo::config::Snapshot;
    /// # fn demo(conf: &oslo::Config) -> oslo::Result<()> {
    /// # let app: axum::Router = axum::Router::new();
    /// let server = oslo::wsgi::Server::builder("api", app)
    ///     .follow_address(conf, |values: &Snapshot| {
    ///         let host = values.get::<String>("api", "host")?.unwrap_or_default();
    ///         let port = values.get::<u16>("api", "port")?.unwrap_or(8080);
    ///         Ok((host, port))
    ///     })
    ///     .bind()?;
    /// # Ok(()) }
    /// ```
    pub fn follow_address<F>(mut self, conf: &Config, address: F) -> Self
    where
        F: Fn(&Snapshot) -> std::result::Result<(String, u16), ConfigError> + Send + Sync + 'static,
    {
        self.follow = Some(Follow {
            conf: conf.clone(),
            address: Arc::new(address),
        });
        self
    }

    /// Binds the socket (or takes the one the parent or systemd passed under the
    /// server's name) and logs where it listens.
    ///
    /// # Errors
    ///
    /// A backlog or pool size of 0, a socket that cannot be bound, or `[ssl]` files
    /// that do not load.
    pub fn bind(mut self) -> Result<Server<S>> {
        if let Some(follow) = &self.follow {
            (self.host, self.port) = (follow.address)(&follow.conf.snapshot())?;
            if self.unix.is_none() {
                let (name, backlog) = (self.name.clone(), self.backlog);
                let address = Arc::clone(&follow.address);
                follow.conf.add_reload_check(move |values| {
                    prepare_move(&name, backlog, &*address, values)
                });
            }
        }
        if self.pool_size == Some(0) {
            return Err(Error::Launch(format!(
                "server {}: the pool size must be at least 1",
                self.name
            )));
        }
        let mut scheme = "http";
        if let Some(conf) = &self.ssl {
            if tls::acceptor(&conf.snapshot())?.is_some() && self.unix.is_none() {
                scheme = "https";
            }
            conf.add_reload_check(|snapshot| tls::acceptor(snapshot).map(drop));
        }
        let inherited = crate::net::is_shared(&self.name);
        let bound = Bound::bind(
            &self.name,
            &self.host,
            self.port,
            self.backlog,
            self.unix.as_ref(),
        )
        .map_err(|err| {
            let address = match &self.unix {
                Some(unix) => format!("unix:{}", unix.path.display()),
                None => format!("{}:{}", self.host, self.port),
            };
            Error::io(
                format!("server {} cannot listen on {address}", self.name),
                err,
            )
        })?;
        // Once per socket: where it is bound, not in each worker that inherits it.
        if inherited {
            tracing::debug!(server = %self.name, address = %bound, %scheme, "listening on an inherited socket");
        } else {
            tracing::info!(server = %self.name, address = %bound, %scheme, "listening");
        }
        Ok(Server {
            name: self.name,
            app: self.app,
            bound,
            moved: Mutex::new(None),
            pool_size: self.pool_size,
            max_url_len: self.max_url_len,
            max_body_size: self.max_body_size,
            use_ssl: self.ssl.is_some(),
            running: Mutex::new(None),
        })
    }
}

/// A reload's check for a server that follows its address: binds the new one, if it
/// moved, for the launcher to put in place once the reload is accepted.
fn prepare_move(
    name: &str,
    backlog: u32,
    address: &AddressOf,
    values: &Snapshot,
) -> std::result::Result<(), ConfigError> {
    let (host, port) = address(values)?;
    let refused = |reason: String| ConfigError::Listen {
        server: name.to_owned(),
        address: format!("{host}:{port}"),
        reason,
    };
    let wanted: Vec<SocketAddr> = (host.as_str(), port)
        .to_socket_addrs()
        .map_err(|err| refused(err.to_string()))?
        .collect();
    crate::net::prepare_move(name, &wanted, backlog).map_err(|err| refused(err.to_string()))
}

impl<S> Server<S> {
    /// A listener for one start, on the socket the server's name is shared under now:
    /// the one a reload moved it to, if it moved.
    fn accepting(&self) -> std::io::Result<Accepting> {
        if let Bound::Tcp(_, at) = &self.bound {
            if let Some((listener, now)) = crate::net::shared_tcp(&self.name)? {
                if now != *at {
                    let moved = Bound::Tcp(listener, now);
                    let accepting = moved.accepting();
                    *self.moved.lock().unwrap_or_else(|p| p.into_inner()) = Some(moved);
                    return accepting;
                }
            }
        }
        self.bound.accepting()
    }

    /// The certificate and key of `[ssl]`, read now, when the server serves TLS.
    fn tls_acceptor(&self, conf: &Config) -> Result<Option<tls::Acceptor>> {
        if !self.use_ssl {
            return Ok(None);
        }
        Ok(tls::acceptor(&conf.snapshot())?)
    }
}

impl<S> ServiceBase for Server<S>
where
    S: HttpApp,
{
    fn name(&self) -> &str {
        &self.name
    }

    fn start<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let settings = Arc::new(Settings::read(cx.conf(), self.pool_size)?);
            let accepting = self.accepting().map_err(|err| {
                Error::io(
                    format!("server {} cannot accept on {}", self.name, self.bound),
                    err,
                )
            })?;
            let shared = Arc::new(Shared {
                max_header_line: settings.max_header_line.into(),
                max_url_len: self.max_url_len,
                max_body_size: self.max_body_size,
                debug: settings.debug,
                body_timeout: settings.client_timeout,
                body_pace: settings
                    .body_min_rate
                    .map(|rate| (settings.header_timeout, rate)),
                body_buffer: settings.body_buffer,
                pool: Arc::new(Semaphore::new(settings.pool_size)),
                clients: Clients::new(settings.max_connections),
                access_log: AccessLog::new(settings.access_log.clone()),
                stopping: cx.shutdown_token(),
                draining: AtomicBool::new(false),
                tls: RwLock::new(self.tls_acceptor(cx.conf())?),
                proxies: settings.proxies.clone(),
            });
            tracing::debug!(
                server = %self.name,
                pool_size = settings.pool_size,
                max_connections = shared.clients.limit(),
                "serving"
            );
            *self.running.lock().unwrap_or_else(|p| p.into_inner()) = Some(Arc::clone(&shared));
            // Its lines, and its connections', carry the service's (or worker's) span.
            let serving = accept_loop(accepting, self.app.clone(), shared, settings);
            cx.spawn(serving.instrument(tracing::Span::current()));
            Ok(())
        })
    }

    fn reset<'a>(&'a self, cx: &'a Context) -> BoxFuture<'a, Result<()>> {
        Box::pin(async move {
            let settings = Settings::read(cx.conf(), self.pool_size)?;
            let acceptor = self.tls_acceptor(cx.conf())?;
            if let Some(shared) = &*self.running.lock().unwrap_or_else(|p| p.into_inner()) {
                shared
                    .max_header_line
                    .store(settings.max_header_line, Ordering::Relaxed);
                *shared.tls.write().unwrap_or_else(|p| p.into_inner()) = acceptor;
            }
            Ok(())
        })
    }
}

/// Accepts while the server runs, as many connections as `wsgi_max_connections` lets
/// it hold (closing the one that has made the least progress for a newcomer at the
/// limit); then waits for every connection to end.
async fn accept_loop<S>(accepting: Accepting, app: S, shared: Arc<Shared>, settings: Arc<Settings>)
where
    S: HttpApp,
{
    let connections = TaskTracker::new();
    let stopping = shared.stopping.clone();
    let mut last_warning: Option<tokio::time::Instant> = None;
    loop {
        // At the limit with every request being served, new clients wait in the
        // backlog.
        tokio::select! {
            biased;
            () = stopping.cancelled() => break,
            () = shared.clients.room() => {}
        }
        let accepted = tokio::select! {
            biased;
            () = stopping.cancelled() => break,
            accepted = accepting.accept(settings.tcp_keepidle) => accepted,
        };
        match accepted {
            Ok(accepted) => {
                let registered = shared.clients.register();
                let (app, shared, settings) =
                    (app.clone(), Arc::clone(&shared), Arc::clone(&settings));
                let serving = connection::serve(accepted, app, shared, settings, registered);
                connections.spawn(serving.in_current_span());
            }
            Err(err) if err.kind() == std::io::ErrorKind::ConnectionAborted => continue,
            // The socket was shut down for the final stop: nothing more to accept.
            Err(err) if err.raw_os_error() == Some(libc::EINVAL) => break,
            Err(err) => {
                // Out of descriptors, say: retrying at once would fail again. One line
                // a second at most, however long it lasts.
                if last_warning.is_none_or(|at| at.elapsed() >= ACCEPT_WARNING_EVERY) {
                    tracing::warn!(
                        error = %err,
                        connections = shared.clients.count(),
                        "accept failed; pausing"
                    );
                    last_warning = Some(tokio::time::Instant::now());
                }
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        }
        // One connection a turn: the new connection's task runs before the next accept,
        // which leaves queued clients to the sibling worker processes that share the
        // socket instead of one worker taking a whole burst.
        tokio::task::yield_now().await;
    }
    shared.draining.store(true, Ordering::Relaxed);
    // This process stops accepting; the socket lives on in the others that share it.
    drop(accepting);
    connections.close();
    connections.wait().await;
}
