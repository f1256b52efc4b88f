//! A collector that takes every OTLP/HTTP export and keeps nothing, for the traced rows
//! of benches/http.sh: what the traced server pays is its own work, not a slow
//! collector's. Answers `POST /v1/traces` with 200 once the body is read, `GET /stats`
//! with the exports and bytes taken so far, and prints `port <n>`. A body is counted as
//! it arrives, not gathered: gathering a few hundred kB per export made the sink, which
//! shares the 2 cores with the server, cost more than the spans it was there to take.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use futures_util::StreamExt;

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
            post(|State(taken): State<Arc<Taken>>, body: Body| async move {
                let mut chunks = body.into_data_stream();
                let mut len = 0;
                while let Some(chunk) = chunks.next().await {
                    match chunk {
                        Ok(chunk) => len += chunk.len() as u64,
                        Err(_) => return Err(StatusCode::BAD_REQUEST),
                    }
                }
                taken.exports.fetch_add(1, Ordering::Relaxed);
                taken.bytes.fetch_add(len, Ordering::Relaxed);
                Ok("")
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
