//! The server benches/http.sh measures: `oslo::wsgi::Server` in `[bench] workers`
//! worker processes (default 2; 1 serves in process), answering `GET /` with `ok`, as
//! `bench_axum` does in one plain process. Prints `port <n>` once bound.

use axum::Router;
use axum::routing::get;

// A worker's share of 2 cores is one thread; on the multi-threaded scheduler (rather
// than the current-thread one a worker gets by default) the tail latency under load
// is about half as long: see "The tokio runtime" in docs/launchers.md.
#[oslo::main(flavor = "multi_thread", worker_threads = 1)]
async fn main(conf: oslo::Config) -> oslo::Result<()> {
    let app = Router::new().route("/", get(|| async { "ok" }));
    let server = oslo::wsgi::Server::builder("bench", app)
        .host("127.0.0.1")
        // 0, any free port, unless benches/upgrade.sh restarts it on the port it had.
        .port(conf.get_or("bench", "port", 0_u16)?)
        .bind()?;
    if oslo::launcher::current_worker().is_none() {
        if let Some(addr) = server.local_addr() {
            println!("port {}", addr.port());
        }
    }
    let workers = conf.get_or("bench", "workers", 2_usize)?;
    oslo::launch(conf, server, workers).await
}
