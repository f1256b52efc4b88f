//! The HTTP server in process, through the test harness: a UNIX socket with its mode,
//! an application's errors as 500s, the access log, and a stop that waits for the
//! request in flight. (The worker-process and option behaviour runs against the `api`
//! example, in the root package's tests/api.rs.)

use std::future::Ready;
use std::os::unix::fs::PermissionsExt;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use oslo::testing::Harness;
use oslo::wsgi::{Body, Server};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::UnixStream;

/// Sends one request and reads until the server closes: the whole answer.
async fn exchange(path: &std::path::Path, request: &str) -> String {
    let mut stream = UnixStream::connect(path).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(30), stream.read_to_string(&mut answer))
        .await
        .expect("no answer")
        .unwrap();
    answer
}

#[tokio::test]
async fn serves_an_axum_router_on_a_unix_socket_with_its_mode() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("api.sock");
    let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    let server = Server::builder("unix-api", app)
        .unix_socket(&path, 0o600)
        .bind()
        .unwrap();
    assert_eq!(server.socket_path(), Some(path.as_path()));
    assert_eq!(server.local_addr(), None);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    let mut harness = Harness::new(server, "", &[]).unwrap();
    harness.start().await.unwrap();
    let answer = exchange(
        &path,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("\r\n\r\nhello"), "{answer}");
    // A UNIX socket's client has no address: `-`.
    assert_eq!(
        harness
            .logs()
            .lines_with(&["- \"GET / HTTP/1.1\" status: 200  len: 5 time: "]),
        1
    );
    assert!(harness.stop(Duration::from_secs(30)).await);
}

/// A tower service that fails every request with an error and its cause.
#[derive(Clone)]
struct Failing;

#[derive(Debug, thiserror::Error)]
#[error("cannot reach the database")]
struct Unreachable(#[source] std::io::Error);

impl tower_service::Service<Request<Body>> for Failing {
    type Response = Response<String>;
    type Error = Unreachable;
    type Future = Ready<Result<Response<String>, Unreachable>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Unreachable>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _request: Request<Body>) -> Self::Future {
        std::future::ready(Err(Unreachable(std::io::Error::other(
            "connection refused",
        ))))
    }
}

#[tokio::test]
async fn an_application_error_is_a_500_with_its_causes_under_wsgi_server_debug() {
    let dir = tempfile::tempdir().unwrap();
    for (debug, body) in [
        (false, ""),
        (true, "cannot reach the database: connection refused"),
    ] {
        let path = dir.path().join(format!("debug-{debug}.sock"));
        let server = Server::builder(format!("failing-{debug}"), Failing)
            .unix_socket(&path, 0o600)
            .bind()
            .unwrap();
        let conf = format!("[DEFAULT]\nwsgi_server_debug = {debug}\n");
        let mut harness = Harness::new(server, &conf, &[]).unwrap();
        harness.start().await.unwrap();
        let answer = exchange(
            &path,
            "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
        )
        .await;
        assert!(
            answer.starts_with("HTTP/1.1 500 Internal Server Error\r\n"),
            "{answer}"
        );
        let (_, sent) = answer.split_once("\r\n\r\n").unwrap();
        assert_eq!(sent, body);
        assert_eq!(
            harness.logs().lines_with(&[
                "the application failed a request",
                "cannot reach the database: connection refused"
            ]),
            1
        );
        assert!(harness.stop(Duration::from_secs(30)).await);
    }
}

#[tokio::test]
async fn stop_waits_for_the_request_in_flight_and_closes_its_connection() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("slow.sock");
    let (started_tx, started_rx) = tokio::sync::oneshot::channel::<()>();
    let started_tx = std::sync::Arc::new(std::sync::Mutex::new(Some(started_tx)));
    let app = axum::Router::new().route(
        "/",
        axum::routing::get(move || {
            let started = started_tx.lock().unwrap().take();
            async move {
                if let Some(started) = started {
                    let _ = started.send(());
                }
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }
        }),
    );
    let server = Server::builder("slow", app)
        .unix_socket(&path, 0o600)
        .bind()
        .unwrap();
    let mut harness = Harness::new(server, "", &[]).unwrap();
    harness.start().await.unwrap();
    let client = tokio::spawn({
        let path = path.clone();
        async move { exchange(&path, "GET / HTTP/1.1\r\nHost: t\r\n\r\n").await }
    });
    started_rx.await.unwrap();
    // Stopped while the request runs: it is answered, with Connection: close, and the
    // server closes (the client reads to the end) before stop returns.
    assert!(harness.stop(Duration::from_secs(30)).await);
    let answer = client.await.unwrap();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(
        answer
            .to_ascii_lowercase()
            .contains("\r\nconnection: close\r\n"),
        "{answer}"
    );
    assert!(answer.ends_with("done"), "{answer}");
}
