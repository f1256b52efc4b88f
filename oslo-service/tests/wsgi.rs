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

/// Answers with what it read of its request body, frame by frame (`5,7`, a trailer,
/// the error met), and says when it was called.
#[derive(Clone)]
struct Frames {
    called: std::sync::Arc<tokio::sync::Notify>,
}

impl tower_service::Service<Request<Body>> for Frames {
    type Response = Response<String>;
    type Error = std::convert::Infallible;
    type Future = std::pin::Pin<
        Box<dyn Future<Output = Result<Response<String>, std::convert::Infallible>> + Send>,
    >;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<Body>) -> Self::Future {
        use http_body_util::BodyExt;
        self.called.notify_one();
        Box::pin(async move {
            let mut body = request.into_body();
            let mut seen = Vec::new();
            while let Some(frame) = body.frame().await {
                match frame.map(http_body::Frame::into_data) {
                    Ok(Ok(data)) => seen.push(data.len().to_string()),
                    Ok(Err(trailers)) => {
                        let trailers = trailers.into_trailers().unwrap_or_default();
                        seen.push(format!("{trailers:?}"));
                    }
                    Err(error) => {
                        seen.push(format!("error: {error}"));
                        break;
                    }
                }
            }
            Ok(Response::new(seen.join(",")))
        })
    }
}

/// The body part of an answer read to its end.
fn answered(answer: &str) -> &str {
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    answer.split_once("\r\n\r\n").unwrap().1
}

/// The request body is read before the application is called and before it takes a
/// turn in the pool: whole when it ends within `client_body_buffer_size`, its first
/// bytes otherwise (the rest read as the application asks); trailers and an error met
/// on the way reach the application as they came. A stop closes a connection whose body
/// is still being gathered.
#[tokio::test]
async fn a_body_is_gathered_before_its_turn_up_to_client_body_buffer_size() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bodies.sock");
    let called = std::sync::Arc::new(tokio::sync::Notify::new());
    let app = Frames {
        called: std::sync::Arc::clone(&called),
    };
    let server = Server::builder("bodies", app)
        .unix_socket(&path, 0o600)
        .pool_size(1)
        .max_body_size(1500)
        .bind()
        .unwrap();
    // A stalled body is cut by client_body_min_rate only after a minute.
    let conf = "[DEFAULT]\nclient_body_buffer_size = 1024\nclient_header_timeout = 60\n";
    let mut harness = Harness::new(server, conf, &[]).unwrap();
    harness.start().await.unwrap();
    let hang = Duration::from_secs(30);

    // Larger than the buffer: the application is called once 1024 bytes are in, and
    // reads the rest, sent only then.
    let mut large = UnixStream::connect(&path).await.unwrap();
    large
        .write_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 1400\r\n\r\n",
        )
        .await
        .unwrap();
    large.write_all(&[b'a'; 1100]).await.unwrap();
    tokio::time::timeout(hang, called.notified())
        .await
        .expect("the application was not called with 1100 bytes of 1400 in");
    large.write_all(&[b'b'; 300]).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(hang, large.read_to_string(&mut answer))
        .await
        .expect("no answer")
        .unwrap();
    let sizes: Vec<usize> = answered(&answer)
        .split(',')
        .map(|size| size.parse().unwrap())
        .collect();
    assert!(sizes[0] >= 1024, "{sizes:?}");
    assert_eq!(sizes.iter().sum::<usize>(), 1400, "{sizes:?}");

    // A body that does not come holds its connection only: with a pool of one, another
    // request is served meanwhile.
    let mut stalled = UnixStream::connect(&path).await.unwrap();
    stalled
        .write_all(b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 100\r\n\r\nfirst")
        .await
        .unwrap();
    let answer = exchange(
        &path,
        "GET / HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(answered(&answer), "");

    // Within the buffer, in pieces: one frame, from memory.
    let mut small = UnixStream::connect(&path).await.unwrap();
    small
        .write_all(
            b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 12\r\n\r\nhello",
        )
        .await
        .unwrap();
    tokio::task::yield_now().await;
    small.write_all(b" world!").await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(hang, small.read_to_string(&mut answer))
        .await
        .expect("no answer")
        .unwrap();
    assert_eq!(answered(&answer), "12");

    // Chunks and a trailer: the data whole, then the trailer.
    let answer = exchange(
        &path,
        "POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n7\r\n world!\r\n0\r\nx-sum: 12\r\n\r\n",
    )
    .await;
    assert_eq!(answered(&answer), r#"12,{"x-sum": "12"}"#);

    // Past max_body_size while gathered, no length announced: what came, then the error.
    let chunk = "a".repeat(1000);
    let answer = exchange(
        &path,
        &format!(
            "POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n3e8\r\n{chunk}\r\n3e8\r\n{chunk}\r\n0\r\n\r\n"
        ),
    )
    .await;
    assert_eq!(
        answered(&answer),
        "1000,error: the request body is larger than 1500 bytes"
    );
    // A stop does not wait for a body that does not come: no request is being served
    // on its connection, closed after the drain's second.
    assert!(harness.stop(Duration::from_secs(30)).await);
    let mut rest = Vec::new();
    tokio::time::timeout(hang, stalled.read_to_end(&mut rest))
        .await
        .expect("the stalled connection is still open")
        .unwrap();
    assert!(rest.is_empty(), "{}", String::from_utf8_lossy(&rest));
}
