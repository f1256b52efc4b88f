//! A collector that takes every OTLP/HTTP export and keeps nothing, for the traced rows
//! of benches/http.sh: what the traced server pays is its own work, not a slow
//! collector's. Answers `POST /v1/traces` with 200 once the body is read, `GET /stats`
//! with the exports and bytes taken so far, and prints `port <n>`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::{get, post};

#[derive(Default)]
struct Taken {
    exports: AtomicU64,
    bytes: AtomicU64,
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let app = Router::new()
        .route(
            "/v1/traces",
            post(|State(taken): State<Arc<Taken>>, body: Bytes| async move {
                taken.exports.fetch_add(1, Ordering::Relaxed);
                taken.bytes.fetch_add(body.len() as u64, Ordering::Relaxed);
                ""
            }),
        )
        .route(
            "/stats",
            get(|State(taken): State<Arc<Taken>>| async move {
                format!(
                    "{} {}\n",
                    taken.exports.load(Ordering::Relaxed),
                    taken.bytes.load(Ordering::Relaxed)
                )
            }),
        )
        .with_state(Arc::new(Taken::default()));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    println!("port {}", listener.local_addr().expect("address").port());
    axum::serve(listener, app).await.expect("serve");
}
