//! [`Stopping`]: the server's stop, as the application sees it, for what outlives a
//! response (a WebSocket, a long stream).

use tokio_util::sync::CancellationToken;

/// Tells a handler that its server is stopping (SIGTERM, a reload, an upgrade, a worker
/// recycled at `max_requests`), so that what it holds open can end cleanly: a WebSocket
/// sends its Close frame (1001, going away), a long stream finishes.
///
/// Every request carries one in its extensions; an axum handler takes it with
/// `Extension<Stopping>`. Once the response is written, the server cannot end what
/// the application does with the connection without cutting it: after an upgrade the
/// socket is the application's. A stop waits for an upgraded connection as for a
/// request being served, until the application drops it or the launcher's
/// `graceful_shutdown_timeout` ends the process; listening here is how it ends well
/// before then.
///
/// A WebSocket handler moves it into its task (`GET /v1/echo` in examples/api.rs); a
/// long poll answers early:
///
/// ```
/// use axum::Extension;
/// use oslo::wsgi::Stopping;
///
/// async fn changes(Extension(stopping): Extension<Stopping>) -> &'static str {
///     tokio::select! {
///         () = tokio::time::sleep(std::time::Duration::from_secs(30)) => "nothing new",
///         () = stopping.cancelled() => "stopping: ask again",
///     }
/// }
///
/// let app: axum::Router = axum::Router::new().route("/changes", axum::routing::get(changes));
/// ```
#[derive(Clone, Debug)]
pub struct Stopping {
    token: CancellationToken,
}

impl Stopping {
    pub(super) fn new(token: CancellationToken) -> Self {
        Stopping { token }
    }

    /// Returns once the server is stopping; at once if it already is.
    pub async fn cancelled(&self) {
        self.token.cancelled().await;
    }

    /// Owns what it waits on, for a task that outlives the handler.
    pub async fn cancelled_owned(self) {
        self.token.cancelled_owned().await;
    }

    /// Whether the server is stopping: a new WebSocket accepted now is best closed at
    /// once.
    pub fn is_cancelled(&self) -> bool {
        self.token.is_cancelled()
    }
}
