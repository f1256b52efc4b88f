//! `api`: an HTTP API in worker processes that share one port, served by
//! [`oslo::wsgi::Server`] from an axum `Router`.
//!
//! ```text
//! cargo run --bin api -- --config-file examples/api.conf
//! curl -s http://127.0.0.1:8780/                 # the versions document
//! curl -s http://127.0.0.1:8780/v1/whoami        # which worker answered, and its build
//! curl -s -X POST -d '{"name":"web-1"}' -H 'Content-Type: application/json' \
//!      http://127.0.0.1:8780/v1/servers          # 201 and the new server
//! websocat ws://127.0.0.1:8780/v1/echo           # a WebSocket: each text frame back
//! kill -HUP <pid>    # reload: new workers first, then the old ones drain
//! kill -USR2 <pid>   # upgrade: the executable now on disk takes over, the old drains
//! kill -TERM <pid>   # graceful stop: requests in flight finish
//! ```
//!
//! Its `[api]` options say where it listens and with how many workers; the `[DEFAULT]`
//! wsgi options (`wsgi_default_pool_size`, `client_socket_timeout`, …) tune the server.
//! With `paste_app = api` it serves the pipeline of `api_paste_config`
//! (examples/api-paste.ini: the health check, a request-id filter, the routes); with
//! `[ssl] cert_file` and `key_file` it serves TLS.
//! `debug_routes` adds `/debug/sleep/{ms}`, `/debug/block/{ms}` (blocks the worker's
//! thread), `/debug/panic`, `/debug/upload`, `/debug/bytes/{n}`, `/debug/read/{path}`
//! (whether the worker can read a file, as `[DEFAULT] user` lets it), `/debug/orphan`
//! (a background `sleep` left to the namespace's init) and `POST /debug/allocate/{mb}`
//! (the worker keeps that much more memory, touched, for `max_worker_memory`), for
//! trying the server's limits, the heartbeat, recycling, the graceful stop, the
//! workers' user and PID 1 with curl.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::Extension;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade, close_code};
use axum::extract::{Path, State};
use axum::http::header::{HeaderName, HeaderValue};
use axum::http::{Request, Response, StatusCode};
use axum::response::Response as AxumResponse;
use axum::routing::{get, post};
use axum::{Json, Router};
use oslo::config::Port;
use oslo::wsgi::paste::{App, Paste};
use oslo::wsgi::{Body, Stopping};

#[oslo::options(group = "api", namespace = "api")]
struct ApiOpts {
    /// Address the API listens on.
    #[opt(default = "127.0.0.1")]
    host: String,
    /// TCP port; 0 takes any free port (logged at start).
    #[opt(default = 8780)]
    port: Port,
    /// Worker processes; 1 serves in the launcher's own process.
    #[opt(default = 4, min = 1, max = 64)]
    workers: i64,
    /// Routes for trying the server's limits: /debug/sleep/{ms}, /debug/block/{ms},
    /// /debug/panic, /debug/upload, /debug/bytes/{n}, /debug/allocate/{mb}.
    #[opt(default = false)]
    debug_routes: bool,
    /// The app to serve from the paste file `api_paste_config` (such as `api`, in
    /// examples/api-paste.ini); unset serves the routes alone.
    #[opt()]
    paste_app: Option<String>,
    /// While this file exists, the readiness probe (/health/ready, with the health
    /// probes enabled) fails: the host is taken out of its load balancer, and its
    /// workers serve on.
    #[opt()]
    maintenance_file: Option<String>,
}

/// What examples/api-paste.ini can name: the routes, the request-id filter, and the
/// built-in health check (`oslo_middleware:Healthcheck.factory`).
fn paste(debug_routes: bool) -> Paste {
    Paste::new()
        .app("api:app_factory", move |_local| {
            Ok::<_, oslo::Error>(app(debug_routes))
        })
        .filter("api:RequestId.factory", |local| {
            let header = local
                .get("header")
                .unwrap_or("x-openstack-request-id")
                .to_owned();
            let header = HeaderName::try_from(header).map_err(oslo::Error::other)?;
            Ok::<_, oslo::Error>(RequestIdLayer { header })
        })
}

/// Tags every response with a new request id, as oslo.middleware's `request_id` does.
#[derive(Clone)]
struct RequestIdLayer {
    header: HeaderName,
}

impl<S> tower_layer::Layer<S> for RequestIdLayer {
    type Service = RequestId<S>;

    fn layer(&self, inner: S) -> RequestId<S> {
        RequestId {
            header: self.header.clone(),
            inner,
        }
    }
}

#[derive(Clone)]
struct RequestId<S> {
    header: HeaderName,
    inner: S,
}

