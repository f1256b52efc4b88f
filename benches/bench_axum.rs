//! Plain axum in one process with no framework, what a Rust user would write instead of
//! oslo-service: the baseline benches/http.sh compares `bench_http` with. Answers
//! `GET /` with `ok` and prints `port <n>`.

use axum::Router;
use axum::routing::get;

#[tokio::main]
async fn main() {
    let app = Router::new().route("/", get(|| async { "ok" }));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("port {}", listener.local_addr().expect("address").port());
    axum::serve(listener, app).await.expect("serve");
}