impl<S, B> tower_service::Service<Request<Body>> for RequestId<S>
where
    S: tower_service::Service<Request<Body>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response<B>;
    type Error = S::Error;
    type Future = oslo::BoxFuture<'static, Result<Response<B>, S::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        let answered = self.inner.call(request);
        let header = self.header.clone();
        Box::pin(async move {
            let mut response = answered.await?;
            let id = format!("req-{:032x}", fastrand::u128(..));
            if let Ok(value) = HeaderValue::from_str(&id) {
                response.headers_mut().insert(header, value);
            }
            Ok(response)
        })
    }
}

/// What the handlers share within one worker.
#[derive(Clone, Default)]
struct AppState {
    /// Ids of the servers this worker created; each worker counts on its own.
    next_id: Arc<AtomicU64>,
}

#[derive(serde::Deserialize)]
struct NewServer {
    name: String,
}

fn app(debug_routes: bool) -> Router {
    let mut routes = Router::new()
        .route("/", get(versions))
        .route("/v1/whoami", get(whoami))
        .route("/v1/servers", post(create_server))
        .route("/v1/echo", get(echo));
    if debug_routes {
        routes = routes
            .route("/debug/sleep/{ms}", get(sleep))
            .route("/debug/block/{ms}", get(block))
            .route("/debug/panic", get(panics))
            .route("/debug/upload", post(upload))
            .route("/debug/bytes/{n}", get(bytes))
            .route("/debug/read/{*path}", get(read_file))
            .route("/debug/orphan", get(orphan))
            .route("/debug/allocate/{mb}", post(allocate));
    }
    routes.with_state(AppState::default())
}

async fn versions() -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "versions": [{ "id": "v1", "status": "CURRENT", "links": [{ "rel": "self", "href": "/v1" }] }]
    }))
}

/// Which process answered, and who it believes asked: the client's address, scheme
/// and host, as a trusted proxy gave them with `[oslo_middleware]
/// enable_proxy_headers_parsing`, or as the connection shows them.
async fn whoami(
    Extension(client): Extension<oslo::wsgi::ClientInfo>,
    headers: axum::http::HeaderMap,
) -> Json<serde_json::Value> {
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|host| host.to_str().ok());
    Json(serde_json::json!({
        "pid": std::process::id(),
        "worker": oslo::launcher::current_worker().map(|worker| worker.index()),
        "build": build(),
        "client": client.addr().map(|addr| addr.to_string()),
        "scheme": client.scheme().as_str(),
        "host": host,
        "proxy": client.proxy().map(|addr| addr.to_string()),
    }))
}

/// The build this process runs: the size and modification time of its executable (the
/// very file it was started from, even once another took its name), so that an
/// upgrade to a new build shows in the answers.
fn build() -> &'static str {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    BUILD.get_or_init(|| match std::fs::metadata("/proc/self/exe") {
        Ok(meta) => {
            let modified = meta
                .modified()
                .ok()
                .and_then(|at| at.duration_since(std::time::UNIX_EPOCH).ok())
                .unwrap_or_default();
            format!("{}-{}", meta.len(), modified.as_nanos())
        }
        Err(_) => "unknown".to_owned(),
    })
}

async fn create_server(
    State(state): State<AppState>,
    Json(new): Json<NewServer>,
) -> (StatusCode, Json<serde_json::Value>) {
    let id = state.next_id.fetch_add(1, Ordering::Relaxed) + 1;
    let server = serde_json::json!({ "server": { "id": id, "name": new.name, "status": "BUILD" } });
    (StatusCode::CREATED, Json(server))
}

/// How long a stopping WebSocket waits for its client's answering Close.
const CLOSE_ANSWER: Duration = Duration::from_secs(5);

/// How long a WebSocket may be silent: the server sets no read deadline on it, and a
/// crowd of silent ones would hold every place under `wsgi_max_connections`.
const ECHO_IDLE: Duration = Duration::from_secs(900);

/// A WebSocket that sends each text frame back. When the server stops (SIGTERM, a
/// reload, an upgrade, a worker recycled), it says so with a Close frame, 1001 (going
/// away), and ends: the client knows to connect again, and the stop need not wait for
/// it. One silent for [`ECHO_IDLE`] is closed the same way.
async fn echo(upgrade: WebSocketUpgrade, Extension(stopping): Extension<Stopping>) -> AxumResponse {
    upgrade.on_upgrade(move |socket| echo_frames(socket, stopping))
}

async fn echo_frames(mut socket: WebSocket, stopping: Stopping) {
    let reason = loop {
        let message = tokio::select! {
            message = tokio::time::timeout(ECHO_IDLE, socket.recv()) => match message {
                Ok(message) => message,
                Err(_silent) => break "idle",
            },
            () = stopping.cancelled() => break "server stopping",
        };
        match message {
            Some(Ok(Message::Text(text))) => {
                if socket.send(Message::Text(text)).await.is_err() {
                    return;
                }
            }
            // Pings are answered by the library; a Close is answered as it is read.
            Some(Ok(_)) => {}
            Some(Err(_)) | None => return,
        }
    };
    let close = CloseFrame {
        code: close_code::AWAY,
        reason: reason.into(),
    };
    if socket.send(Message::Close(Some(close))).await.is_err() {
        return;
    }
    // The client's Close ends it; one that does not answer holds the stop no longer.
    let answered = async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(CLOSE_ANSWER, answered).await;
}

async fn sleep(Path(ms): Path<u64>) -> String {
    tracing::info!(ms, "sleep started");
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("slept {ms} ms\n")
}

/// Blocks the worker's thread (a handler that calls a blocking function): its runtime
/// answers nothing, not even its parent's heartbeat, for `ms` (at most an hour).
async fn block(Path(ms): Path<u64>) -> String {
    tracing::info!(ms, "blocking the worker's thread");
    std::thread::sleep(Duration::from_millis(ms.min(3_600_000)));
    format!("blocked {ms} ms\n")
}

async fn panics() -> &'static str {
    panic!("the /debug/panic route")
}

/// `n` bytes (at most 256 MiB) of `x`.
async fn bytes(Path(n): Path<usize>) -> Vec<u8> {
    vec![b'x'; n.min(256 << 20)]
}

/// Whether this worker can read the file at `/path` (as `[DEFAULT] user` makes it):
/// its size, or the error, never its contents.
async fn read_file(Path(path): Path<String>) -> (StatusCode, String) {
    match std::fs::read(format!("/{path}")) {
        Ok(bytes) => (StatusCode::OK, format!("read {} bytes\n", bytes.len())),
        Err(err) => (
            StatusCode::FORBIDDEN,
            format!("cannot read /{path}: {err}\n"),
        ),
    }
}

/// Leaves an orphan behind: a shell that starts `sleep 600` in the background and
/// exits at once, so that the sleep is adopted by the init of the namespace (PID 1 in
/// a container). Its pid, as this namespace numbers it.
async fn orphan() -> (StatusCode, String) {
    let run = std::process::Command::new("sh")
        .args(["-c", "sleep 600 >/dev/null 2>&1 </dev/null & echo $!"])
        .output();
    match run {
        Ok(out) if out.status.success() => (
            StatusCode::OK,
            String::from_utf8_lossy(&out.stdout).into_owned(),
        ),
        Ok(out) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("{}\n", out.status),
        ),
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")),
    }
}

/// What `/debug/allocate` keeps: the memory stays with the worker until it exits.
static KEPT: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

/// Keeps `mb` MiB more (at most 1 GiB a call), every page written so that it counts
/// in the worker's resident set; says which process keeps it.
async fn allocate(Path(mb): Path<usize>) -> String {
    let mb = mb.min(1024);
    let block = vec![1u8; mb << 20];
    let mut kept = KEPT.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    kept.push(block);
    let total: usize = kept.iter().map(Vec::len).sum();
    format!("pid {} keeps {} MiB\n", std::process::id(), total >> 20)
}

async fn upload(body: axum::body::Bytes) -> String {
    format!("received {} bytes\n", body.len())
}

// One thread per worker, on the multi-threaded scheduler: under load its tail latency
// is shorter than the current-thread one's (benches/http.sh).
#[oslo::main(options = [ApiOpts], flavor = "multi_thread", worker_threads = 1)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let opts = conf.group::<ApiOpts>()?;
    // Bound here, where the parent and every worker pass: the parent binds (and logs
    // the address), each worker serves on the parent's socket.
    let app = match &opts.paste_app {
        Some(name) => paste(opts.debug_routes).load(&conf, name)?,
        None => App::new(app(opts.debug_routes)),
    };
    let server = oslo::wsgi::Server::builder("api", app)
        // Read again at each SIGHUP: a moved [api] host or port is bound by the parent
        // for the new workers, and the old one closed once they serve.
        .follow_address(&conf, |values| {
            let opts = values.group::<ApiOpts>()?;
            Ok((opts.host.clone(), opts.port.get()))
        })
        // TLS when [ssl] names a certificate and key.
        .use_ssl(&conf)
        // As axum's own default: a larger announced body is refused before it is read.
        .max_body_size(2 * 1024 * 1024)
        .bind()?;
    if let Some(path) = opts.maintenance_file.clone() {
        // Run by the launcher's top process when a readiness probe asks.
        oslo::health::register(
            oslo::health::Check::new("maintenance", move || {
                let path = path.clone();
                async move {
                    match std::path::Path::new(&path).exists() {
                        true => Err(format!("{path} exists")),
                        false => Ok(()),
                    }
                }
            })
            .cache_for(Duration::ZERO),
        );
    }
    let workers = usize::try_from(opts.workers).unwrap_or(1);
    oslo::launch(conf, server, workers).await
}
